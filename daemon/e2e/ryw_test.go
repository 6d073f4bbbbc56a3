package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// leaderAndFollowers splits a cluster's nodes by their current role.
func leaderAndFollowers(t *testing.T, nodes []*server) (leader *server, followers []*server) {
	t.Helper()
	eventually(t, 30*time.Second, "every node knows the leader", func() error {
		leader, followers = nil, nil
		for _, s := range nodes {
			var st adminapi.StatusResponse
			if err := s.api(http.MethodGet, "/v1/status", nil, &st); err != nil {
				return err
			}
			if st.Node.State == "Leader" {
				leader = s
			} else {
				followers = append(followers, s)
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return leader, followers
}

// TestEnrollAtFollowerWithFreshToken: an enrollment token created through
// the leader, used a moment later at a follower. The follower used to check
// the token against its trailing copy and refuse it with
// enroll_token_invalid (5 tries in 5); it now catches up with the leader's
// commit index before deciding.
func TestEnrollAtFollowerWithFreshToken(t *testing.T) {
	nodes := startCluster(t, 3)
	leader, followers := leaderAndFollowers(t, nodes)
	leader.mustCtl("accounts", "create", "acme")
	leader.mustCtl("pools", "set-seats", "acme", "cad", "10")
	for i := 0; i < 5; i++ {
		tok := strings.TrimSpace(leader.mustCtl("enroll-tokens", "create", "acme", "--uses", "100"))
		f := followers[i%len(followers)]
		// startAgent fails the test if the agent exits (a refused
		// enrollment) before it is enrolled.
		a := startAgent(t, f, fmt.Sprintf("agent%d", i), tok)
		if out := a.proc.out.String(); strings.Contains(out, "enroll_token_invalid") {
			t.Fatalf("try %d: follower %s refused a fresh token:\n%s", i, f.nodeID, out)
		}
		a.proc.term(t)
	}
}

// TestWritesThroughFollowerReadTheirResult: `tallyctl accounts create`
// through a follower answered with an empty record (the follower read its
// copy before applying the write it had forwarded); a write now returns
// only once the forwarding node has applied it, and carries the index.
func TestWritesThroughFollowerReadTheirResult(t *testing.T) {
	nodes := startCluster(t, 3)
	_, followers := leaderAndFollowers(t, nodes)
	for i := 0; i < 5; i++ {
		f := followers[i%len(followers)]
		id := fmt.Sprintf("acct%d", i)
		var acct ledger.Account
		mustJSON(t, f.mustCtl("accounts", "create", id, "--json"), &acct)
		if acct.ID != id || acct.Model == "" {
			t.Fatalf("accounts create %s through follower %s answered %+v", id, f.nodeID, acct)
		}
		// The same node's list has it at once.
		if out := f.mustCtl("accounts", "list"); !strings.Contains(out, id) {
			t.Fatalf("follower %s does not list %s right after creating it:\n%s", f.nodeID, id, out)
		}
	}
}

// rawAdmin sends one admin request with extra headers and returns the
// status, headers and body.
func rawAdmin(t *testing.T, s *server, method, path string, body []byte, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "ca.pem"))
	if err != nil {
		pem, _ = os.ReadFile(s.caFile())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(method, "https://"+s.adminAddr+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.String()
}

// TestMinIndexWaitsThenRefuses: every answer carries the applied index; a
// request asking for an index the node has not applied waits (bounded) and
// then gets a retryable 503; one it has applied is served.
func TestMinIndexWaitsThenRefuses(t *testing.T) {
	s := startServer(t)
	code, h, body := rawAdmin(t, s, http.MethodPost, "/v1/accounts", []byte(`{"id":"acme"}`), nil)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	idx, err := strconv.ParseUint(h.Get(adminapi.HeaderAppliedIndex), 10, 64)
	if err != nil || idx == 0 {
		t.Fatalf("a write's answer carries no applied index: %q", h.Get(adminapi.HeaderAppliedIndex))
	}
	code, _, body = rawAdmin(t, s, http.MethodGet, "/v1/accounts/acme", nil, map[string]string{adminapi.HeaderMinIndex: fmt.Sprint(idx)})
	if code != http.StatusOK {
		t.Fatalf("read at the write's index: %d %s", code, body)
	}
	start := time.Now()
	code, h, body = rawAdmin(t, s, http.MethodGet, "/v1/accounts/acme", nil, map[string]string{adminapi.HeaderMinIndex: fmt.Sprint(idx + 1_000_000)})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") || h.Get("Retry-After") == "" {
		t.Fatalf("read at an index never reached: %d %v %s", code, h, body)
	}
	if waited := time.Since(start); waited < adminapi.MinIndexWait/2 {
		t.Fatalf("refused after %s without waiting", waited)
	}
	code, _, _ = rawAdmin(t, s, http.MethodGet, "/v1/accounts/acme", nil, map[string]string{adminapi.HeaderMinIndex: "soon"})
	if code != http.StatusBadRequest {
		t.Fatalf("a malformed %s: %d", adminapi.HeaderMinIndex, code)
	}
}
