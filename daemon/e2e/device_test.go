package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tallyagent "github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
)

// agentStatus is the part of `tally-agent status --json` these tests read.
type agentStatus struct {
	DeviceCode string            `json:"device_code"`
	Enrolled   bool              `json:"enrolled"`
	Problem    string            `json:"problem"`
	Leases     []json.RawMessage `json:"leases"`
}

func (a *agent) status() agentStatus {
	a.t.Helper()
	r := a.cli("status", "--json")
	if r.code != 0 {
		a.t.Fatalf("%s status: %s", a.name, r.stderr)
	}
	var st agentStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		a.t.Fatal(err)
	}
	return st
}

// TestCloneDeviceCodeRefused: two agent processes with their own state dirs
// (so their own keys) present the same Device Code. The first enrolls; the
// second is refused with device_conflict, exits, and the server logs the
// suspected clone.
func TestCloneDeviceCodeRefused(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 2)
	const code = "7KQ2-M9XD-4TPA"

	first := &agent{t: t, name: "original", dir: t.TempDir(), srv: s, token: tok}
	first.socket = filepath.Join(first.dir, "agent.sock")
	first.proc = startProc(t, "tally-agent original", nil, bin("tally-agent"), "run", "--state", first.dir,
		"--server", s.agentAddr, "--ca", s.caFile(), "--enroll-token", tok, "--socket", first.socket, "--device-code", "7kq2-m9xd-4tpa")
	eventually(t, 30*time.Second, "the original enrolls", func() error {
		if first.proc.exited() {
			t.Fatalf("original exited:\n%s", first.proc.out.String())
		}
		r := first.cli("status", "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"enrolled": true`) {
			return errors.New("not enrolled yet")
		}
		return nil
	})
	if st := first.status(); st.DeviceCode != code {
		t.Fatalf("--device-code in lower case gave %q, want %q", st.DeviceCode, code)
	}
	first.mustCheckout("cad")

	cloneDir := t.TempDir()
	r := run(t, nil, bin("tally-agent"), "run", "--state", cloneDir, "--server", s.agentAddr, "--ca", s.caFile(),
		"--enroll-token", tok, "--socket", filepath.Join(cloneDir, "agent.sock"), "--device-code", code)
	if r.code == 0 || !strings.Contains(r.stderr, string(protocol.CodeDeviceConflict)) || !strings.Contains(r.stderr, "cloned") {
		t.Fatalf("the clone ran: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(cloneDir, state.CertFile)); err == nil {
		t.Fatal("the clone got a device certificate")
	}
	eventually(t, 10*time.Second, "the server logs the suspected clone", func() error {
		out := s.proc.out.String()
		if !strings.Contains(out, "device_clone_suspected") || !strings.Contains(out, code) {
			return errors.New("no device_clone_suspected line yet")
		}
		return nil
	})
	// The original is untouched: it still holds its seat and renews it.
	if got := len(s.leases()); got != 1 {
		t.Fatalf("%d leases after the clone attempt, want 1", got)
	}
	first.mustCheckout("cad")
}

