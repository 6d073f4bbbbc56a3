package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func (f *fixture) setPolicy(t *testing.T, feature string, p Policy) {
	t.Helper()
	f.must(t, Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: feature, Policy: p}})
}

// checkoutAs checks out as user: signed in on dev when the account manages
// members, else the user is the server-side label.
func (f *fixture) checkoutAs(dev, user, team string) Result {
	c := &Checkout{Account: "acme", Device: dev, Feature: "cad", User: user, Team: team}
	if user != "" && f.s.managesMembers("acme") {
		c.SignIn, c.User = f.signIn(dev, user), ""
	}
	return f.apply(Command{Type: CmdCheckout, Payload: c})
}

func TestPolicyValidationChangesNothing(t *testing.T) {
	f := newFixture(t, 2, 1)
	for _, p := range []Policy{
		{LeaseTTL: time.Millisecond},
		{HeartbeatInterval: time.Hour},
		{BorrowDays: 365},
		{Reserve: []Reservation{{Kind: "group", Name: "x", Seats: 1}}},
		{Deny: []string{"alice"}},
		{Linger: -time.Second},
	} {
		r := f.apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Policy: p}})
		wantCode(t, r, protocol.CodeInvalidArgument)
	}
	wantCode(t, f.apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "nope"}}), protocol.CodeUnknownFeature)
	wantCode(t, f.apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "zzz"}}), protocol.CodeUnknownAccount)
	if len(f.s.pol.Policies) != 0 {
		t.Fatalf("a refused policy was stored: %+v", f.s.pol.Policies)
	}
}

func TestPolicyInheritance(t *testing.T) {
	f := newFixture(t, 2, 1)
	f.setPolicy(t, "", Policy{LeaseTTL: 30 * time.Second, Linger: time.Minute})
	f.setPolicy(t, "cad", Policy{LeaseTTL: 20 * time.Second})
	p := f.s.EffectivePolicy("acme", "cad")
	if p.LeaseTTL != 20*time.Second || p.Linger != time.Minute || p.HeartbeatInterval != 2*time.Second {
		t.Fatalf("effective policy %+v", p)
	}
	l := f.checkout("d1").Lease
	if got := l.Horizon.Sub(t0); got != 20*time.Second {
		t.Fatalf("horizon %v after checkout, want the pool policy's 20s", got)
	}
}

func TestDenyAllowAndTeamCap(t *testing.T) {
	f := newFixture(t, 5, 4)
	f.setPolicy(t, "cad", Policy{Deny: []string{"user:mallory"}, TeamCaps: map[string]int{"red": 1}})
	wantCode(t, f.checkoutAs("d1", "mallory", ""), protocol.CodePolicyDenied)
	if r := f.checkoutAs("d1", "alice", "red"); r.Error != nil {
		t.Fatal(r.Error)
	}
	wantCode(t, f.checkoutAs("d2", "bob", "red"), protocol.CodeTeamCapReached)
	f.setPolicy(t, "cad", Policy{Allow: []string{"device:d3"}})
	wantCode(t, f.checkoutAs("d2", "bob", ""), protocol.CodePolicyDenied)
	if r := f.checkoutAs("d3", "bob", ""); r.Error != nil {
		t.Fatal(r.Error)
	}
}

func TestReservations(t *testing.T) {
	f := newFixture(t, 3, 4)
	f.setPolicy(t, "cad", Policy{Reserve: []Reservation{{Kind: "user", Name: "vip", Seats: 1}, {Kind: "team", Name: "ops", Seats: 1}}})
	if r := f.checkoutAs("d1", "a", ""); r.Error != nil {
		t.Fatal(r.Error)
	}
	// One seat is free, but it is reserved twice over for others.
	wantCode(t, f.checkoutAs("d2", "b", ""), protocol.CodeNoSeat)
	if r := f.checkoutAs("d2", "vip", ""); r.Error != nil {
		t.Fatalf("the reserved user is refused: %v", r.Error)
	}
	if r := f.checkoutAs("d3", "c", "ops"); r.Error != nil {
		t.Fatalf("the reserved team is refused: %v", r.Error)
	}
}

