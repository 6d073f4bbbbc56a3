package ledger

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// signIn signs user in on dev (devices dN have key fingerprint fpN) and
// returns the sign-in ID, reusing an existing one.
func (f *fixture) signIn(dev, user string) string {
	id := "si-" + dev + "-" + NormalizeEmail(user)
	if _, ok := f.s.SignIn(id); ok {
		return id
	}
	r := f.apply(Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: id, Account: "acme", Device: dev,
		KeyFingerprint: "fp" + strings.TrimPrefix(dev, "d"), Email: user, SecretHash: "h-" + id}})
	if r.Error != nil && f.t != nil {
		f.t.Fatalf("sign in %s on %s: %v", user, dev, r.Error)
	}
	return id
}

func (f *fixture) checkoutSigned(dev, signIn string) Result {
	return f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: dev, Feature: "cad", SignIn: signIn}})
}

// memberFixture: acme with 5 cad seats, devices d1..d3, members ann and bob,
// an assistant and a pending invitee.
func memberFixture(t *testing.T) *fixture {
	f := newFixture(t, 5, 3)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 5})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", PasswordHash: "x"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test", PasswordHash: "x"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "asst@acme.test", Role: RoleAssistant, PasswordHash: "x"})
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "new@acme.test", Expires: t0.Add(time.Hour)})
	return f
}

// TestCheckoutHolderComesFromTheSignIn: in an account that manages members
// the lease's user is the signed-in member, whatever User the command
// carries; no sign-in, another device's sign-in or an ended one is refused.
func TestCheckoutHolderComesFromTheSignIn(t *testing.T) {
	f := memberFixture(t)
	wantCode(t, f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", User: "ann@acme.test"}}), protocol.CodeNotSignedIn)
	ann := f.signIn("d1", "ann@acme.test")
	r := f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", SignIn: ann, User: "bob@acme.test"}})
	if r.Error != nil || r.Lease.User != "ann@acme.test" || r.Lease.SignIn != ann {
		t.Fatalf("checkout under ann's sign-in: %+v %v", r.Lease, r.Error)
	}
	wantCode(t, f.checkoutSigned("d2", ann), protocol.CodeNotSignedIn) // ann's sign-in is d1's
	bob := f.signIn("d1", "bob@acme.test")
	rb := f.checkoutSigned("d1", bob)
	if rb.Error != nil || rb.Lease.ID == r.Lease.ID || rb.Lease.User != "bob@acme.test" {
		t.Fatalf("bob on the same device gets his own lease: %+v %v", rb.Lease, rb.Error)
	}
	// A sign-in with a key that is not the device's is refused.
	wantCode(t, f.apply(Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: "x", Account: "acme", Device: "d2", KeyFingerprint: "fp1", Email: "ann@acme.test", SecretHash: "h"}}), protocol.CodeDeviceConflict)
	// Signing out ends the sign-in and revokes its lease.
	f.must(t, Command{Type: CmdDeviceSignOut, Payload: &DeviceSignOut{Account: "acme", Email: "ANN@acme.test", Device: "d1"}})
	if l, _ := f.s.Lease(r.Lease.ID); !l.Revoked {
		t.Fatalf("ann's lease survived her sign-out: %+v", l)
	}
	if l, _ := f.s.Lease(rb.Lease.ID); l.Revoked {
		t.Fatalf("bob's lease was revoked by ann's sign-out: %+v", l)
	}
	wantCode(t, f.checkoutSigned("d1", ann), protocol.CodeNotSignedIn)
}

