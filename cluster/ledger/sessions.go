package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// A console session is an admin token issued to a member who signed in
// with their password. It lives in the ledger like any admin token, so it
// works on every node and survives leader changes, but it carries the
// member's email and an expiry, and its access role follows the member's
// role at every request (SessionAccess): deleting the member or changing
// their role ends the session at once.

// SessionTTL is how long a console session lasts.
const SessionTTL = 12 * time.Hour

// SessionAccess maps a member's role to what their console session may do.
// Team administrators among the other roles administer their teams;
// other members and pending invitees have no console: they use the
// application.
func SessionAccess(u UserView) (AccessRole, *protocol.Error) {
	if u.Status == StatusPending {
		return "", protocol.Errorf(protocol.CodeForbidden, "%s has not accepted the invitation yet", u.Email)
	}
	switch u.Role {
	case RoleOwner:
		return RoleAccountOwner, nil
	case RoleAdministrator, RoleAdminAssistant:
		return RoleAccountAdmin, nil
	}
	if len(u.AdminOf) > 0 {
		return RoleTeamAdmin, nil
	}
	if u.Role == RoleAssistant {
		return RoleReadOnly, nil
	}
	return "", protocol.Errorf(protocol.CodeForbidden, "%s is a %s: only owners, administrators, assistants and team administrators use the console", u.Email, u.Role)
}

// checkSession validates a session token at creation: the member exists in
// the token's account, may use the console, and gets exactly the access
// their role allows. It runs inside Apply, so it reads only the ledger.
func (s *State) checkSession(t *AdminToken) Result {
	if t.Account == "" || t.Expires.IsZero() {
		return fail(protocol.CodeInvalidArgument, "a session needs an account and an expiry")
	}
	u, ok := s.User(t.Account, t.Session)
	if !ok {
		return fail(protocol.CodeUnauthorized, "no member %s in account %s", t.Session, t.Account)
	}
	want, perr := SessionAccess(u)
	if perr != nil {
		return Result{Error: perr}
	}
	if t.TokenRole() != want {
		return fail(protocol.CodeInvalidArgument, "session of %s asks for role %s; a %s gets %s", t.Session, t.Role, u.Role, want)
	}
	return Result{}
}

// pruneSessions drops sessions that expired or were signed out before now.
// It runs when a token is created, with the command's time, so every
// replica prunes the same ones.
func (s *State) pruneSessions(now time.Time) {
	for id, t := range s.adminTokens {
		if t.Session != "" && (t.Revoked || !now.Before(t.Expires)) {
			delete(s.adminTokens, id)
		}
	}
}
