package ledger

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func mem(f *fixture, op MembersOp) Result {
	op.Account = "acme"
	return f.apply(legacyCmd(CmdMembers, &op))
}

func mustMem(t *testing.T, f *fixture, op MembersOp) *MembersResult {
	t.Helper()
	r := mem(f, op)
	if r.Error != nil {
		t.Fatalf("%s: %v", op.Op, r.Error)
	}
	return r.Members
}

// memRefused applies op and fails unless it is refused with code, names
// every want in its message, and changes nothing.
func memRefused(t *testing.T, f *fixture, code protocol.Code, op MembersOp, want ...string) {
	t.Helper()
	op.Account = "acme"
	e := unchangedBy(t, f, code, legacyCmd(CmdMembers, &op))
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Fatalf("%s refusal %q does not say %q", op.Op, e.Message, w)
		}
	}
}

func usage(t *testing.T, f *fixture) MemberUsage {
	t.Helper()
	u, ok := f.s.MemberUsage("acme")
	if !ok {
		t.Fatal("no usage for acme")
	}
	return u
}

func TestUsersEmailsRolesAndSeats(t *testing.T) {
	f := newFixture(t, 1, 0)
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemAddUser, Email: "ann@acme.test"}, "0 of 0 seats")
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 2})
	u := mustMem(t, f, MembersOp{Op: MemAddUser, Email: "Ann@Acme.test", Role: RoleOwner, PasswordHash: "$argon2id$x"}).User
	if u.Email != "ann@acme.test" || !u.ConsumesSeat || u.Status != StatusActive || !u.HasPassword {
		t.Fatalf("owner: %+v", u)
	}
	memRefused(t, f, protocol.CodeAlreadyExists, MembersOp{Op: MemAddUser, Email: "ANN@acme.test"}, "already exists")
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemAddUser, Email: "nope"}, "not an email")
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemAddUser, Email: "x@acme.test", Role: "boss"}, "unknown role")
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test", Role: RoleAdministrator})
	// Full: a consuming role is refused, assistants join without a seat.
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemAddUser, Email: "cid@acme.test", Role: RoleMember}, "2 of 2 seats")
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "asa@acme.test", Role: RoleAdminAssistant})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ast@acme.test", Role: RoleAssistant})
	if u := usage(t, f); u.Active != 2 || u.NonConsuming != 2 || u.Unused != 0 {
		t.Fatalf("usage: %+v", u)
	}
	// An assistant promoted to a consuming role needs a seat.
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemSetRole, Email: "ast@acme.test", Role: RoleMember})
	// Deleting a user returns the seat.
	mustMem(t, f, MembersOp{Op: MemDeleteUser, Email: "bob@acme.test"})
	mustMem(t, f, MembersOp{Op: MemSetRole, Email: "ast@acme.test", Role: RoleMember})
	if h, ok := f.s.PasswordHash("acme", "ANN@acme.test"); !ok || h != "$argon2id$x" {
		t.Fatalf("password hash: %q %v", h, ok)
	}
}

func TestAssistantsCannotHoldLicenses(t *testing.T) {
	f := licFixture(t, 3, 3)
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ast@acme.test", Role: RoleAssistant})
	e := unchangedBy(t, f, protocol.CodeNotAllowed, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "developer", User: "ast@acme.test"}))
	if !strings.Contains(e.Message, "cannot be a participating member") {
		t.Fatal(e)
	}
	unchangedBy(t, f, protocol.CodeNotFound, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "developer", User: "stranger@acme.test"}))
	// A license holder cannot become an assistant, nor be deleted.
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "ann@acme.test"})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemSetRole, Email: "ann@acme.test", Role: RoleAssistant}, "holds license")
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemDeleteUser, Email: "ann@acme.test"}, "holds license")
	// CSV rows naming an assistant fail.
	r := f.apply(Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "phone_system", Rows: []AssignmentRow{row("101", "", "ast@acme.test")}}})
	if r.Import == nil || len(r.Import.Errors) != 1 || r.Import.Errors[0].Kind != RowNotLicensable {
		t.Fatalf("import: %+v %v", r.Import, r.Error)
	}
}