func TestAssistantsPendingAndDeletedMembersGetNoSeat(t *testing.T) {
	f := memberFixture(t)
	wantCode(t, f.checkoutSigned("d1", f.signIn("d1", "asst@acme.test")), protocol.CodeAssistantNoSeat)
	wantCode(t, f.apply(Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: "p", Account: "acme", Device: "d1", KeyFingerprint: "fp1", Email: "new@acme.test", SecretHash: "h"}}), protocol.CodeNotAMember)
	wantCode(t, f.apply(Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: "q", Account: "acme", Device: "d1", KeyFingerprint: "fp1", Email: "nobody@acme.test", SecretHash: "h"}}), protocol.CodeNotAMember)

	bob := f.signIn("d2", "bob@acme.test")
	g := f.checkoutSigned("d2", bob)
	if g.Error != nil {
		t.Fatal(g.Error)
	}
	mustMem(t, f, MembersOp{Op: MemDeleteUser, Email: "bob@acme.test"})
	l, _ := f.s.Lease(g.Lease.ID)
	if !l.Revoked {
		t.Fatalf("a deleted member's lease is not revoked: %+v", l)
	}
	// Their device hears not_a_member, and once re-added they must sign in
	// again: the old sign-in does not prove the new member.
	wantCode(t, f.checkoutSigned("d2", bob), protocol.CodeNotAMember)
	f.now = f.now.Add(time.Millisecond)
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test", PasswordHash: "x"})
	wantCode(t, f.checkoutSigned("d2", bob), protocol.CodeNotSignedIn)
	f.now = t0
	// The seat stays counted until horizon plus skew, then comes back.
	f.now = l.Horizon.Add(f.s.Settings().MaxSkew).Add(-time.Millisecond)
	if due := f.s.ReclaimDue(f.now); len(due) != 0 {
		t.Fatalf("seat reclaimable before horizon plus skew: %v", due)
	}
	f.now = l.Horizon.Add(f.s.Settings().MaxSkew)
	if due := f.s.ReclaimDue(f.now); len(due) != 1 || due[0] != g.Lease.ID {
		t.Fatalf("seat not reclaimable at horizon plus skew: %v", due)
	}
	// Making a member an assistant revokes their leases too.
	ann := f.signIn("d3", "ann@acme.test")
	a := f.checkoutSigned("d3", ann)
	if a.Error != nil {
		t.Fatal(a.Error)
	}
	mustMem(t, f, MembersOp{Op: MemSetRole, Email: "ann@acme.test", Role: RoleAssistant})
	if l, _ := f.s.Lease(a.Lease.ID); !l.Revoked {
		t.Fatalf("an assistant kept a lease: %+v", l)
	}
	if _, ok := f.s.SignIn(ann); ok {
		t.Fatal("a role change left the sign-in in place")
	}
}

func TestPasswordChangeSignsOutAndLicenseChangesRevoke(t *testing.T) {
	f := licFixture(t, 2, 2)
	v := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101"})
	ann := f.signIn("d1", "ann@acme.test")
	r := f.checkoutSigned("d1", ann)
	if r.Error != nil || r.Lease.License != v.ID {
		t.Fatalf("%+v %v", r.Lease, r.Error)
	}
	mustLic(t, f, LicenseOp{Op: OpUnassign, LicenseID: v.ID})
	if l, _ := f.s.Lease(r.Lease.ID); !l.Revoked {
		t.Fatalf("unassigning the license left its lease: %+v", l)
	}
	wantCode(t, f.checkoutSigned("d1", ann), protocol.CodeNoLicense)
	f.must(t, legacyCmd(CmdMembers, &MembersOp{Op: MemSetPassword, Account: "acme", Email: "ann@acme.test", PasswordHash: "new"}))
	if _, ok := f.s.SignIn(ann); ok {
		t.Fatal("a password change left the sign-in in place")
	}
}