func TestHardCapUnderTenSeats(t *testing.T) {
	f := newFixture(t, 2, 3)
	f.checkout("d1")
	f.checkout("d2")
	wantCode(t, f.checkout("d3"), protocol.CodeNoSeat)
	if f.s.accounts["acme"].Pools["cad"].OverSince != (time.Time{}) {
		t.Fatal("a hard-capped pool recorded an overage")
	}
}

func TestSoftCapOverageReminderAndGrace(t *testing.T) {
	f := newFixture(t, 10, 14)
	f.setPolicy(t, "cad", Policy{Overage: 3, LeaseTTL: 24 * time.Hour})
	for i := 1; i <= 10; i++ {
		if r := f.checkout(fmt.Sprintf("d%d", i)); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	f.now = t0.Add(time.Second)
	if r := f.checkout("d11"); r.Error != nil {
		t.Fatalf("soft cap refused the first seat over: %v", r.Error)
	}
	pool := f.s.accounts["acme"].Pools["cad"]
	if !pool.OverSince.Equal(f.now) {
		t.Fatalf("overage start %v, want %v", pool.OverSince, f.now)
	}
	ev := f.s.Events("acme", 0)
	if len(ev) != 1 || ev[0].Kind != "overage_started" {
		t.Fatalf("events %+v", ev)
	}
	// Keep every lease alive through the days below (renew on the way).
	renewAll := func() {
		var ids []uint64
		for id := range f.s.leases {
			ids = append(ids, id)
		}
		for _, id := range ids {
			l := f.s.leases[id]
			f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: l.Device, Leases: []uint64{id}}})
		}
	}
	f.now = t0.Add(20 * time.Hour)
	renewAll()
	f.now = t0.Add(25 * time.Hour)
	if got := f.s.PendingReminders(f.now); len(got) != 1 {
		t.Fatalf("pending reminders %+v", got)
	}
	f.must(t, Command{Type: CmdRemind})
	if got := f.s.PendingReminders(f.now); len(got) != 0 {
		t.Fatalf("a recorded reminder is still pending: %+v", got)
	}
	if ev := f.s.Events("acme", 1); len(ev) != 1 || ev[0].Kind != "overage_reminder" {
		t.Fatalf("events after a day %+v", ev)
	}
	renewAll()
	for f.now.Before(t0.Add(OverageGrace + 2*time.Second)) {
		f.now = f.now.Add(20 * time.Hour)
		renewAll()
	}
	wantCode(t, f.checkout("d12"), protocol.CodeOverageExpired)
	// Back under the seats: grants resume.
	for _, dev := range []string{"d10", "d11"} {
		for _, l := range f.s.DeviceLeases(DeviceRef{"acme", dev}) {
			f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: dev, LeaseID: l.ID}})
		}
	}
	if !pool.OverSince.IsZero() {
		t.Fatal("overage mark survived the pool going back under its seats")
	}
	if r := f.checkout("d12"); r.Error != nil {
		t.Fatalf("grants did not resume under the seats: %v", r.Error)
	}
}

func TestLingerGivesSeatBackToSameDevice(t *testing.T) {
	f := newFixture(t, 1, 2)
	f.setPolicy(t, "cad", Policy{Linger: time.Minute})
	l := f.checkout("d1").Lease
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: l.ID}})
	f.now = t0.Add(30 * time.Second)
	wantCode(t, f.checkout("d2"), protocol.CodeNoSeat)
	r := f.s.Apply(100, &Command{Type: CmdRenew, Now: f.now, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{l.ID}}})
	if r.Renewed[0].Error == nil || r.Renewed[0].Error.Code != protocol.CodeLeaseLingering {
		t.Fatalf("renewing a lingering lease: %+v", r.Renewed[0])
	}
	back := f.checkout("d1")
	if back.Error != nil || back.Lease.ID != l.ID || !back.Lease.LingerUntil.IsZero() {
		t.Fatalf("same device did not get its lingering lease back: %+v", back)
	}
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: l.ID}})
	f.now = t0.Add(30*time.Second + time.Minute + 3*time.Second)
	if r := f.checkout("d2"); r.Error != nil {
		t.Fatalf("seat did not free after the linger: %v", r.Error)
	}
}