// TestDeviceCodeStableAcrossReinstall: the Device Code is derived from the
// machine identity, so wiping the state directory and starting again (a
// reinstall) gives the same code, which the cluster then holds against the
// new key as a possible clone until an administrator removes the old device.
func TestDeviceCodeStableAcrossReinstall(t *testing.T) {
	if _, err := state.MachineID(); err != nil {
		t.Skipf("no machine identity here: %v", err)
	}
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a", tok)
	code := a.status().DeviceCode
	if err := state.ValidateDeviceCode(code); err != nil {
		t.Fatal(err)
	}
	// It is the derivation from this machine's identity, the cluster's CA
	// and the state directory, not a random value.
	machine, _ := state.MachineID()
	caPEM, err := os.ReadFile(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := certs.ParseCertPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(caCert.Raw)
	if want := state.DeriveDeviceCode(machine, "sha256:"+hex.EncodeToString(sum[:])+"\x00"+a.dir); code != want {
		t.Fatalf("device code %s, want %s derived from the machine identity", code, want)
	}

	// Restart (an upgrade): same code, still enrolled, no new enrollment.
	a.proc.term(t)
	a.start()
	if got := a.status().DeviceCode; got != code {
		t.Fatalf("after a restart the code is %s, was %s", got, code)
	}

	// Reinstall: the state directory is gone.
	a.proc.term(t)
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, bin("tally-agent"), "run", "--state", a.dir, "--server", s.agentAddr, "--ca", s.caFile(),
		"--enroll-token", tok, "--socket", a.socket)
	if r.code == 0 || !strings.Contains(r.stderr, string(protocol.CodeDeviceConflict)) {
		t.Fatalf("reinstalled agent: exit %d\n%s", r.code, r.stderr)
	}
	var dev state.Device
	b, err := os.ReadFile(filepath.Join(a.dir, state.DeviceFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		t.Fatal(err)
	}
	if dev.DeviceCode != code {
		t.Fatalf("after a reinstall the code is %s, was %s", dev.DeviceCode, code)
	}

	// The administrator removes the old device; the reinstalled machine
	// then enrolls under the same code with its new key and gets a seat.
	if out := s.mustCtl("devices", "remove", "acme", code); !strings.Contains(out, "removed device "+code) {
		t.Fatalf("devices remove: %s", out)
	}
	if out := s.mustCtl("audit", "--account", "acme", "--type", "device_op"); !strings.Contains(out, "remove device "+code) {
		t.Fatalf("the removal is not in the audit log:\n%s", out)
	}
	a.start()
	if got := a.status().DeviceCode; got != code {
		t.Fatalf("re-enrolled as %s, want %s", got, code)
	}
	a.mustCheckout("cad")
}

// TestOfflineRestartServesCachedLease: the server dies, the agent is stopped
// and started again while no server answers, and an application asking for
// the feature gets the cached token at once.
func TestOfflineRestartServesCachedLease(t *testing.T) {
	s := startServer(t, "--lease-ttl", "60s")
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a", tok)
	token := a.mustCheckout("cad")

	s.proc.kill9()
	a.proc.term(t) // its release cannot reach the server: the lease stays cached
	info, err := os.Stat(filepath.Join(a.dir, state.CacheFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("lease cache mode %v, want 0600", perm)
	}
	a.start()
	if got := a.mustCheckout("cad"); got != token {
		t.Fatalf("after an offline restart the agent served another token:\n got %s\nwant %s", got, token)
	}

	// Back online: the agent renews the same lease rather than taking a new seat.
	s.start()
	eventually(t, 30*time.Second, "the agent renews its cached lease", func() error {
		ls := s.leases()
		if len(ls) != 1 || ls[0].ID != claimsOf(t, token).LeaseID {
			t.Fatalf("leases after the server came back: %+v", ls)
		}
		if !ls[0].Expires.After(claimsOf(t, token).Expires) {
			return errors.New("not renewed yet")
		}
		return nil
	})
}

// TestClockRollbackAgainstRealServer runs the agent in-process (so its clock
// can be turned back) against a real tallyd: once the device clock is behind
// the latest server time seen, checkouts fail with clock_rollback, also
// after a restart, and work again once the clock is right.
func TestClockRollbackAgainstRealServer(t *testing.T) {
	s := startServer(t, "--lease-ttl", "60s")
	tok := s.setupAccount("acme", "cad", 1)
	dir := t.TempDir()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	runAgent := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- tallyagent.Run(ctx, tallyagent.Config{StateDir: dir, Servers: []string{s.agentAddr}, CAFile: s.caFile(),
				EnrollToken: tok, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent.Run: %v", err)
			}
		}
	}
	stop := runAgent()
	c := sdk.New(filepath.Join(dir, "agent.sock"))
	ctx := context.Background()
	eventually(t, 30*time.Second, "the in-process agent enrolls", func() error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if !st.Enrolled {
			return errors.New("not enrolled")
		}
		return nil
	})
	l, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}

	offset.Store(int64(-10 * time.Minute))
	if _, err := c.Checkout(ctx, "cad"); protocol.CodeOf(err) != protocol.CodeClockRollback {
		t.Fatalf("checkout with the clock 10 minutes back = %v, want %s", err, protocol.CodeClockRollback)
	}
	// The high-water mark is persisted: a restart with the clock still
	// wrong refuses too.
	s.proc.kill9()
	stop()
	stop = runAgent()
	defer func() { stop() }()
	eventually(t, 10*time.Second, "the agent answers again", func() error { _, err := c.Status(ctx); return err })
	if _, err := c.Checkout(ctx, "cad"); protocol.CodeOf(err) != protocol.CodeClockRollback {
		t.Fatalf("after a restart with the clock back = %v, want %s", err, protocol.CodeClockRollback)
	}
	offset.Store(0)
	got, err := c.Checkout(ctx, "cad")
	if err != nil || got.Token != l.Token {
		t.Fatalf("with the clock right again: %v (same token: %v)", err, err == nil && got.Token == l.Token)
	}
}