// TestTeamRulesFollowTheMember: a team cap counts the member's leases
// whether or not the checkout names the team, and a reservation for a
// member is only theirs when they are signed in.
func TestTeamRulesFollowTheMember(t *testing.T) {
	f := memberFixture(t)
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "red"})
	mustMem(t, f, MembersOp{Op: MemTeamAdd, Email: "ann@acme.test", Team: "red"})
	mustMem(t, f, MembersOp{Op: MemTeamAdd, Email: "bob@acme.test", Team: "red"})
	f.setPolicy(t, "cad", Policy{TeamCaps: map[string]int{"red": 1}, Reserve: []Reservation{{Kind: "user", Name: "vip@acme.test", Seats: 2}}})
	if r := f.checkoutSigned("d1", f.signIn("d1", "ann@acme.test")); r.Error != nil {
		t.Fatal(r.Error)
	}
	// bob names no team: red's cap still counts him.
	wantCode(t, f.checkoutSigned("d2", f.signIn("d2", "bob@acme.test")), protocol.CodeTeamCapReached)
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "vip@acme.test", PasswordHash: "x"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "carl@acme.test", PasswordHash: "x"})
	f.must(t, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: "d4", KeyFingerprint: "fp4"}})
	// 5 seats, one per device: ann's d1 holds 1, 2 are vip's, so carl gets
	// d2 and d3 and then no more.
	for _, d := range []string{"d2", "d3"} {
		if r := f.checkoutSigned(d, f.signIn(d, "carl@acme.test")); r.Error != nil {
			t.Fatalf("carl on %s: %v", d, r.Error)
		}
	}
	wantCode(t, f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d4", Feature: "cad", SignIn: f.signIn("d4", "carl@acme.test"), User: "vip@acme.test"}}), protocol.CodeNoSeat)
	if r := f.checkoutSigned("d4", f.signIn("d4", "vip@acme.test")); r.Error != nil {
		t.Fatalf("vip signed in takes the reserved seat: %v", r.Error)
	}
}

// TestNodeLockedSeatStaysWithTheDevice: in a Standard account the device
// keeps its seat whoever signs in on it, and a move takes it to a device.
func TestNodeLockedSeatStaysWithTheDevice(t *testing.T) {
	f := memberFixture(t)
	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "std", Model: ModelStandard}})
	f.s.accounts["acme"].Model = ModelStandard // the fixture's account, as Standard
	a := f.checkoutSigned("d1", f.signIn("d1", "ann@acme.test"))
	if a.Error != nil || a.Lease.Kind != KindNodeLocked {
		t.Fatalf("%+v %v", a.Lease, a.Error)
	}
	b := f.checkoutSigned("d1", f.signIn("d1", "bob@acme.test"))
	if b.Error != nil || b.Lease.ID != a.Lease.ID || b.Lease.User != "bob@acme.test" {
		t.Fatalf("bob on the same device should take its node-locked seat: %+v %v", b.Lease, b.Error)
	}
	// bob signs out: the seat stays with d1, vacant, its token no longer
	// renewed; ann signing in again takes it back.
	f.must(t, Command{Type: CmdDeviceSignOut, Payload: &DeviceSignOut{Account: "acme", ID: f.signIn("d1", "bob@acme.test")}})
	rn := f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{a.Lease.ID}}})
	wantCode(t, Result{Error: rn.Renewed[0].Error}, protocol.CodeNotSignedIn)
	if l, _ := f.s.Lease(a.Lease.ID); l.Revoked || !l.Vacant || l.Reusable(f.now.Add(time.Hour), time.Second) {
		t.Fatalf("a vacated node-locked seat must stay with the device: %+v", l)
	}
	if r := f.checkoutSigned("d1", f.signIn("d1", "ann@acme.test")); r.Error != nil || r.Lease.ID != a.Lease.ID || r.Lease.Vacant {
		t.Fatalf("ann takes d1's seat back: %+v %v", r.Lease, r.Error)
	}
	f.must(t, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "acme", Device: "d1", To: "d2"}))
	c := f.checkoutSigned("d2", f.signIn("d2", "ann@acme.test"))
	if c.Error != nil || c.Lease.ID != a.Lease.ID || c.Lease.Device != "d2" {
		t.Fatalf("after the move the seat is d2's whoever signs in: %+v %v", c.Lease, c.Error)
	}
}