func TestMaxCheckoutCapsHorizon(t *testing.T) {
	f := newFixture(t, 1, 1)
	f.setPolicy(t, "cad", Policy{MaxCheckout: 15 * time.Second})
	l := f.checkout("d1").Lease
	f.now = t0.Add(8 * time.Second)
	r := f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{l.ID}}})
	if h := r.Renewed[0].Lease.Horizon; !h.Equal(t0.Add(15 * time.Second)) {
		t.Fatalf("horizon %v passes the maximum checkout", h)
	}
	f.now = t0.Add(15 * time.Second)
	r = f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{l.ID}}})
	if e := r.Renewed[0].Error; e == nil || e.Code != protocol.CodeMaxCheckout {
		t.Fatalf("renew past the maximum checkout: %+v", r.Renewed[0])
	}
}

func TestBorrowing(t *testing.T) {
	f := newFixture(t, 1, 2)
	b := func(d time.Duration) Result {
		return f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", Borrow: d}})
	}
	wantCode(t, b(time.Hour), protocol.CodePolicyDenied)
	f.setPolicy(t, "cad", Policy{BorrowDays: 3})
	wantCode(t, b(4*24*time.Hour), protocol.CodeInvalidArgument)
	r := b(2 * 24 * time.Hour)
	if r.Error != nil || r.Lease.Kind != KindBorrowed || !r.Lease.Horizon.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("borrow: %+v %v", r.Lease, r.Error)
	}
	// The borrowed seat counts, and heartbeats do not move its horizon.
	wantCode(t, f.checkout("d2"), protocol.CodeNoSeat)
	f.now = t0.Add(time.Hour)
	rr := f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{r.Lease.ID}}})
	if !rr.Renewed[0].Lease.Horizon.Equal(r.Lease.Horizon) {
		t.Fatal("a borrowed lease was renewed")
	}
	// Early return frees the seat.
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: r.Lease.ID}})
	if r := f.checkout("d2"); r.Error != nil {
		t.Fatal(r.Error)
	}
}

func TestSubscriptionEndCapsHorizonAndGrants(t *testing.T) {
	f := newFixture(t, 2, 2)
	end := t0.Add(5 * time.Second)
	f.must(t, Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", SubscriptionEnd: end}})
	if l := f.checkout("d1").Lease; !l.Horizon.Equal(end) {
		t.Fatalf("token would outlive the subscription: horizon %v", l.Horizon)
	}
	f.now = end
	wantCode(t, f.checkout("d2"), protocol.CodeSubscriptionExpired)
}

func TestStandardModelNodeLocks(t *testing.T) {
	f := newFixture(t, 2, 3)
	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "std", Model: ModelStandard}})
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "std", Feature: "cad", Seats: 1}})
	f.must(t, Command{Type: CmdCreateEnrollToken, Payload: &EnrollToken{ID: "et2", Account: "std", Hash: "h", Expires: t0.Add(time.Hour)}})
	for _, d := range []string{"a", "b"} {
		f.must(t, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "std", TokenID: "et2", Code: d, KeyFingerprint: "fp" + d}})
	}
	co := func(dev string) Result {
		return f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "std", Device: dev, Feature: "cad"}})
	}
	l := co("a").Lease
	if l.Kind != KindNodeLocked {
		t.Fatalf("kind %s, want node-locked", l.Kind)
	}
	// Release and expiry keep it with the device.
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "std", Device: "a", LeaseID: l.ID}})
	f.now = t0.Add(time.Hour)
	f.must(t, Command{Type: CmdReclaim, Payload: &Reclaim{Leases: []uint64{l.ID}}})
	wantCode(t, co("b"), protocol.CodeNoSeat)
	if again := co("a"); again.Error != nil || again.Lease.ID != l.ID {
		t.Fatalf("device a lost its node-locked seat: %+v", again)
	}
	// The administrator moves it to b.
	f.must(t, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "std", Device: "a", To: "b"}))
	if got := co("b"); got.Error != nil || got.Lease.ID != l.ID {
		t.Fatalf("moved seat not on b: %+v", got)
	}
	wantCode(t, co("a"), protocol.CodeNoSeat)
	// Freeing it: the seat comes back after the horizon.
	f.must(t, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "std", Device: "b"}))
	f.now = f.now.Add(time.Hour)
	if got := co("a"); got.Error != nil || got.Lease.ID == l.ID {
		t.Fatalf("freed seat not reusable: %+v", got)
	}
}

