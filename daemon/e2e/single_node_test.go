package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol/lease"
)

// fetchJWKS saves the cluster's JWKS with tallyctl and parses it.
func fetchJWKS(t *testing.T, s *server) (string, *lease.KeySet) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jwks.json")
	s.mustCtl("jwks", "-o", file)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := lease.ParseKeySet(raw)
	if err != nil {
		t.Fatal(err)
	}
	return file, ks
}

func claimsOf(t *testing.T, token string) *lease.Claims {
	t.Helper()
	c, _, err := lease.ParseUnverified(token)
	if err != nil {
		t.Fatalf("parse token %q: %v", token, err)
	}
	return c
}

func leaseByID(ls []adminapi.LeaseView, id uint64) (adminapi.LeaseView, bool) {
	for _, l := range ls {
		if l.ID == id {
			return l, true
		}
	}
	return adminapi.LeaseView{}, false
}

// TestTwoSeatsThreeAgents is the whole path: three agent processes with their
// own state dirs share a pool of two seats.
func TestTwoSeatsThreeAgents(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 2)
	a1, a2, a3 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok), startAgent(t, s, "a3", tok)

	t1, t2 := a1.mustCheckout("cad"), a2.mustCheckout("cad")
	jwksFile, ks := fetchJWKS(t, s)
	var st adminapi.StatusResponse
	if err := s.api("GET", "/v1/status", nil, &st); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, tok := range []string{t1, t2} {
		if r := run(t, nil, bin("tallyctl"), "verify", "--jwks", jwksFile, tok); r.code != 0 {
			t.Fatalf("tallyctl verify of a granted token: exit %d: %s", r.code, r.stderr)
		}
		c, err := ks.Verify(tok, lease.Expect{Issuer: st.ClusterID, Feature: "cad"})
		if err != nil {
			t.Fatalf("offline verification: %v", err)
		}
		if c.Account != "acme" || c.Kind != lease.KindFloating || seen[c.LeaseID] {
			t.Fatalf("unexpected claims %+v", c)
		}
		seen[c.LeaseID] = true
	}
	if claimsOf(t, t1).Device == claimsOf(t, t2).Device {
		t.Fatal("two agents with separate state dirs share a Device Code")
	}

	r := a3.checkout("cad")
	if r.code == 0 || !strings.Contains(r.stderr, "no_seat") {
		t.Fatalf("third checkout: exit %d, stderr %q; want a non-zero exit with no_seat", r.code, r.stderr)
	}
	if r := a3.checkout("cad", "--json"); r.code == 0 || !strings.Contains(r.stdout, `"no_seat"`) {
		t.Fatalf("third checkout --json: exit %d, stdout %q", r.code, r.stdout)
	}

	if r := a1.cli("release", "cad"); r.code != 0 {
		t.Fatalf("release: %s", r.stderr)
	}
	t3 := a3.mustCheckout("cad")
	if _, err := ks.Verify(t3, lease.Expect{Device: claimsOf(t, t3).Device}); err != nil {
		t.Fatal(err)
	}

	// With --wait the fourth request queues and is served when a seat frees.
	waited := make(chan result, 1)
	go func() {
		r, err := runE(nil, bin("tally-agent"), "checkout", "cad", "--wait", "60s", "--socket", a1.socket)
		if err != nil {
			r.code, r.stderr = -1, err.Error()
		}
		waited <- r
	}()
	eventually(t, 20*time.Second, "a1 is queued", func() error {
		out := s.mustCtl("queue", "--json")
		if !strings.Contains(out, claimsOf(t, t1).Device) {
			return fmt.Errorf("queue: %s", out)
		}
		return nil
	})
	select {
	case r := <-waited:
		t.Fatalf("waiting checkout returned before any seat freed: %+v", r)
	default:
	}
	if r := a2.cli("release", "cad"); r.code != 0 {
		t.Fatalf("release: %s", r.stderr)
	}
	select {
	case r := <-waited:
		if r.code != 0 {
			t.Fatalf("waiting checkout: exit %d: %s", r.code, r.stderr)
		}
		if _, err := ks.Verify(strings.TrimSpace(r.stdout), lease.Expect{Feature: "cad"}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waiting checkout was not served after a seat freed")
	}
	if n := len(s.leases()); n != 2 {
		t.Fatalf("%d leases held, want 2", n)
	}
}

// TestKilledAgentSeatReturnsAfterHorizon kills an agent with SIGKILL, so it
// releases nothing, and checks its seat goes to another device only once the
// committed horizon plus the skew allowance has passed.
func TestKilledAgentSeatReturnsAfterHorizon(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	a, b := startAgent(t, s, "a", tok), startAgent(t, s, "b", tok)
	ta := a.mustCheckout("cad")
	la := claimsOf(t, ta).LeaseID
	a.proc.kill9()

	held, ok := leaseByID(s.leases(), la)
	if !ok {
		t.Fatalf("lease %d vanished right after its agent died", la)
	}
	var st adminapi.StatusResponse
	if err := s.api("GET", "/v1/status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.ServerTime.Before(held.SeatFreesAt.Add(-500 * time.Millisecond)) {
		if r := b.checkout("cad"); r.code == 0 || !strings.Contains(r.stderr, "no_seat") {
			t.Fatalf("checkout while the dead agent's horizon holds: exit %d %q; want no_seat", r.code, r.stderr)
		}
	}
	r := b.checkout("cad", "--wait", "60s")
	if r.code != 0 {
		t.Fatalf("b never got the seat: %s", r.stderr)
	}
	lb := claimsOf(t, strings.TrimSpace(r.stdout)).LeaseID
	got, ok := leaseByID(s.leases(), lb)
	if !ok {
		t.Fatalf("b's lease %d is not listed", lb)
	}
	// The dead agent's horizon may have moved with its last heartbeats before
	// the kill, never after: read the final value from the grant ordering.
	if got.Since.Before(held.SeatFreesAt) {
		t.Fatalf("seat re-granted at %s, before the dead lease's horizon %s plus skew (%s)", got.Since, held.Expires, held.SeatFreesAt)
	}
	if _, still := leaseByID(s.leases(), la); still {
		t.Fatalf("dead agent's lease %d still listed after its seat was re-granted", la)
	}
}

