package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/internal/e2eframework"
)

// retryable reports whether a failed call's output names only a code a
// client is meant to retry.
func retryable(out string) bool {
	for _, c := range []string{"unavailable", "timeout", "not_leader"} {
		if strings.Contains(out, c) {
			return true
		}
	}
	return false
}

// TestRestartUnderLiveAgent: one node, an agent holding a lease, kill -9 of
// tallyd and a restart on the same data dir while the agent runs. A
// restarted node used to answer from a ledger still replaying its log: the
// agent was told not_enrolled and dropped its lease, administrators got
// 401. Now the agent never drops the lease, and every call made meanwhile
// (agent checkouts that reach the server, admin reads) either succeeds or
// fails with a retryable code.
func TestRestartUnderLiveAgent(t *testing.T) {
	s := startServer(t, "--lease-ttl", "30s") // a slow restart under load must not expire the lease
	tok := s.setupAccount("acme", "cad", 1)
	s.mustCtl("pools", "set-seats", "acme", "cam", "1")
	a := startAgent(t, s, "a", tok)
	a.mustCheckout("cad")
	before := s.leases()
	if len(before) != 1 {
		t.Fatalf("%d leases before the restart, want 1", len(before))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	var adminOK, admin503, camTries int
	note := func(format string, args ...any) {
		mu.Lock()
		bad = append(bad, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Admin reads all through the restart: only connection errors and 503
	// unavailable are acceptable.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var ls []adminapi.LeaseView
			err := s.api(http.MethodGet, "/v1/leases", nil, &ls)
			var ue *url.Error
			switch {
			case err == nil:
				mu.Lock()
				adminOK++
				mu.Unlock()
				if len(ls) == 0 {
					note("GET /v1/leases answered an empty list")
				}
			case errors.As(err, &ue):
			case strings.Contains(err.Error(), ": 503 unavailable:"):
				mu.Lock()
				admin503++
				mu.Unlock()
			default:
				note("admin call: %v", err)
			}
		}
	}()

	s.proc.kill9()
	// Checkouts of a second feature reach the server while it restarts.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := runE(nil, bin("tally-agent"), "checkout", "cam", "--socket", a.socket)
			if err != nil {
				note("checkout cam: %v", err)
				return
			}
			mu.Lock()
			camTries++
			mu.Unlock()
			if r.code == 0 {
				return
			}
			if !retryable(r.stderr) {
				note("checkout cam failed with a code that is not retryable: %s", r.stderr)
			}
		}
	}()
	s.start()
	eventually(t, 60*time.Second, "the agent takes the second seat after the restart", func() error {
		var ls []adminapi.LeaseView
		if err := s.api(http.MethodGet, "/v1/leases", nil, &ls); err != nil {
			return err
		}
		if len(ls) != 2 {
			return fmt.Errorf("%d leases", len(ls))
		}
		return nil
	})
	// A few heartbeats against the restarted node.
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	for _, b := range bad {
		t.Error(b)
	}
	out := a.proc.out.String()
	for _, never := range []string{"not_enrolled", "refuses this device", "lease lost", "refused this device"} {
		if strings.Contains(out, never) {
			t.Errorf("the agent's log says %q during a server restart", never)
		}
	}
	st := a.status()
	if st.Problem != "" || len(st.Leases) != 2 {
		t.Errorf("agent status after the restart: problem %q, %d leases (want none, 2)", st.Problem, len(st.Leases))
	}
	var cadKept bool
	for _, l := range s.leases() {
		if l.ID == before[0].ID {
			cadKept = true
		}
	}
	if !cadKept {
		t.Errorf("lease %d on cad is gone after the restart", before[0].ID)
	}
	t.Logf("admin reads during the restart: %d answered, %d refused 503; %d checkout attempts", adminOK, admin503, camTries)
}