func TestTeamsOneSeatUnassignedDelete(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 3})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "sales"})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "support"})
	memRefused(t, f, protocol.CodeAlreadyExists, MembersOp{Op: MemCreateTeam, Team: "sales"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", Teams: []string{"sales", "support"}})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test", Teams: []string{"sales"}})
	u := usage(t, f)
	if u.Active != 2 || u.Unused != 1 || len(u.Teams) != 2 || u.Teams[0].Seats != 2 || u.Teams[1].Seats != 1 {
		t.Fatalf("two teams, one seat each: %+v", u)
	}
	mustMem(t, f, MembersOp{Op: MemTeamRemove, Email: "ann@acme.test", Team: "sales"})
	if v := mustMem(t, f, MembersOp{Op: MemTeamRemove, Email: "ann@acme.test", Team: "support"}).User; v.Status != StatusUnassigned {
		t.Fatalf("removed from every team: %+v", v)
	}
	if u := usage(t, f); u.Active != 2 || u.Unassigned != 1 || u.Unused != 1 {
		t.Fatalf("unassigned still holds a seat: %+v", u)
	}
	if v := mustMem(t, f, MembersOp{Op: MemTeamAdd, Email: "ann@acme.test", Team: "support"}).User; v.Status != StatusActive {
		t.Fatalf("back in a team: %+v", v)
	}
	mustMem(t, f, MembersOp{Op: MemDeleteTeam, Team: "sales"})
	if v, _ := f.s.User("acme", "bob@acme.test"); v.Status != StatusUnassigned {
		t.Fatalf("team deleted: %+v", v)
	}
	mustMem(t, f, MembersOp{Op: MemDeleteUser, Email: "bob@acme.test"})
	if u := usage(t, f); u.Active != 1 || u.Unused != 2 {
		t.Fatalf("deleted user returns the seat: %+v", u)
	}
}

func TestInvitations(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 2})
	exp := t0.Add(time.Hour)
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemInvite, Email: "ann@acme.test", Expires: t0}, "expiry")
	if v := mustMem(t, f, MembersOp{Op: MemInvite, Email: "ann@acme.test", Expires: exp}).User; v.Status != StatusPending {
		t.Fatalf("invited: %+v", v)
	}
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "bob@acme.test", Expires: exp})
	if u := usage(t, f); u.Pending != 2 || u.Active != 0 || u.Unused != 0 {
		t.Fatalf("pending holds seats: %+v", u)
	}
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemInvite, Email: "cid@acme.test", Expires: exp}, "full", "2 pending")
	// Assistants are invited without a seat.
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "ast@acme.test", Role: RoleAssistant, Expires: exp})
	if _, ok := f.s.PasswordHash("acme", "ann@acme.test"); ok {
		t.Fatal("a pending user can sign in")
	}
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemAccept, Email: "ann@acme.test"}, "password")
	if v := mustMem(t, f, MembersOp{Op: MemAccept, Email: "ann@acme.test", PasswordHash: "$argon2id$h"}).User; v.Status != StatusActive {
		t.Fatalf("accepted: %+v", v)
	}
	memRefused(t, f, protocol.CodeAlreadyExists, MembersOp{Op: MemAccept, Email: "ann@acme.test", PasswordHash: "h"})
	mustMem(t, f, MembersOp{Op: MemCancelInvite, Email: "bob@acme.test"})
	if u := usage(t, f); u.Pending != 0 || u.Active != 1 || u.Unused != 1 {
		t.Fatalf("cancel frees the seat: %+v", u)
	}
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "cid@acme.test", Expires: exp})
	// Expiry: accepting late fails; the leader's reap frees the seat.
	f.now = exp
	memRefused(t, f, protocol.CodeInvitationExpired, MembersOp{Op: MemAccept, Email: "cid@acme.test", PasswordHash: "h"}, "expired")
	if expire, _ := f.s.MembersDue(f.now); len(expire) != 1 || expire[0] != "acme" {
		t.Fatalf("due: %v", expire)
	}
	r := mustMem(t, f, MembersOp{Op: MemExpireInvites})
	if strings.Join(r.Changed, ",") != "ast@acme.test,cid@acme.test" {
		t.Fatalf("expired: %v", r.Changed)
	}
	if u := usage(t, f); u.Pending != 0 || u.Unused != 1 {
		t.Fatalf("expiry frees the seat: %+v", u)
	}
	if expire, _ := f.s.MembersDue(f.now); len(expire) != 0 {
		t.Fatalf("still due: %v", expire)
	}
}