func TestDeviceCodesAreCanonicalised(t *testing.T) {
	f := newFixture(t, 2, 0)
	f.must(t, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: "DEM0-ABCD-1234", KeyFingerprint: "fpx"}})
	f.setPolicy(t, "cad", Policy{Allow: []string{"device:demo-abcd-i234"}})
	if p, _ := f.s.StoredPolicy("acme", "cad"); p.Allow[0] != "device:DEM0-ABCD-1234" {
		t.Fatalf("allow list stored as typed: %v", p.Allow)
	}
	if r := f.checkout("DEM0-ABCD-1234"); r.Error != nil {
		t.Fatalf("allowed device refused: %v", r.Error)
	}
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 1})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", PasswordHash: "x"})
	f.must(t, Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: "s1", Account: "acme", Device: "DEM0-ABCD-1234", KeyFingerprint: "fpx", Email: "ann@acme.test", SecretHash: "h"}})
	f.must(t, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "acme", Device: "dem0abcd1234", Remove: true}))
	if got := f.s.SignIns("acme", "DEM0-ABCD-1234"); len(got) != 0 {
		t.Fatalf("a removed device keeps its sign-ins: %+v", got)
	}
}

func TestSignInsSurviveSnapshot(t *testing.T) {
	f := memberFixture(t)
	f.signIn("d1", "ann@acme.test")
	f.must(t, Command{Type: CmdDeviceSeen, Payload: &DeviceSeen{Account: "acme", Device: "d1", AgentVersion: "1.2.3"}})
	b := snapshotBytes(t, f.s)
	r := New()
	if err := r.ReadSnapshot(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, snapshotBytes(t, r)) {
		t.Fatal("snapshot round trip is not byte-identical")
	}
	if got := r.SignIns("acme", "d1"); len(got) != 1 || got[0].Email != "ann@acme.test" || got[0].SecretHash != "" {
		t.Fatalf("restored sign-ins: %+v", got)
	}
}

// TestSeatBases: per device, two members on one device hold one seat; per
// member, one member on two devices holds one seat up to the device limit;
// a Standard account's pools are node-locked.
func TestSeatBases(t *testing.T) {
	f := memberFixture(t)
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 1}})
	if got := f.s.EffectivePolicy("acme", "cad").SeatBasis; got != BasisDevice {
		t.Fatalf("a floating account's default basis is %q", got)
	}
	a := f.checkoutSigned("d1", f.signIn("d1", "ann@acme.test"))
	b := f.checkoutSigned("d1", f.signIn("d1", "bob@acme.test"))
	if a.Error != nil || b.Error != nil || a.Lease.ID == b.Lease.ID {
		t.Fatalf("two members on one device, one seat: %v %v", a.Error, b.Error)
	}
	wantCode(t, f.checkoutSigned("d2", f.signIn("d2", "ann@acme.test")), protocol.CodeNoSeat)

	f.setPolicy(t, "cad", Policy{SeatBasis: BasisMember, MemberDevices: 2})
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: b.Lease.ID}})
	if r := f.checkoutSigned("d2", f.signIn("d2", "ann@acme.test")); r.Error != nil {
		t.Fatalf("ann's second device under the member basis: %v", r.Error)
	}
	wantCode(t, f.checkoutSigned("d3", f.signIn("d3", "ann@acme.test")), protocol.CodePolicyDenied) // third device
	wantCode(t, f.checkoutSigned("d3", f.signIn("d3", "bob@acme.test")), protocol.CodeNoSeat)
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "cad", Policy: Policy{SeatBasis: "per-moon"}}})

	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "std", Model: ModelStandard}})
	if got := f.s.EffectivePolicy("std", "").SeatBasis; got != BasisNodeLocked {
		t.Fatalf("a Standard account's default basis is %q", got)
	}
}

