package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol"
)

// Member sign-in on devices (issue 14), through the real binaries: tallyd,
// tally-agent run, tally-agent login/checkout/status run as real OS users,
// and tallyctl.

// osUser is a real OS account created for a test.
type osUser struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// needRoot skips tests that create OS users; CI runs them as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creates OS users with useradd and runs tally-agent clients as them: needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd is not installed")
	}
}

// addGroup creates a group and returns its GID.
func addGroup(t *testing.T, name string) uint32 {
	t.Helper()
	if out, err := exec.Command("groupadd", name).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return uint32(gid)
}

// addOSUser creates a user without a home directory in group.
func addOSUser(t *testing.T, name, group string, groupGID uint32) *osUser {
	t.Helper()
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", "-G", group, name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &osUser{name: name, uid: uint32(uid), gid: uint32(gid), groups: []uint32{groupGID}}
}

// runAs runs a command as u (nil: this process's user) with stdin.
func runAs(t *testing.T, u *osUser, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v as %v: %v", args, u, err)
	}
	return r
}

// as runs a tally-agent client subcommand against a's socket as u.
func (a *agent) as(u *osUser, stdin string, args ...string) result {
	a.t.Helper()
	return runAs(a.t, u, stdin, append([]string{bin("tally-agent")}, append(args, "--socket", a.socket)...)...)
}

// login signs email in for u (nil: the test's own user) with
// --password-stdin.
func (a *agent) login(u *osUser, email, password string) result {
	a.t.Helper()
	return a.as(u, password+"\n", "login", "--email", email, "--password-stdin")
}

func (a *agent) mustLogin(u *osUser, email, password string) {
	a.t.Helper()
	if r := a.login(u, email, password); r.code != 0 {
		a.t.Fatalf("%s: login %s: exit %d: %s%s", a.name, email, r.code, r.stdout, r.stderr)
	}
}