func TestMixedModel(t *testing.T) {
	f := newFixture(t, 3, 3)
	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "mix", Model: ModelMixed}})
	f.s.accounts["acme"].Model = ModelMixed // the fixture's account
	f.setPolicy(t, "cad", Policy{NodeLocked: 1})
	kinds := []LeaseKind{f.checkout("d1").Lease.Kind, f.checkout("d2").Lease.Kind, f.checkout("d3").Lease.Kind}
	if kinds[0] != KindNodeLocked || kinds[1] != KindFloating || kinds[2] != KindFloating {
		t.Fatalf("kinds %v, want one node-locked then floating", kinds)
	}
}

func TestSameDeviceCodeInTwoAccounts(t *testing.T) {
	f := newFixture(t, 1, 1)
	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "other"}})
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "other", Feature: "cad", Seats: 1}})
	f.must(t, Command{Type: CmdCreateEnrollToken, Payload: &EnrollToken{ID: "et9", Account: "other", Hash: "h", Expires: t0.Add(time.Hour)}})
	// Same Device Code, different key: a different device in another account.
	f.must(t, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "other", TokenID: "et9", Code: "d1", KeyFingerprint: "other-key"}})
	a := f.checkout("d1")
	b := f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "other", Device: "d1", Feature: "cad"}})
	if a.Error != nil || b.Error != nil || a.Lease.ID == b.Lease.ID {
		t.Fatalf("two accounts' d1 did not get two leases: %+v %+v", a, b)
	}
	// Within one account the code is unique: another key is refused.
	r := f.apply(Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: "d1", KeyFingerprint: "other-key"}})
	wantCode(t, r, protocol.CodeDeviceConflict)
}

func TestPolicySnapshotRoundTrip(t *testing.T) {
	f := newFixture(t, 10, 12)
	f.setPolicy(t, "cad", Policy{Linger: time.Minute, Reserve: []Reservation{{Kind: "device", Name: "d1", Seats: 1}}, TeamCaps: map[string]int{"x": 2}})
	for i := 1; i <= 11; i++ {
		f.checkout(fmt.Sprintf("d%d", i))
	}
	a := snapshotBytes(t, f.s)
	n := New()
	if err := n.ReadSnapshot(bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	if b := snapshotBytes(t, n); !bytes.Equal(a, b) {
		t.Fatal("snapshot of a restored ledger differs")
	}
	if p, ok := n.StoredPolicy("acme", "cad"); !ok || p.Linger != time.Minute || len(n.Events("acme", 0)) != 1 {
		t.Fatalf("restored policy %+v events %+v", p, n.Events("acme", 0))
	}
}

// BenchmarkCheckoutWithPolicies measures one checkout and one release in a
// pool holding 200 leases, with deny/allow lists, a team cap, reservations
// and the soft cap evaluated (the team cap and reservations scan the pool).
func BenchmarkCheckoutWithPolicies(b *testing.B) {
	f := newFixture(b, 1000, 0)
	f.must(b, Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "cad", Policy: Policy{
		Deny: []string{"user:mallory", "device:bad"}, TeamCaps: map[string]int{"red": 500},
		Reserve: []Reservation{{Kind: "user", Name: "vip", Seats: 5}},
	}}})
	for i := 0; i < 1200; i++ {
		f.must(b, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: fmt.Sprintf("b%d", i), KeyFingerprint: "k"}})
	}
	for i := 1000; i < 1200; i++ {
		f.must(b, Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: fmt.Sprintf("b%d", i), Feature: "cad", Team: "red"}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dev := fmt.Sprintf("b%d", i%1000)
		f.idx++
		r := f.s.Apply(f.idx, &Command{Type: CmdCheckout, Now: t0, Payload: &Checkout{Account: "acme", Device: dev, Feature: "cad", Team: "red"}})
		if r.Error != nil {
			b.Fatal(r.Error)
		}
		f.idx++
		f.s.Apply(f.idx, &Command{Type: CmdRelease, Now: t0, Payload: &Release{Account: "acme", Device: dev, LeaseID: r.Lease.ID}})
	}
}