// TestDevRestartsOnItsData runs `tallyd dev` twice on one data dir, the way
// `make run` twice does: the second run reuses the demo account, prints the
// next steps again and keeps the local agent's identity.
func TestDevRestartsOnItsData(t *testing.T) {
	dir := t.TempDir()
	ports := []string{"--agent-addr", e2eframework.FreeAddr(t, "udp"), "--admin-addr", e2eframework.FreeAddr(t, "tcp"), "--raft-addr", e2eframework.FreeAddr(t, "tcp"), "--raft-timeout", "200ms"}
	var codes []string
	for round := 1; round <= 2; round++ {
		p := startProc(t, fmt.Sprintf("tallyd dev (run %d)", round), nil, append([]string{bin("tallyd"), "dev", "--data", dir}, ports...)...)
		var env []string
		eventually(t, 60*time.Second, "tallyd dev prints its next steps", func() error {
			if p.exited() {
				t.Fatalf("tallyd dev run %d exited:\n%s", round, p.out.String())
			}
			if !strings.Contains(p.out.String(), "tally-agent checkout countthings") {
				return os.ErrNotExist
			}
			var err error
			env, err = readEnvFile(filepath.Join(dir, "tally.env"))
			return err
		})
		var st agentStatus
		eventually(t, 30*time.Second, "the local agent is enrolled", func() error {
			r := run(t, env, bin("tally-agent"), "status", "--json")
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				return fmt.Errorf("agent status: %v: %s%s", err, r.stdout, r.stderr)
			}
			if !st.Enrolled || st.DeviceCode == "" {
				return fmt.Errorf("not enrolled yet")
			}
			return nil
		})
		if r := run(t, env, bin("tallyctl"), "pools", "list", "demo"); r.code != 0 || !strings.Contains(r.stdout, "countthings") {
			t.Fatalf("tallyctl pools list demo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		codes = append(codes, st.DeviceCode)
		if r := run(t, env, bin("tallyctl"), "accounts", "list"); r.code != 0 || strings.Count(r.stdout, "demo") < 1 {
			t.Fatalf("tallyctl accounts list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		p.term(t) // Ctrl-C
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("tallyd dev run %d exited %d:\n%s", round, code, tail(p.out.String(), 30))
		}
		if round == 2 && strings.Contains(p.out.String(), "already_exists") {
			t.Fatalf("the second run tried to create the demo again:\n%s", tail(p.out.String(), 30))
		}
	}
	if codes[0] != codes[1] {
		t.Fatalf("the local agent's Device Code changed across runs: %s then %s", codes[0], codes[1])
	}
}

// restartServe starts a stopped node again with `tallyd serve` on its data
// dir and ports, without waiting for it: a node of a cluster restarted
// alone cannot become ready until a majority is back.
func restartServe(t *testing.T, s *server) {
	t.Helper()
	args := []string{bin("tallyd"), "serve", "--data", s.dir, "--agent-addr", s.agentAddr, "--admin-addr", s.adminAddr,
		"--raft-addr", s.raftAddr, "--log-level", "debug"}
	args = append(append(args, testSettings...), s.extra...)
	s.proc = startProc(t, "tallyd (restarted) "+s.nodeID, nil, args...)
}

// TestClusterRestartedWithoutQuorumRefusesRetryably: every node of a
// cluster is killed; one comes back alone. It knows no leader and cannot
// know what was committed, so it answers administrators 503 unavailable
// (never an empty list or "token not valid") and agents unavailable (never
// not_enrolled), until the others are back; then it serves the ledger.
func TestClusterRestartedWithoutQuorumRefusesRetryably(t *testing.T) {
	nodes := startCluster(t, 3)
	leader, followers := leaderAndFollowers(t, nodes)
	tok := leader.setupAccount("acme", "cad", 2)
	a := startAgent(t, followers[0], "a", tok)
	a.mustCheckout("cad")
	for _, s := range nodes {
		s.proc.kill9()
	}
	alone := followers[0]
	restartServe(t, alone)
	answered := 0
	deadline := time.Now().Add(30 * time.Second)
	for answered < 20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		var accts []json.RawMessage
		err := alone.api(http.MethodGet, "/v1/accounts", nil, &accts)
		var ue *url.Error
		switch {
		case errors.As(err, &ue):
			continue // not listening yet
		case err == nil:
			t.Fatalf("a node without a leader served the ledger: %d accounts", len(accts))
		case !strings.Contains(err.Error(), ": 503 unavailable:"):
			t.Fatalf("a node without a leader refused an administrator with: %v", err)
		}
		answered++
	}
	if answered == 0 {
		t.Fatal("the restarted node never answered")
	}
	if code, body := alone.getPublic("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no Raft leader") {
		t.Fatalf("/readyz of a node alone: %d %s", code, body)
	}
	// An agent request that reaches the server gets a retryable refusal.
	if r := a.checkout("other"); r.code == 0 || !retryable(r.stderr) {
		t.Fatalf("a checkout at a node without a leader: exit %d %s", r.code, r.stderr)
	}
	for _, s := range nodes {
		if s != alone {
			restartServe(t, s)
		}
	}
	eventually(t, 60*time.Second, "the restarted cluster serves its ledger", func() error {
		var accts []struct{ ID string }
		if err := alone.api(http.MethodGet, "/v1/accounts", nil, &accts); err != nil {
			return err
		}
		if len(accts) != 1 || accts[0].ID != "acme" {
			return fmt.Errorf("accounts %+v", accts)
		}
		return nil
	})
	if out := a.proc.out.String(); strings.Contains(out, "not_enrolled") || strings.Contains(out, "refuses this device") {
		t.Fatalf("the agent was told its device is unknown during the restart:\n%s", tail(out, 40))
	}
}
