package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAirGappedDeviceByFiles: an agent with no route to any node enrolls,
// is granted a lease, serves it and gives it back, all by files an
// administrator carries; the seat is free again as soon as the return file
// reaches the cluster. A changed file, and another account's device, are
// refused and change nothing.
func TestAirGappedDeviceByFiles(t *testing.T) {
	s := startServer(t)
	token := s.setupAccount("lab", "cad", 1)
	s.mustCtl("policy", "set", "lab", "--pool", "cad", "--borrow-days", "30")
	work := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The agent's only server address goes nowhere: nothing listens there.
	dir := t.TempDir()
	a := &agent{t: t, name: "air-gapped", dir: dir, socket: filepath.Join(dir, "agent.sock"), srv: s, token: token}
	a.proc = startProc(t, "tally-agent air-gapped", nil, bin("tally-agent"), "run", "--state", dir, "--server", "127.0.0.1:9",
		"--ca", s.caFile(), "--enroll-token", token, "--socket", a.socket, "--log-level", "debug")
	eventually(t, 30*time.Second, "the air-gapped agent's socket answers", func() error {
		if r := a.cli("status", "--json"); r.code != 0 {
			return fmt.Errorf("status: %s", r.stderr)
		}
		return nil
	})

	// Enrollment by file.
	r := a.cli("offline", "enroll-request")
	if r.code != 0 {
		t.Fatalf("enroll-request: %s", r.stderr)
	}
	enrollReq := write("enroll-req.json", r.stdout)
	enrollResp := write("enroll.json", s.mustCtl("offline", "enroll", "lab", enrollReq))
	if r := a.cli("offline", "enroll-install", enrollResp); r.code != 0 {
		t.Fatalf("enroll-install: %s", r.stderr)
	}
	var st agentStatus
	eventually(t, 30*time.Second, "the agent reports itself enrolled", func() error {
		r := a.cli("status", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			return err
		}
		if !strings.Contains(r.stdout, `"enrolled": true`) {
			return fmt.Errorf("not enrolled: %s", r.stdout)
		}
		return nil
	})

	// A lease by file.
	r = a.cli("offline", "request", "cad", "--borrow", "2d")
	if r.code != 0 {
		t.Fatalf("offline request: %s", r.stderr)
	}
	req := write("req.jws", r.stdout)

	// One changed byte in the request: refused, nothing granted.
	raw := strings.TrimSpace(r.stdout)
	parts := strings.Split(raw, ".")
	p := []byte(parts[1])
	p[len(p)/2] ^= 1
	if p[len(p)/2] == '.' {
		p[len(p)/2] = 'A'
	}
	tampered := write("tampered.jws", parts[0]+"."+string(p)+"."+parts[2])
	if r := s.ctl("offline", "grant", tampered); r.code == 0 {
		t.Fatalf("a changed request was granted: %s", r.stdout)
	}
	// Another account cannot grant for this device.
	s.setupAccount("other", "cad", 1)
	if r := s.ctl("offline", "grant", "--account", "other", req); r.code == 0 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("granted through another account: exit %d %s", r.code, r.stderr)
	}
	if n := len(s.leases()); n != 0 {
		t.Fatalf("refused files left %d leases", n)
	}

	leaseFile := write("lease.json", s.mustCtl("offline", "grant", req))
	// Granting the same file again gives the same lease, not a second seat.
	again := s.mustCtl("offline", "grant", req)
	var l1, l2 struct {
		Lease struct {
			ID uint64 `json:"id"`
		} `json:"lease"`
	}
	json.Unmarshal([]byte(readFile(t, leaseFile)), &l1)
	json.Unmarshal([]byte(again), &l2)
	if l1.Lease.ID == 0 || l1.Lease.ID != l2.Lease.ID {
		t.Fatalf("granting one request twice: lease %d then %d", l1.Lease.ID, l2.Lease.ID)
	}
	if r := a.cli("offline", "install", leaseFile); r.code != 0 {
		t.Fatalf("offline install: %s", r.stderr)
	}
	// The application checks out as usual and gets the installed lease,
	// which verifies offline against the cluster's keys.
	tok := a.mustCheckout("cad")
	jwks := write("jwks.json", s.mustCtl("jwks"))
	if r := s.ctl("verify", "--jwks", jwks, tok); r.code != 0 {
		t.Fatalf("the offline token does not verify: %s", r.stderr)
	}
	ls := s.leases()
	if len(ls) != 1 || ls[0].Device != st.DeviceCode || ls[0].Kind != "borrowed" {
		t.Fatalf("leases after the offline grant: %+v", ls)
	}

	// Give it back by file: the seat is free at once.
	r = a.cli("offline", "return", "cad")
	if r.code != 0 {
		t.Fatalf("offline return: %s", r.stderr)
	}
	ret := write("return.jws", r.stdout)
	// The agent no longer holds it (a checkout would now ask the
	// unreachable cluster for a seat).
	if r := a.cli("status", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Leases) != 0 {
		t.Fatalf("the agent still holds a returned lease: %s", r.stdout)
	}
	s.mustCtl("offline", "return", ret)
	if n := len(s.leases()); n != 0 {
		t.Fatalf("leases after the return: %d", n)
	}
	audit := s.mustCtl("audit", "--account", "lab", "--json")
	if !strings.Contains(audit, "release lease") || !strings.Contains(audit, "checkout cad") {
		t.Fatalf("the offline grant and return are not in the audit log:\n%s", audit)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