// TestTeamClaimsMustMatchMembership: once an account manages teams in
// Tally, a checkout naming a team must come from one of its members, so a
// team's reservation or cap cannot be taken or dodged by naming it.
func TestTeamClaimsMustMatchMembership(t *testing.T) {
	f := newFixture(t, 5, 4)
	f.setPolicy(t, "cad", Policy{Reserve: []Reservation{{Kind: "team", Name: "red", Seats: 1}}})
	// No teams in Tally yet: the team is the application's label.
	if r := f.checkoutAs("d1", "anyone", "red"); r.Error != nil {
		t.Fatal(r.Error)
	}
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 3})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "red"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", Teams: []string{"red"}})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test"})
	for _, c := range []struct{ dev, user, team, want string }{
		{"d2", "bob@acme.test", "red", "not a member of team red"},
		{"d2", "ann@acme.test", "blue", `no team "blue"`},
	} {
		r := f.checkoutAs(c.dev, c.user, c.team)
		wantCode(t, r, protocol.CodePolicyDenied)
		if !strings.Contains(r.Error.Message, c.want) {
			t.Fatalf("%s as %q of %q: %q does not say %q", c.dev, c.user, c.team, r.Error.Message, c.want)
		}
	}
	if r := f.checkoutAs("d2", "ANN@acme.test", "red"); r.Error != nil {
		t.Fatalf("a member of red: %v", r.Error)
	}
	// Without a signed-in member nobody names a team at all.
	wantCode(t, f.checkoutAs("d3", "", "red"), protocol.CodeNotSignedIn)
}

// TestRemoveDeviceRevokesAndAllowsReenrollment: a removed device's leases
// are revoked but keep their seats until horizon plus skew (S3), and the
// same Device Code then enrolls with a new key and cannot take the old
// lease back.
func TestRemoveDeviceRevokesAndAllowsReenrollment(t *testing.T) {
	f := newFixture(t, 1, 2)
	g := f.checkout("d1")
	enroll := func(fp string) Result {
		return f.apply(Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: "d1", KeyFingerprint: fp}})
	}
	wantCode(t, enroll("fp-new"), protocol.CodeDeviceConflict) // a clone, until an administrator acts
	unchangedBy(t, f, protocol.CodeNotFound, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "acme", Device: "nope", Remove: true}))
	r := f.must(t, legacyCmd(CmdDeviceOp, &DeviceOp{Account: "acme", Device: "d1", Remove: true}))
	if r.Device == nil || r.Device.Code != "d1" {
		t.Fatalf("remove answered %+v", r)
	}
	if l, _ := f.s.Lease(g.Lease.ID); !l.Revoked {
		t.Fatalf("the removed device's lease is not revoked: %+v", l)
	}
	if r := enroll("fp-new"); r.Error != nil {
		t.Fatalf("re-enrolment after removal: %v", r.Error)
	}
	// The one seat is still counted: the old token may be valid until its
	// horizon.
	wantCode(t, f.checkout("d1"), protocol.CodeNoSeat)
	f.now = g.Lease.Horizon.Add(3 * time.Second) // past horizon + skew (2s)
	if r := f.checkout("d1"); r.Error != nil || r.Lease.ID == g.Lease.ID {
		t.Fatalf("after the old horizon: %+v", r)
	}
}

// TestOverageRefusedUnderSoftCap: an overage on a pool under 10 seats
// would be ignored (its cap is hard), so it is refused with the rule and
// the stored policy does not change.
func TestOverageRefusedUnderSoftCap(t *testing.T) {
	s := New()
	var idx uint64
	apply := func(c Command) Result { idx++; c.Now = t0; return s.Apply(idx, &c) }
	apply(Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "acme"}})
	apply(Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "small", Seats: 9}})
	apply(Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "big", Seats: 10}})
	r := apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "small", Policy: Policy{Overage: 2}}})
	if r.Error == nil || r.Error.Code != protocol.CodeInvalidArgument || !strings.Contains(r.Error.Message, "under 10 seats has a hard cap") || !strings.Contains(r.Error.Message, "acme/small has 9 seats") {
		t.Fatalf("overage on a 9-seat pool: %+v", r.Error)
	}
	if p := s.pol.Policies[policyKey("acme", "small")]; p != nil {
		t.Fatalf("a refused policy was stored: %+v", p)
	}
	if r := apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "big", Policy: Policy{Overage: 2}}}); r.Error != nil {
		t.Fatalf("overage on a 10-seat pool: %v", r.Error)
	}
}
