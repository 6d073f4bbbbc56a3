package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/internal/e2eframework"
)

// TestBackupRestoreIntoFreshCluster saves a backup with tallyctl, loses the
// server (kill -9, data dir abandoned), restores the backup into a new data
// dir on new ports, and finds every account, seat and lease; a device
// enrolled before the disaster keeps its lease against the new cluster.
func TestBackupRestoreIntoFreshCluster(t *testing.T) {
	s := startServer(t, "--lease-ttl", "30s", "--heartbeat-interval", "2s", "--max-skew", "2s")
	tok := s.setupAccount("acme", "cad", 3)
	s.mustCtl("accounts", "create", "globex", "--model", "standard")
	s.mustCtl("pools", "set-seats", "globex", "cam", "7")
	a1, a2 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok)
	t1 := a1.mustCheckout("cad")
	a2.mustCheckout("cad")
	before := s.leases()

	backup := filepath.Join(t.TempDir(), "tally.backup")
	pass := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.mustCtl("snapshot", "save", backup, "--encrypt", "--passphrase-file", pass); !strings.Contains(out, "saved cluster") {
		t.Fatalf("snapshot save: %s", out)
	}
	if raw, _ := os.ReadFile(backup); strings.Contains(string(raw), "PRIVATE KEY") {
		t.Fatal("the encrypted backup holds the CA key in the clear")
	}
	s.proc.kill9()
	a1.proc.kill9()

	// A fresh cluster from the backup, somewhere else.
	r := &server{t: t, dir: t.TempDir()}
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	r.proc = startProc(t, "tallyd restore", nil, bin("tallyd"), "restore", backup, "--passphrase-file", pass, "--data", r.dir,
		"--agent-addr", anyPort(t, "udp"), "--admin-addr", anyPort(t, "tcp"), "--raft-addr", anyPort(t, "tcp"), "--raft-timeout", "200ms",
		"--addr-file", addrFile)
	r.token = s.token // admin tokens are part of the ledger
	addrs, err := e2eframework.WaitAddrs(context.Background(), r.proc.Proc, addrFile, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.agentAddr, r.adminAddr, r.raftAddr = addrs.Agent, addrs.Admin, addrs.Raft
	eventually(t, 30*time.Second, "restored node serves", func() error {
		if r.proc.exited() {
			t.Fatalf("tallyd restore exited:\n%s", r.proc.out.String())
		}
		if !strings.Contains(r.proc.out.String(), "restored cluster") {
			return fmt.Errorf("not restored yet")
		}
		return nil
	})
	var accts []ledger.Account
	if err := r.api("GET", "/v1/accounts", nil, &accts); err != nil {
		t.Fatalf("the old admin token does not work on the restored cluster: %v", err)
	}
	if len(accts) != 2 || accts[1].ID != "globex" || accts[1].Model != ledger.ModelStandard || accts[1].Pools["cam"].Seats != 7 || accts[0].Pools["cad"].Seats != 3 {
		t.Fatalf("accounts after restore: %+v", accts)
	}
	after := r.leases()
	if len(after) != len(before) {
		t.Fatalf("%d leases after restore, %d before", len(after), len(before))
	}
	for _, l := range before {
		got, ok := leaseByID(after, l.ID)
		if !ok || got.Device != l.Device || !got.Expires.Equal(l.Expires) {
			t.Fatalf("lease %d not restored as it was: %+v", l.ID, got)
		}
	}
	// The device whose agent died comes back with the same state dir, now
	// pointed at the restored cluster: its certificate is still good and it
	// keeps its lease.
	back := &agent{t: t, name: "a1-back", dir: t.TempDir(), srv: r}
	back.socket = filepath.Join(back.dir, "agent.sock")
	copyDir(t, a1.dir, back.dir)
	back.start()
	if got := claimsOf(t, back.mustCheckout("cad")).LeaseID; got != claimsOf(t, t1).LeaseID {
		t.Fatalf("device holds lease %d after restore, had %d", got, claimsOf(t, t1).LeaseID)
	}
	// And the restored cluster has no double grant: 3 seats, 2 held.
	a3 := startAgent(t, r, "a3", tok)
	a3.mustCheckout("cad")
	a4 := startAgent(t, r, "a4", tok)
	if res := a4.checkout("cad"); res.code == 0 || !strings.Contains(res.stderr, "no_seat") {
		t.Fatalf("fourth checkout on a 3-seat pool after restore: exit %d %q", res.code, res.stderr)
	}
}

// TestPlainBackupLeavesSecretsOutAndRestoresWithANewCA: a backup saved
// without --encrypt holds no CA key and no password hashes; tallyd restore
// refuses it without --new-ca (saying why), and with it founds a cluster
// under a new CA where the old admin tokens still work, devices enrolled
// before are refused (they must enroll again) and members must set new
// passwords.
func TestPlainBackupLeavesSecretsOutAndRestoresWithANewCA(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 2)
	s.mustCtl("seats", "set", "acme", "5")
	s.mustCtl("users", "add", "acme", "own@acme.test", "--role", "owner", "--password", "correct horse")
	startAgent(t, s, "a1", tok).mustCheckout("cad")
	backup := filepath.Join(t.TempDir(), "plain.backup")
	out := s.mustCtl("snapshot", "save", backup)
	if !strings.Contains(out, "--new-ca") {
		t.Fatalf("snapshot save without --encrypt does not say how to restore: %s", out)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "PRIVATE KEY") || strings.Contains(string(raw), "argon2") {
		t.Fatal("a backup saved without --encrypt holds secrets")
	}
	s.proc.kill9()

	dir := t.TempDir()
	refused := run(t, nil, bin("tallyd"), "restore", backup, "--data", dir, "--agent-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0")
	if refused.code == 0 || !strings.Contains(refused.stderr, "--new-ca") {
		t.Fatalf("restore of a plain backup without --new-ca: exit %d %s", refused.code, refused.stderr)
	}
	r := &server{t: t, dir: t.TempDir()}
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	r.proc = startProc(t, "tallyd restore", nil, bin("tallyd"), "restore", backup, "--new-ca", "--data", r.dir,
		"--agent-addr", anyPort(t, "udp"), "--admin-addr", anyPort(t, "tcp"), "--raft-addr", anyPort(t, "tcp"), "--raft-timeout", "200ms",
		"--addr-file", addrFile)
	r.token = s.token
	addrs, err := e2eframework.WaitAddrs(context.Background(), r.proc.Proc, addrFile, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.agentAddr, r.adminAddr, r.raftAddr = addrs.Agent, addrs.Admin, addrs.Raft
	eventually(t, 30*time.Second, "restored node serves", func() error {
		var accts []ledger.Account
		return r.api("GET", "/v1/accounts", nil, &accts)
	})
	if old, _ := os.ReadFile(s.caFile()); string(old) == string(mustRead(t, r.caFile())) {
		t.Fatal("--new-ca kept the old CA")
	}
	if code, _, resp := r.signIn("acme", "own@acme.test", "correct horse"); code != 401 {
		t.Fatalf("a member signs in with a password the plain backup left out: %d %s", code, resp)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