// TestStandardFirstSignInAssignsTheDevicesSeat: in a Standard account a
// member's first sign-in on a device gives the device its node-locked seat
// if one is free; the first checkout is that seat.
func TestStandardFirstSignInAssignsTheDevicesSeat(t *testing.T) {
	f := memberFixture(t)
	f.s.accounts["acme"].Model = ModelStandard
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 1}})
	f.signIn("d1", "ann@acme.test")
	ls := f.s.Leases(LeaseFilter{})
	if len(ls) != 1 || ls[0].Device != "d1" || ls[0].Kind != KindNodeLocked {
		t.Fatalf("after ann's first sign-in on d1: %+v", ls)
	}
	f.signIn("d2", "bob@acme.test") // no free seat: the sign-in still works
	if r := f.checkoutSigned("d1", f.signIn("d1", "ann@acme.test")); r.Error != nil || r.Lease.ID != ls[0].ID {
		t.Fatalf("ann's checkout on d1: %+v %v", r.Lease, r.Error)
	}
	wantCode(t, f.checkoutSigned("d2", f.signIn("d2", "bob@acme.test")), protocol.CodeNoSeat)
}

// TestBrowserApprovedSignIn: a device asks, a member approves its code (any
// case, O for 0), and finishing makes a sign-in bound to the device; codes
// expire, and an unapproved approval does not finish.
func TestBrowserApprovedSignIn(t *testing.T) {
	f := memberFixture(t)
	start := func(id, dev, fp, code string) Result {
		return f.apply(Command{Type: CmdStartApproval, Payload: &DeviceApproval{ID: id, Account: "acme", Device: dev, KeyFingerprint: fp, UserCode: code}})
	}
	wantCode(t, start("a0", "d1", "fp2", "ABCD-0123"), protocol.CodeDeviceConflict)
	f.must(t, Command{Type: CmdStartApproval, Payload: &DeviceApproval{ID: "a1", Account: "acme", Device: "d1", KeyFingerprint: "fp1", UserCode: "ABCD-0123"}})
	wantCode(t, start("a2", "d2", "fp2", "abcd0123"), protocol.CodeAlreadyExists)
	finish := func(id string) Result {
		return f.apply(Command{Type: CmdFinishApproval, Payload: &FinishApproval{Account: "acme", ID: id, SignInID: "s-" + id, SecretHash: "h"}})
	}
	wantCode(t, finish("a1"), protocol.CodeApprovalPending)
	wantCode(t, f.apply(Command{Type: CmdApproveDevice, Payload: &ApproveDevice{Account: "acme", UserCode: "abcd-o123", Email: "new@acme.test"}}), protocol.CodeNotAMember)
	f.must(t, Command{Type: CmdApproveDevice, Payload: &ApproveDevice{Account: "acme", UserCode: "abcd-o123", Email: "ANN@acme.test"}})
	if r := finish("a1"); r.Error != nil {
		t.Fatal(r.Error)
	}
	if si, ok := f.s.SignIn("s-a1"); !ok || si.Email != "ann@acme.test" || si.Device != "d1" || si.KeyFingerprint != "fp1" {
		t.Fatalf("sign-in from the approval: %+v %v", si, ok)
	}
	wantCode(t, finish("a1"), protocol.CodeNotFound) // used once
	// A code not approved within ApprovalTTL is gone.
	f.must(t, Command{Type: CmdStartApproval, Payload: &DeviceApproval{ID: "a3", Account: "acme", Device: "d2", KeyFingerprint: "fp2", UserCode: "WXYZ-9876"}})
	f.now = f.now.Add(ApprovalTTL)
	wantCode(t, f.apply(Command{Type: CmdApproveDevice, Payload: &ApproveDevice{Account: "acme", UserCode: "WXYZ-9876", Email: "ann@acme.test"}}), protocol.CodeNotFound)
}