func TestSeatPolicyActivation(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 2})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemActivate, Email: "ann@acme.test"}, "no seat assignment policy")
	mustMem(t, f, MembersOp{Op: MemSetPolicy, Policy: &SeatPolicy{Mode: "domain", Domain: "@Acme.test"}})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemActivate, Email: "eve@evil.test"}, "not in domain acme.test")
	if r := mustMem(t, f, MembersOp{Op: MemActivate, Email: "ann@acme.test", Device: "d1"}); !r.Joined || r.User.Role != RoleMember || !r.User.Activated {
		t.Fatalf("domain join: %+v", r)
	}
	if r := mustMem(t, f, MembersOp{Op: MemActivate, Email: "ann@acme.test"}); r.Joined {
		t.Fatal("second activation joined again")
	}
	mustMem(t, f, MembersOp{Op: MemActivate, Email: "bob@acme.test"})
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemActivate, Email: "cid@acme.test"}, "full")
	// A removed user re-joins by activating again.
	mustMem(t, f, MembersOp{Op: MemDeleteUser, Email: "bob@acme.test"})
	if r := mustMem(t, f, MembersOp{Op: MemActivate, Email: "bob@acme.test"}); !r.Joined {
		t.Fatal("removed user did not re-join")
	}
	// With a list only listed users join.
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 5})
	mustMem(t, f, MembersOp{Op: MemSetPolicy, Policy: &SeatPolicy{Mode: "list", Emails: []string{"Dan@Acme.test"}}})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemActivate, Email: "cid@acme.test"}, "not on the seat list")
	mustMem(t, f, MembersOp{Op: MemActivate, Email: "dan@acme.test"})
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemSetPolicy, Policy: &SeatPolicy{Mode: "everyone"}})
	// Existing members sign in whatever the policy; activation answers a
	// pending invitation.
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "out@elsewhere.test", Expires: t0.Add(time.Hour)})
	if r := mustMem(t, f, MembersOp{Op: MemActivate, Email: "out@elsewhere.test"}); !r.Joined || r.User.Status != StatusActive {
		t.Fatalf("invited user activating: %+v", r)
	}
}

func TestSeatCountsHardAndSoftCap(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 3})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "a@acme.test"})
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "b@acme.test", Expires: t0.Add(time.Hour)})
	memRefused(t, f, protocol.CodeSeatsInUse, MembersOp{Op: MemSetSeats, Seats: 1}, "2 in use (1 active, 1 pending)")
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 2})
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemSetSeats, Seats: -1})
	// Soft cap from 10 seats: going over is allowed and recorded.
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 10})
	var emails []string
	for _, c := range "cdefghij" {
		emails = append(emails, string(c)+"@acme.test")
	}
	mustMem(t, f, MembersOp{Op: MemAddUsers, Emails: emails})
	if u := usage(t, f); u.Unused != 0 || !u.OverSince.IsZero() || u.HardCap {
		t.Fatalf("at 10/10: %+v", u)
	}
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "k@acme.test"})
	u := usage(t, f)
	if u.Over != 1 || !u.OverSince.Equal(t0) {
		t.Fatalf("over the soft cap: %+v", u)
	}
	// After the grace, no more members; back within seats clears it.
	f.now = t0.Add(OverageGrace)
	memRefused(t, f, protocol.CodeNoSeat, MembersOp{Op: MemAddUser, Email: "l@acme.test"}, "grace has passed")
	mustMem(t, f, MembersOp{Op: MemDeleteUser, Email: "k@acme.test"})
	if u := usage(t, f); u.Over != 0 || !u.OverSince.IsZero() {
		t.Fatalf("back within seats: %+v", u)
	}
}

func TestSubscriptionTeamsSharePlan(t *testing.T) {
	f := newFixture(t, 1, 0)
	end := t0.Add(30 * 24 * time.Hour)
	mustMem(t, f, MembersOp{Op: MemSetSubscription, Plan: "pro", PeriodStart: t0, PeriodEnd: end})
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 5})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "sales"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", Teams: []string{"sales"}})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "bob@acme.test", Teams: []string{"sales"}})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "cid@acme.test"})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemSetUserPlan, Email: "ann@acme.test", Plan: "enterprise"}, "team sales would be split")
	mustMem(t, f, MembersOp{Op: MemSetUserPlan, Email: "cid@acme.test", Plan: "enterprise"})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemTeamAdd, Email: "cid@acme.test", Team: "sales"}, "split")
	// The whole team moves together.
	r := mustMem(t, f, MembersOp{Op: MemSetTeamPlan, Team: "sales", Plan: "enterprise"})
	if len(r.Changed) != 2 {
		t.Fatal(r.Changed)
	}
	mustMem(t, f, MembersOp{Op: MemTeamAdd, Email: "cid@acme.test", Team: "sales"})
	// ann in two teams: moving one team alone would split the other.
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "ops"})
	mustMem(t, f, MembersOp{Op: MemTeamAdd, Email: "ann@acme.test", Team: "ops"})
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemSetTeamPlan, Team: "ops", Plan: "basic"}, "split")
	if a, _ := f.s.Account("acme"); !a.SubscriptionEnd.Equal(end) {
		t.Fatalf("account subscription end %v", a.SubscriptionEnd)
	}
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemSetSubscription, Renewal: "forever"})
}