// TestInstallConfigRunsTheAgent: `tally-agent install --dry-run` prints the
// configuration and service the install would write and writes nothing;
// `install --no-service` (what the packages run) writes that configuration,
// and `tally-agent run --config` on it (what the service manager runs)
// enrolls, serves checkouts and releases on SIGTERM.
func TestInstallConfigRunsTheAgent(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	root := t.TempDir()
	cfg := filepath.Join(root, "etc", "tally-agent", "agent.yaml")
	stateDir := filepath.Join(root, "var", "lib", "tally-agent")
	args := []string{"--config", cfg, "--state", stateDir, "--server", s.agentAddr, "--ca", s.caFile(), "--enroll-token", tok}
	r := run(t, nil, append([]string{bin("tally-agent"), "install", "--dry-run"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing written") || !strings.Contains(r.stdout, "write "+cfg) || strings.Contains(r.stdout, "{{") {
		t.Fatalf("install --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Where the machine runs systemd, the unit is printed rendered and
	// sandboxed to the state directory.
	if strings.Contains(r.stdout, "with linux-systemd") && !strings.Contains(r.stdout, "ReadWritePaths="+stateDir) {
		t.Fatalf("install --dry-run printed a systemd unit without ReadWritePaths=%s:\n%s", stateDir, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("install --dry-run wrote under %s: %v", root, err)
	}
	if r := run(t, nil, append([]string{bin("tally-agent"), "install", "--no-service"}, args...)...); r.code != 0 {
		t.Fatalf("install --no-service: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a := &agent{t: t, name: "service", dir: stateDir, socket: filepath.Join(stateDir, "agent.sock"), srv: s}
	a.proc = startProc(t, "tally-agent run --config", nil, bin("tally-agent"), "run", "--config", cfg)
	eventually(t, 30*time.Second, "the configured agent enrolls", func() error {
		if a.proc.exited() {
			t.Fatalf("agent exited:\n%s", a.proc.out.String())
		}
		if st := a.cli("status", "--json"); st.code != 0 || !strings.Contains(st.stdout, `"enrolled": true`) {
			return errors.New("not enrolled yet")
		}
		return nil
	})
	a.mustCheckout("cad")
	if n := len(s.leases()); n != 1 {
		t.Fatalf("%d leases, want 1", n)
	}
	a.proc.term(t)
	if n := len(s.leases()); n != 0 {
		t.Fatalf("%d leases after SIGTERM, want 0 (released on stop)", n)
	}
}

// TestRemovedDeviceStopsServingItsLeases: an administrator removes a running
// device; at its next heartbeat the agent learns it, drops the revoked
// leases instead of serving them offline, and says why in its status.
func TestRemovedDeviceStopsServingItsLeases(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a", tok)
	a.mustCheckout("cad")
	code := a.status().DeviceCode
	s.mustCtl("devices", "remove", "acme", code)
	eventually(t, 20*time.Second, "the agent learns it was removed", func() error {
		st := a.status()
		if !strings.Contains(st.Problem, "not_enrolled") || len(st.Leases) != 0 {
			return fmt.Errorf("status: problem %q, %d leases", st.Problem, len(st.Leases))
		}
		return nil
	})
	if r := a.checkout("cad"); r.code == 0 || !strings.Contains(r.stderr, "not_enrolled") {
		t.Fatalf("a removed device checked out: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := a.cli("status"); !strings.Contains(r.stdout, "Refused:") {
		t.Fatalf("tally-agent status does not say the device is refused:\n%s", r.stdout)
	}
}
