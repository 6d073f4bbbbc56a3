package adminapi

import (
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// A role grants only roles at or below its own: an account administrator
// cannot make an owner (who could then sign in as account-owner), a
// read-only token cannot mint an admin token. accessRank orders the access
// roles; a member's role is ranked by the access its console session gets.
func accessRank(r ledger.AccessRole) int {
	switch r {
	case ledger.RoleClusterAdmin:
		return 4
	case ledger.RoleAccountOwner:
		return 3
	case ledger.RoleAccountAdmin:
		return 2
	case ledger.RoleTeamAdmin:
		return 1
	}
	return 0
}

// memberRank is the rank of the access a member of role r gets.
func memberRank(r ledger.Role) int {
	switch r {
	case ledger.RoleOwner:
		return accessRank(ledger.RoleAccountOwner)
	case ledger.RoleAdministrator, ledger.RoleAdminAssistant:
		return accessRank(ledger.RoleAccountAdmin)
	}
	return 0
}

// Member operations that give a member a role, and those that act on an
// existing member's account (whose role must then be within the caller's).
var (
	grantsRole = map[ledger.CommandType]bool{ledger.CmdAddUser: true, ledger.CmdAddUsers: true, ledger.CmdInvite: true, ledger.CmdSetRole: true}
	actsOnUser = map[ledger.CommandType]bool{ledger.CmdSetRole: true, ledger.CmdSetPassword: true, ledger.CmdDeleteUser: true,
		ledger.CmdAcceptInvite: true, ledger.CmdCancelInvite: true, ledger.CmdSetTeamAdmin: true}
)

// checkMemberGrant refuses a member operation that would give someone more
// power than the caller has, or change the password, role or existence of a
// member above the caller.
func (a *api) checkMemberGrant(caller ledger.AdminToken, op ledger.CommandType, m memberArgs) error {
	rank := accessRank(caller.TokenRole())
	if grantsRole[op] {
		role := m.req.Role
		if role == "" {
			role = ledger.RoleMember
		}
		if memberRank(role) > rank {
			return protocol.Errorf(protocol.CodeForbidden, "a %s cannot make someone %s: a role grants only roles at or below its own", caller.TokenRole(), role)
		}
	}
	if actsOnUser[op] && m.email != "" {
		var target ledger.UserView
		var ok bool
		a.cfg.Store.Read(func(st *ledger.State) { target, ok = st.User(m.account, m.email) })
		if ok && memberRank(target.Role) > rank {
			return protocol.Errorf(protocol.CodeForbidden, "%s is %s, above a %s: only an owner or a cluster administrator may change them", target.Email, target.Role, caller.TokenRole())
		}
	}
	return nil
}

// checkTokenRank refuses an admin token above the caller's own role.
func checkTokenRank(caller, want ledger.AdminToken) error {
	if caller.ID == "" {
		return nil // not an API caller (tallyd's own bootstrap)
	}
	if accessRank(want.TokenRole()) > accessRank(caller.TokenRole()) {
		return protocol.Errorf(protocol.CodeForbidden, "a %s token cannot create a %s token: a role grants only roles at or below its own", caller.TokenRole(), want.TokenRole())
	}
	return nil
}