func TestRenewalKeepAndShrink(t *testing.T) {
	f := newFixture(t, 1, 0)
	end := t0.Add(24 * time.Hour)
	mustMem(t, f, MembersOp{Op: MemSetSubscription, Plan: "pro", PeriodStart: t0, PeriodEnd: end, Renewal: RenewKeepSeats})
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 8})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "a@acme.test"})
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "b@acme.test", Expires: end.Add(time.Hour)})
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemRenew}, "not due")
	f.now = end
	if _, renew := f.s.MembersDue(f.now); len(renew) != 1 {
		t.Fatal("renewal not due at period end")
	}
	r := mustMem(t, f, MembersOp{Op: MemRenew})
	if r.Renewal.SeatsAfter != 8 || !r.Renewal.NewEnd.Equal(end.Add(24*time.Hour)) {
		t.Fatalf("keep seats: %+v", r.Renewal)
	}
	mustMem(t, f, MembersOp{Op: MemSetSubscription, Renewal: RenewShrinkAllocated})
	f.now = end.Add(24 * time.Hour)
	r = mustMem(t, f, MembersOp{Op: MemRenew})
	if r.Renewal.SeatsBefore != 8 || r.Renewal.SeatsAfter != 2 {
		t.Fatalf("shrink to active+pending: %+v", r.Renewal)
	}
	u := usage(t, f)
	if u.Purchased != 2 || u.Unused != 0 || u.LastRenewal == nil || !u.Subscription.End.Equal(end.Add(48*time.Hour)) {
		t.Fatalf("usage after renewal: %+v", u)
	}
}

func TestMembersSnapshotRoundTrip(t *testing.T) {
	build := func() *fixture {
		f := newFixture(t, 1, 0)
		mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 4})
		mustMem(t, f, MembersOp{Op: MemSetSubscription, Plan: "pro", PeriodEnd: t0.Add(time.Hour)})
		mustMem(t, f, MembersOp{Op: MemSetPolicy, Policy: &SeatPolicy{Mode: "domain", Domain: "acme.test"}})
		mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "sales"})
		mustMem(t, f, MembersOp{Op: MemAddUser, Email: "a@acme.test", Teams: []string{"sales"}, PasswordHash: "$argon2id$z"})
		mustMem(t, f, MembersOp{Op: MemInvite, Email: "b@acme.test", Expires: t0.Add(time.Hour)})
		mustMem(t, f, MembersOp{Op: MemActivate, Email: "c@acme.test"})
		return f
	}
	f := build()
	// Deterministic: the same commands give byte-identical ledgers.
	if !bytes.Equal(snapshotBytes(t, f.s), snapshotBytes(t, build().s)) {
		t.Fatal("two ledgers applying the same members commands differ")
	}
	before := snapshotBytes(t, f.s)
	c := New()
	if err := c.ReadSnapshot(bytes.NewReader(before)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, snapshotBytes(t, c)) {
		t.Fatal("members snapshot round trip differs")
	}
	if u, _ := c.MemberUsage("acme"); u.Active != 2 || u.Pending != 1 || u.Policy.Domain != "acme.test" {
		t.Fatalf("restored usage: %+v", u)
	}
	// A refused first members command leaves no trace.
	g := newFixture(t, 1, 0)
	unchangedBy(t, g, protocol.CodeNoSeat, legacyCmd(CmdMembers, &MembersOp{Op: MemAddUser, Account: "acme", Email: "a@acme.test"}))
}

func TestAdministratorAddressHoldsNoSeat(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetAdminEmail, Email: "IT@acme.test"})
	memRefused(t, f, protocol.CodeInvalidArgument, MembersOp{Op: MemSetAdminEmail, Email: "not an address"})
	if u := usage(t, f); u.AdminEmail != "it@acme.test" || u.AdminHoldsSeat || u.Purchased != 0 {
		t.Fatalf("role-based address: %+v", u)
	}
	// Only when a seat-consuming user has the address does it hold a seat.
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 1})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "it@acme.test", Role: RoleAdministrator})
	if u := usage(t, f); !u.AdminHoldsSeat || u.Active != 1 {
		t.Fatalf("administrator user: %+v", u)
	}
}