func leaseOf(t *testing.T, r result) protocol.Lease {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("checkout: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var lr api.LeaseResponse
	mustJSON(t, r.stdout, &lr)
	return lr.Lease
}

func statusOf(t *testing.T, r result) api.Status {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	var st api.Status
	mustJSON(t, r.stdout, &st)
	return st
}

// memberAccount makes account acct with a pool of feature, an account seat
// count and members with passwords (password "pw-" + local part), and
// returns an enrollment token.
func memberAccount(s *server, acct, feature string, seats int, members ...string) string {
	s.t.Helper()
	s.mustCtl("accounts", "create", acct)
	s.mustCtl("pools", "set-seats", acct, feature, fmt.Sprint(seats))
	s.mustCtl("seats", "set", acct, fmt.Sprint(len(members)+5))
	for _, m := range members {
		s.mustCtl("users", "add", acct, m, "--password", passwordOf(m))
	}
	return strings.TrimSpace(s.mustCtl("enroll-tokens", "create", acct, "--uses", "100"))
}

func passwordOf(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return "pw-" + local + "-secret"
}

// agentSharedWith starts an agent whose socket group is group, with the
// socket in a directory every user can reach (t.TempDir's parent is 0700).
func agentSharedWith(t *testing.T, s *server, name, token, group string) *agent {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "tally-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binaries must be executable by the users too.
	if err := os.Chmod(binaries.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, name: name, dir: t.TempDir(), socket: filepath.Join(sockDir, "agent.sock"), srv: s, token: token, extra: []string{"--socket-group", group}}
	a.start()
	return a
}

// TestTwoOSUsersSignInAsTwoMembers: two real OS users on one device sign in
// as two members and check out the same feature. Each gets a token with
// their own usr and add-ons; neither sees nor releases the other's lease.
func TestTwoOSUsersSignInAsTwoMembers(t *testing.T) {
	needRoot(t)
	s := startServer(t)
	tok := memberAccount(s, "acme", "phone", 3, "ann@acme.test", "bob@acme.test")
	s.mustCtl("products", "set", "acme", "phone_system", "2", "--name", "Phone System", "--feature", "phone")
	s.mustCtl("products", "set", "acme", "rec", "1", "--addon")
	s.mustCtl("licenses", "assign", "phone_system", "ann@acme.test", "--account", "acme", "--addon", "rec")
	s.mustCtl("licenses", "assign", "phone_system", "bob@acme.test", "--account", "acme")

	tag := strconv.Itoa(os.Getpid() % 100000)
	group := "tly" + tag + "g"
	gid := addGroup(t, group)
	ua, ub := addOSUser(t, "tly"+tag+"a", group, gid), addOSUser(t, "tly"+tag+"b", group, gid)
	dev := agentSharedWith(t, s, "shared", tok, group)

	// A password is never a command-line argument.
	if r := dev.as(ua, "", "login", "--email", "ann@acme.test", "--password", passwordOf("ann@acme.test")); r.code == 0 || !strings.Contains(r.stderr, "password on the command line is refused") {
		t.Fatalf("--password accepted: exit %d: %s", r.code, r.stderr)
	}
	// Without a sign-in there is no seat in an account that manages members.
	wantFail(t, dev.as(ua, "", "checkout", "phone"), "not_signed_in")

	dev.mustLogin(ua, "ann@acme.test", passwordOf("ann@acme.test"))
	dev.mustLogin(ub, "bob@acme.test", passwordOf("bob@acme.test"))
	la := leaseOf(t, dev.as(ua, "", "checkout", "phone", "--json"))
	lb := leaseOf(t, dev.as(ub, "", "checkout", "phone", "--json"))
	if la.ID == lb.ID {
		t.Fatalf("both OS users got lease %d", la.ID)
	}
	ca, cb := claimsOf(t, la.Token), claimsOf(t, lb.Token)
	if ca.User != "ann@acme.test" || !reflect.DeepEqual(ca.AddOns, []string{"rec"}) {
		t.Fatalf("ann's token: usr %q add-ons %v", ca.User, ca.AddOns)
	}
	if cb.User != "bob@acme.test" || len(cb.AddOns) != 0 {
		t.Fatalf("bob's token: usr %q add-ons %v", cb.User, cb.AddOns)
	}
	// A second checkout by ann is her cached lease, not bob's.
	if again := leaseOf(t, dev.as(ua, "", "checkout", "phone", "--json")); again.ID != la.ID {
		t.Fatalf("ann's second checkout got lease %d, want her %d", again.ID, la.ID)
	}
	// --user is gone: no caller names the seat's holder.
	wantFail(t, dev.as(ub, "", "checkout", "phone", "--user", "ann@acme.test"), "invalid_argument")

	// Each sees only their own lease.
	for _, c := range []struct {
		u    *osUser
		want uint64
		who  string
	}{{ua, la.ID, "ann@acme.test"}, {ub, lb.ID, "bob@acme.test"}} {
		st := statusOf(t, dev.as(c.u, "", "status", "--json"))
		if len(st.Leases) != 1 || st.Leases[0].ID != c.want || st.SignedIn != c.who {
			t.Fatalf("%s's status: signed in %q, leases %+v", c.u.name, st.SignedIn, st.Leases)
		}
	}
	// bob releasing the feature gives back his lease only.
	if r := dev.as(ub, "", "release", "phone"); r.code != 0 {
		t.Fatalf("bob's release: %s", r.stderr)
	}
	eventually(t, 10*time.Second, "bob's lease ends, ann's stays", func() error {
		_, bobs := leaseByID(s.leases(), lb.ID)
		_, anns := leaseByID(s.leases(), la.ID)
		if bobs || !anns {
			return fmt.Errorf("bob's lease held: %v, ann's held: %v", bobs, anns)
		}
		return nil
	})
	wantFail(t, dev.as(ub, "", "release", "phone"), "lease_not_found")
	if st := statusOf(t, dev.as(ua, "", "status", "--json")); len(st.Leases) != 1 || st.Leases[0].ID != la.ID {
		t.Fatalf("ann lost her lease to bob's release: %+v", st.Leases)
	}

	// whoami asks the cluster; the credential file is the agent's, 0600.
	if r := dev.as(ua, "", "whoami", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"email": "ann@acme.test"`) || !strings.Contains(r.stdout, "phone_system") {
		t.Fatalf("ann's whoami: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(dev.dir, state.SignInsFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", state.SignInsFile, fi.Mode().Perm())
	}
	// The administrator sees both members on the device.
	var devs []adminapi.DeviceView
	if err := s.api(http.MethodGet, "/v1/devices?account=acme", nil, &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(devs[0].SignedIn) != 2 {
		t.Fatalf("devices: %+v", devs)
	}
	if out := s.mustCtl("devices", "list", "--account", "acme"); !strings.Contains(out, "ann@acme.test,bob@acme.test") {
		t.Fatalf("devices list does not show the signed-in members:\n%s", out)
	}
	// logout ends ann's sign-in: the cluster revokes her lease.
	if r := dev.as(ua, "", "logout"); r.code != 0 {
		t.Fatalf("logout: %s", r.stderr)
	}
	if l, ok := leaseByID(s.leases(), la.ID); !ok || !l.Revoked {
		t.Fatalf("ann's lease after her logout: %+v (held %v)", l, ok)
	}
	wantFail(t, dev.as(ua, "", "whoami"), "not_signed_in")
}

// TestDeletedMemberLosesLeaseAtHeartbeat: a member deleted while their
// agent holds a lease: the next heartbeat reports it lost and the agent stops
// serving the token, a new checkout is refused with not_a_member, and the
// seat comes back at horizon plus skew and not before.
func TestDeletedMemberLosesLeaseAtHeartbeat(t *testing.T) {
	s := startServer(t)
	tok := memberAccount(s, "acme", "cad", 1, "ann@acme.test", "bob@acme.test")
	a, b := startAgent(t, s, "ann-pc", tok), startAgent(t, s, "bob-pc", tok)
	a.mustLogin(nil, "ann@acme.test", passwordOf("ann@acme.test"))
	b.mustLogin(nil, "bob@acme.test", passwordOf("bob@acme.test"))
	l := leaseOf(t, a.checkout("cad", "--json"))
	wantFail(t, b.checkout("cad"), "no_seat")

	s.mustCtl("users", "delete", "acme", "ann@acme.test")
	view, ok := leaseByID(s.leases(), l.ID)
	if !ok || !view.Revoked {
		t.Fatalf("ann's lease after her deletion: %+v", view)
	}
	eventually(t, 15*time.Second, "ann's agent drops the lease at its heartbeat", func() error {
		if st := statusOf(t, a.cli("status", "--json")); len(st.Leases) != 0 {
			return fmt.Errorf("still serving %+v", st.Leases)
		}
		return nil
	})
	wantFail(t, a.checkout("cad"), "not_a_member")

	// bob waits for the seat: it is his only once ann's last token (its
	// horizon) has expired plus the skew allowance.
	got := leaseOf(t, b.checkout("cad", "--wait", "30s", "--json"))
	if frees := view.Expires.Add(time.Second); got.Since.Before(frees) {
		t.Fatalf("bob got the seat at %v, before ann's horizon %v plus the 1s skew", got.Since, view.Expires)
	}
}

// TestSignInRefusals: a wrong password is refused clearly and counted by
// the sign-in brake; an assistant and a member without the product's
// license get no seat; a state file copied to another device is refused.
func TestSignInRefusals(t *testing.T) {
	s := startServer(t)
	tok := memberAccount(s, "acme", "phone", 3, "ann@acme.test", "bob@acme.test", "cid@acme.test")
	s.mustCtl("users", "add", "acme", "asst@acme.test", "--role", "assistant", "--password", passwordOf("asst@acme.test"))
	s.mustCtl("products", "set", "acme", "phone_system", "1", "--feature", "phone")
	s.mustCtl("licenses", "assign", "phone_system", "ann@acme.test", "--account", "acme")
	a := startAgent(t, s, "pc1", tok)

	// Wrong passwords: a clear refusal, then the brake holds even the right one.
	for i := 0; i < 5; i++ {
		r := a.login(nil, "bob@acme.test", "wrong")
		if r.code == 0 || !strings.Contains(r.stderr, "unauthorized: wrong email or password for account acme") {
			t.Fatalf("wrong password %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if r := a.login(nil, "bob@acme.test", passwordOf("bob@acme.test")); r.code == 0 || !strings.Contains(r.stderr, "too many wrong passwords") {
		t.Fatalf("the brake let a sixth attempt through: exit %d: %s", r.code, r.stderr)
	}

	a.mustLogin(nil, "asst@acme.test", passwordOf("asst@acme.test"))
	wantFail(t, a.checkout("phone"), "assistant_no_seat")
	a.mustLogin(nil, "ann@acme.test", passwordOf("ann@acme.test"))
	l := leaseOf(t, a.checkout("phone", "--json"))
	if l.Member != "ann@acme.test" {
		t.Fatalf("lease member %q", l.Member)
	}

	// The credential is bound to this device: the state file copied to
	// another device is useless there.
	b := startAgent(t, s, "pc2", tok)
	b.proc.term(t)
	sis, err := os.ReadFile(filepath.Join(a.dir, state.SignInsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, state.SignInsFile), sis, 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	// Whichever comes first refuses it: the first heartbeat (the cluster
	// lists the sign-in as not this device's, and the agent drops it) or
	// the checkout (the credential was issued to another device).
	r := b.checkout("phone")
	if r.code == 0 || !strings.Contains(r.stderr, "not_signed_in") {
		t.Fatalf("a copied credential was accepted on another device: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 15*time.Second, "the copied sign-in is dropped", func() error {
		if st := statusOf(t, b.cli("status", "--json")); st.SignedIn != "" {
			return fmt.Errorf("still signed in as %s", st.SignedIn)
		}
		return nil
	})
	if v, _ := leaseByID(s.leases(), l.ID); v.Device == "" || len(s.leases()) != 1 {
		t.Fatalf("leases after the copied credential: %+v", s.leases())
	}
	// cid has no Phone System license.
	b.mustLogin(nil, "cid@acme.test", passwordOf("cid@acme.test"))
	wantFail(t, b.checkout("phone"), "no_license")
}

// TestNodeLockedSeatFollowsTheDevice: in a Standard account the device keeps
// its seat whoever signs in on it, and `devices move` takes the seat to
// another device, not to a member.
func TestNodeLockedSeatFollowsTheDevice(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "std", "--model", "standard")
	s.mustCtl("pools", "set-seats", "std", "cad", "1")
	s.mustCtl("seats", "set", "std", "5")
	for _, m := range []string{"ann@std.test", "bob@std.test"} {
		s.mustCtl("users", "add", "std", m, "--password", passwordOf(m))
	}
	tok := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "std", "--uses", "100"))
	a, b := startAgent(t, s, "desk1", tok), startAgent(t, s, "desk2", tok)
	a.mustLogin(nil, "ann@std.test", passwordOf("ann@acme.test"))
	la := leaseOf(t, a.checkout("cad", "--json"))
	if la.Kind != "node-locked" {
		t.Fatalf("kind %s", la.Kind)
	}
	// bob signs in on the same device: the seat is the device's, so he gets it.
	a.mustLogin(nil, "bob@std.test", passwordOf("bob@acme.test"))
	lb := leaseOf(t, a.checkout("cad", "--json"))
	if lb.ID != la.ID || claimsOf(t, lb.Token).User != "bob@std.test" {
		t.Fatalf("bob on desk1 got lease %d (usr %s), want the device's %d", lb.ID, claimsOf(t, lb.Token).User, la.ID)
	}
	// On another device there is no seat, whoever signs in.
	b.mustLogin(nil, "ann@std.test", passwordOf("ann@acme.test"))
	wantFail(t, b.checkout("cad"), "no_seat")
	// Moved to desk2 (the Device Code typed in lower case), the seat is
	// desk2's for whoever signs in there.
	var st api.Status
	mustJSON(t, a.cli("status", "--json").stdout, &st)
	var st2 api.Status
	mustJSON(t, b.cli("status", "--json").stdout, &st2)
	s.mustCtl("devices", "move", "std", strings.ToLower(st.DeviceCode), strings.ToLower(st2.DeviceCode))
	lm := leaseOf(t, b.checkout("cad", "--json"))
	if lm.ID != la.ID || claimsOf(t, lm.Token).User != "ann@std.test" || claimsOf(t, lm.Token).Device != st2.DeviceCode {
		t.Fatalf("after the move desk2 got lease %d for %s on %s", lm.ID, claimsOf(t, lm.Token).User, claimsOf(t, lm.Token).Device)
	}
}

// TestAdminSignsMemberOut: `tallyctl users sign-out` ends a member's
// sign-in on one device; the agent drops the sign-in and its lease at the
// next heartbeat, and the seat frees at horizon plus skew.
func TestAdminSignsMemberOut(t *testing.T) {
	s := startServer(t)
	tok := memberAccount(s, "acme", "cad", 2, "ann@acme.test")
	a := startAgent(t, s, "pc", tok)
	a.mustLogin(nil, "ann@acme.test", passwordOf("ann@acme.test"))
	l := leaseOf(t, a.checkout("cad", "--json"))
	var st api.Status
	mustJSON(t, a.cli("status", "--json").stdout, &st)
	s.mustCtl("users", "sign-out", "acme", "ann@acme.test", "--device", strings.ToLower(st.DeviceCode))
	if v, _ := leaseByID(s.leases(), l.ID); !v.Revoked {
		t.Fatalf("lease not revoked by the sign-out: %+v", v)
	}
	eventually(t, 15*time.Second, "the agent drops the sign-in and the lease", func() error {
		st := statusOf(t, a.cli("status", "--json"))
		if st.SignedIn != "" || len(st.Leases) != 0 {
			return fmt.Errorf("signed in %q, leases %+v", st.SignedIn, st.Leases)
		}
		return nil
	})
	wantFail(t, a.checkout("cad"), "not_signed_in")
	var raw json.RawMessage
	if err := s.api(http.MethodGet, "/v1/accounts/acme/sign-ins", nil, &raw); err != nil || string(raw) != "[]" {
		t.Fatalf("sign-ins after sign-out: %s %v", raw, err)
	}
}

// TestMemberWalkthrough is the walkthrough in docs/agents.md: an
// administrator invites a member, the member signs in on a device and uses
// the application (examples/go-app), the administrator removes them, and the
// application stops once the agent stops serving the lease (the next
// heartbeat after the removal); the seat frees at the lease's horizon plus
// skew.
func TestMemberWalkthrough(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	s.mustCtl("pools", "set-seats", "acme", "cad", "1")
	s.mustCtl("seats", "set", "acme", "2")
	tok := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "acme", "--uses", "100"))
	s.mustCtl("invitations", "send", "acme", "ann@acme.test")
	s.mustCtl("invitations", "accept", "acme", "ann@acme.test", "--password", passwordOf("ann@acme.test"))
	a := startAgent(t, s, "ann-laptop", tok)
	a.mustLogin(nil, "ann@acme.test", passwordOf("ann@acme.test"))

	goApp := filepath.Join(t.TempDir(), "go-app")
	if out, err := exec.Command("go", "build", "-o", goApp, filepath.Join(repoRoot(t), "examples", "go-app")).CombinedOutput(); err != nil {
		t.Fatalf("build examples/go-app: %v\n%s", err, out)
	}
	app := startProc(t, "go-app", []string{"TALLY_AGENT_SOCKET=" + a.socket}, goApp, "--feature", "cad", "--work", "10m")
	eventually(t, 30*time.Second, "the app is licensed", func() error {
		if app.exited() {
			t.Fatalf("go-app exited:\n%s", app.out.String())
		}
		if !strings.Contains(app.out.String(), "licensed: feature=cad") {
			return errors.New("not yet")
		}
		return nil
	})
	ls := s.leases()
	if len(ls) != 1 || ls[0].User != "ann@acme.test" {
		t.Fatalf("leases while ann works: %+v", ls)
	}

	s.mustCtl("users", "delete", "acme", "ann@acme.test")
	select {
	case <-app.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the app still runs 30s after ann's removal:\n%s", app.out.String())
	}
	if out := app.out.String(); !strings.Contains(out, "lease_not_found") {
		t.Fatalf("the app stopped for another reason:\n%s", out)
	}
	wantFail(t, a.checkout("cad"), "not_a_member")
}

// TestActivateWithPassword: "a unique email and a password in order to use
// the app": a member who joins by activation sets their password and is
// signed in, so their checkout is theirs; activating as an existing member
// needs that member's password.
func TestActivateWithPassword(t *testing.T) {
	s := startServer(t)
	tok := memberAccount(s, "acme", "cad", 2, "ann@acme.test")
	s.mustCtl("seats", "policy", "acme", "--domain", "acme.test")
	a := startAgent(t, s, "pc", tok)
	if r := a.as(nil, "", "activate", "--email", "new@acme.test", "--password", "whatever-1"); r.code == 0 || !strings.Contains(r.stderr, "refused") {
		t.Fatalf("--password accepted: exit %d %s", r.code, r.stderr)
	}
	r := a.as(nil, passwordOf("new@acme.test")+"\n", "activate", "--email", "new@acme.test", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "new@acme.test joined acme") || !strings.Contains(r.stdout, "signed in as new@acme.test") {
		t.Fatalf("activation: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if c := claimsOf(t, leaseOf(t, a.checkout("cad", "--json")).Token); c.User != "new@acme.test" {
		t.Fatalf("the activated member's lease is for %q", c.User)
	}
	// The password set at activation signs in on another device too.
	b := startAgent(t, s, "pc2", tok)
	b.mustLogin(nil, "new@acme.test", passwordOf("new@acme.test"))
	// An existing member is not taken over by typing their address.
	if r := b.as(nil, "not-anns-password\n", "activate", "--email", "ann@acme.test", "--password-stdin"); r.code == 0 || !strings.Contains(r.stderr, "wrong email or password") {
		t.Fatalf("activation as ann with a wrong password: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestBrowserApprovedLogin: `tally-agent login --browser` shows a code; the
// member approves it with their password from elsewhere (the console's
// "Approve a device", POST /v1/device-approvals), never typing it on the
// device; the agent is then signed in as them.
func TestBrowserApprovedLogin(t *testing.T) {
	s := startServer(t)
	tok := memberAccount(s, "acme", "cad", 2, "ann@acme.test")
	a := startAgent(t, s, "kiosk", tok)
	login := startProc(t, "tally-agent login --browser", nil, bin("tally-agent"), "login", "--browser", "--socket", a.socket)
	var code string
	eventually(t, 30*time.Second, "the agent shows a code", func() error {
		m := regexp.MustCompile(`enter code ([0-9A-Z]{4}-[0-9A-Z]{4}) for account acme`).FindStringSubmatch(login.out.String())
		if m == nil {
			return errors.New("no code yet")
		}
		code = m[1]
		return nil
	})
	approve := func(password string) error {
		return s.api(http.MethodPost, "/v1/device-approvals", adminapi.ApproveDeviceRequest{Account: "acme", UserCode: strings.ToLower(code), Email: "ann@acme.test", Password: password}, nil)
	}
	if err := approve("not her password"); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("approval with a wrong password: %v", err)
	}
	if err := approve(passwordOf("ann@acme.test")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-login.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("login --browser still waits after the approval:\n%s", login.out.String())
	}
	if out := login.out.String(); !strings.Contains(out, "signed in as ann@acme.test") {
		t.Fatalf("login --browser:\n%s", out)
	}
	if err := approve(passwordOf("ann@acme.test")); err == nil {
		t.Fatal("a used code was approved again")
	}
	if c := claimsOf(t, leaseOf(t, a.checkout("cad", "--json")).Token); c.User != "ann@acme.test" {
		t.Fatalf("lease for %q", c.User)
	}
}