// TestServerKill9KeepsLeases kills tallyd with SIGKILL and restarts it on
// the same data: every lease is still there, agents renew the same lease IDs,
// and no seat is granted twice.
func TestServerKill9KeepsLeases(t *testing.T) {
	s := startServer(t, "--lease-ttl", "10s", "--heartbeat-interval", "1s", "--max-skew", "2s")
	tok := s.setupAccount("acme", "cad", 2)
	a1, a2, a3 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok), startAgent(t, s, "a3", tok)
	t1, t2 := a1.mustCheckout("cad"), a2.mustCheckout("cad")
	jwksFile, _ := fetchJWKS(t, s)
	before := s.leases()
	if len(before) != 2 {
		t.Fatalf("%d leases before the crash", len(before))
	}

	s.proc.kill9()
	s.start()

	after := s.leases()
	if len(after) != 2 {
		t.Fatalf("after restart %d leases, want 2: %+v", len(after), after)
	}
	for _, l := range before {
		got, ok := leaseByID(after, l.ID)
		if !ok || got.Device != l.Device || got.Feature != l.Feature {
			t.Fatalf("lease %d (%s) lost or changed across the crash: %+v", l.ID, l.Device, got)
		}
	}
	// The agents reconnect and renew the very same lease IDs.
	eventually(t, 30*time.Second, "agents renew their leases after the restart", func() error {
		for _, l := range before {
			got, ok := leaseByID(s.leases(), l.ID)
			if !ok {
				t.Fatalf("lease %d disappeared after the restart", l.ID)
			}
			if !got.Expires.After(l.Expires) {
				return fmt.Errorf("lease %d not renewed yet (expires %s)", l.ID, got.Expires)
			}
		}
		return nil
	})
	if r := a3.checkout("cad"); r.code == 0 || !strings.Contains(r.stderr, "no_seat") {
		t.Fatalf("a third device got a seat after the restart: exit %d %q", r.code, r.stderr)
	}
	for _, tok := range []string{t1, t2} {
		if r := run(t, nil, bin("tallyctl"), "verify", "--jwks", jwksFile, tok); r.code != 0 {
			t.Fatalf("token issued before the crash no longer verifies: %s", r.stderr)
		}
	}
	// And the agents still hand out tokens for the same leases.
	for i, a := range []*agent{a1, a2} {
		if got := claimsOf(t, a.mustCheckout("cad")).LeaseID; got != claimsOf(t, []string{t1, t2}[i]).LeaseID {
			t.Fatalf("%s now holds lease %d, had %d", a.name, got, claimsOf(t, []string{t1, t2}[i]).LeaseID)
		}
	}
}

// TestRefusals: a device certificate from another cluster's CA, a tampered
// token, an expired token and a token for another device are each refused
// with the reason.
func TestRefusals(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 2)
	a := startAgent(t, s, "a", tok)
	token := a.mustCheckout("cad")
	jwksFile, _ := fetchJWKS(t, s)

	// A device enrolled with another cluster, pointed at this one.
	other := startServer(t)
	otherTok := other.setupAccount("acme", "cad", 2)
	foreign := startAgent(t, other, "foreign", otherTok)
	foreign.proc.term(t)
	stolen := &agent{t: t, name: "stolen", dir: t.TempDir(), srv: s, token: ""}
	stolen.socket = filepath.Join(stolen.dir, "agent.sock")
	copyDir(t, foreign.dir, stolen.dir)
	stolen.start()
	r := stolen.checkout("cad")
	if r.code == 0 || !strings.Contains(r.stderr, "certificate_refused") || !strings.Contains(r.stderr, "CA") {
		t.Fatalf("foreign certificate: exit %d %q; want certificate_refused naming the CA", r.code, r.stderr)
	}

	verify := func(tok string, extra ...string) result {
		return run(t, nil, append([]string{bin("tallyctl"), "verify", "--jwks", jwksFile, tok}, extra...)...)
	}
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["feat"] = "everything"
	forged, _ := json.Marshal(claims)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	if r := verify(tampered); r.code == 0 || !strings.Contains(r.stderr, "bad_signature") {
		t.Fatalf("tampered token: exit %d %q", r.code, r.stderr)
	}
	exp := claimsOf(t, token).Expires
	if r := verify(token, "--at", exp.Add(time.Minute).Format(time.RFC3339)); r.code == 0 || !strings.Contains(r.stderr, "expired") {
		t.Fatalf("expired token: exit %d %q", r.code, r.stderr)
	}
	if r := verify(token, "--device", "SOME-OTHER-CODE"); r.code == 0 || !strings.Contains(r.stderr, "wrong_device") {
		t.Fatalf("token for another device: exit %d %q", r.code, r.stderr)
	}
	if r := verify(token, "--json"); r.code != 0 || !strings.Contains(r.stdout, `"valid": true`) {
		t.Fatalf("the genuine token: exit %d %q", r.code, r.stdout)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}
