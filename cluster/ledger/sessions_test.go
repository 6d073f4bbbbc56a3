package ledger

import (
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func session(id, email string, role AccessRole, expires time.Time) Command {
	return Command{Type: CmdCreateAdminToken, Payload: &AdminToken{ID: id, Hash: "h-" + id, Role: string(role), Account: "acme", Session: email, Expires: expires}}
}

func TestSessionsFollowTheMembersRole(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 3})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "own@acme.test", Role: RoleOwner})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "adm@acme.test", Role: RoleAdministrator})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ast@acme.test", Role: RoleAssistant})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "mem@acme.test", Role: RoleMember})
	mustMem(t, f, MembersOp{Op: MemInvite, Email: "new@acme.test", Role: RoleAssistant, Expires: f.now.Add(time.Hour)})
	exp := f.now.Add(SessionTTL)

	for _, c := range []struct {
		email string
		role  AccessRole
	}{{"own@acme.test", RoleAccountOwner}, {"adm@acme.test", RoleAccountAdmin}, {"ast@acme.test", RoleReadOnly}} {
		if r := f.apply(session("s-"+c.email, c.email, c.role, exp)); r.Error != nil {
			t.Fatalf("session of %s as %s: %v", c.email, c.role, r.Error)
		}
	}
	// Refused, changing nothing: a role the member does not have, a member
	// (no console), a pending invitee, a stranger, no expiry.
	unchangedBy(t, f, protocol.CodeInvalidArgument, session("x1", "adm@acme.test", RoleAccountOwner, exp))
	unchangedBy(t, f, protocol.CodeForbidden, session("x2", "mem@acme.test", RoleReadOnly, exp))
	unchangedBy(t, f, protocol.CodeForbidden, session("x3", "new@acme.test", RoleReadOnly, exp))
	unchangedBy(t, f, protocol.CodeUnauthorized, session("x4", "eve@acme.test", RoleReadOnly, exp))
	unchangedBy(t, f, protocol.CodeInvalidArgument, session("x5", "own@acme.test", RoleAccountOwner, time.Time{}))

	// Signing out removes the session outright; other tokens keep a
	// revoked tombstone.
	if r := f.apply(Command{Type: CmdRevokeAdminToken, Payload: &RevokeAdminToken{ID: "s-ast@acme.test"}}); r.Error != nil {
		t.Fatal(r.Error)
	}
	if _, ok := f.s.AdminToken("s-ast@acme.test"); ok {
		t.Fatal("a signed-out session is still in the ledger")
	}
	// Expired sessions are pruned when the next token is created, at the
	// command's time, so every replica drops the same ones.
	f.now = exp
	if r := f.apply(session("s-late", "own@acme.test", RoleAccountOwner, f.now.Add(SessionTTL))); r.Error != nil {
		t.Fatal(r.Error)
	}
	for _, id := range []string{"s-own@acme.test", "s-adm@acme.test"} {
		if _, ok := f.s.AdminToken(id); ok {
			t.Fatalf("expired session %s was not pruned", id)
		}
	}
	if _, ok := f.s.AdminToken("s-late"); !ok {
		t.Fatal("the new session is missing")
	}
}

func TestTeamAdministratorsAreMembersOfTheirTeams(t *testing.T) {
	f := newFixture(t, 1, 0)
	mustMem(t, f, MembersOp{Op: MemSetSeats, Seats: 2})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "sales"})
	mustMem(t, f, MembersOp{Op: MemCreateTeam, Team: "ops"})
	mustMem(t, f, MembersOp{Op: MemAddUser, Email: "ann@acme.test", Teams: []string{"sales", "ops"}})
	memRefused(t, f, protocol.CodeNotFound, MembersOp{Op: MemSetTeamAdmin, Email: "ann@acme.test", Team: "nope", TeamAdmin: true}, "no team")
	mustMem(t, f, MembersOp{Op: MemSetTeamAdmin, Email: "ann@acme.test", Team: "sales", TeamAdmin: true})
	mustMem(t, f, MembersOp{Op: MemSetTeamAdmin, Email: "ann@acme.test", Team: "ops", TeamAdmin: true})
	u, _ := f.s.User("acme", "ann@acme.test")
	if access, err := SessionAccess(u); err != nil || access != RoleTeamAdmin || len(u.AdminOf) != 2 {
		t.Fatalf("ann: %+v access %v %v", u, access, err)
	}
	// Leaving a team, or its deletion, ends administering it.
	mustMem(t, f, MembersOp{Op: MemTeamRemove, Email: "ann@acme.test", Team: "ops"})
	mustMem(t, f, MembersOp{Op: MemDeleteTeam, Team: "sales"})
	u, _ = f.s.User("acme", "ann@acme.test")
	if len(u.AdminOf) != 0 {
		t.Fatalf("ann still administers %v", u.AdminOf)
	}
	if _, err := SessionAccess(u); err == nil {
		t.Fatal("a plain member got a console session")
	}
	memRefused(t, f, protocol.CodeNotAllowed, MembersOp{Op: MemSetTeamAdmin, Email: "ann@acme.test", Team: "ops", TeamAdmin: true}, "not in team ops")
	// A team-admin token must be a session.
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdCreateAdminToken, Payload: &AdminToken{ID: "t", Hash: "h", Role: string(RoleTeamAdmin), Account: "acme"}})
}
