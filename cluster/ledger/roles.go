package ledger

import (
	"sort"

	"github.com/tally-licensing/tally/protocol"
)

// AccessRole is what an admin API token (or a member's console session)
// may do. It is distinct from a member's Role in an account (members.go),
// which decides seats; sessions map one onto the other.
type AccessRole string

const (
	// RoleClusterAdmin may do everything; tokens from before roles existed
	// (empty role) are cluster admins.
	RoleClusterAdmin AccessRole = "cluster-admin"
	// RoleAccountOwner manages everything in one account, including its
	// admin tokens of any account role.
	RoleAccountOwner AccessRole = "account-owner"
	// RoleAccountAdmin manages everything in one account but cannot create
	// owner tokens.
	RoleAccountAdmin AccessRole = "account-admin"
	// RoleReadOnly sees (one account, or the whole cluster when unscoped)
	// without changing anything.
	RoleReadOnly AccessRole = "read-only"
	// RoleTeamAdmin sees its account like read-only and changes only the
	// membership and invitations of the teams its member administers
	// (User.AdminOf). Only console sessions have it.
	RoleTeamAdmin AccessRole = "team-admin"
)

// AccessRoles lists the valid access roles.
var AccessRoles = []AccessRole{RoleClusterAdmin, RoleAccountOwner, RoleAccountAdmin, RoleReadOnly}

// TokenRole is the token's effective role.
func (t AdminToken) TokenRole() AccessRole {
	if t.Role == "" {
		return RoleClusterAdmin
	}
	return AccessRole(t.Role)
}

// checkTokenScope refuses a role/account combination that makes no sense:
// account roles need an existing account, the cluster admin has none.
func (s *State) checkTokenScope(t *AdminToken) Result {
	switch t.TokenRole() {
	case RoleClusterAdmin:
		if t.Account != "" {
			return fail(protocol.CodeInvalidArgument, "a cluster-admin token cannot be scoped to account %q; use account-owner or account-admin", t.Account)
		}
	case RoleAccountOwner, RoleAccountAdmin:
		if t.Account == "" {
			return fail(protocol.CodeInvalidArgument, "role %s needs an account", t.Role)
		}
	case RoleReadOnly:
	case RoleTeamAdmin:
		if t.Session == "" || t.Account == "" {
			return fail(protocol.CodeInvalidArgument, "role team-admin is given to team administrators' console sessions only")
		}
	default:
		return fail(protocol.CodeInvalidArgument, "unknown role %q (want cluster-admin, account-owner, account-admin or read-only)", t.Role)
	}
	if t.Account != "" {
		if _, ok := s.accounts[t.Account]; !ok {
			return fail(protocol.CodeUnknownAccount, "no account %q", t.Account)
		}
	}
	return Result{}
}

// AdminTokens lists admin tokens (without their hashes), of one account or
// all when account is empty, sorted by ID.
func (s *State) AdminTokens(account string) []AdminToken {
	var out []AdminToken
	for _, t := range s.adminTokens {
		if account != "" && t.Account != account {
			continue
		}
		c := *t
		c.Hash = ""
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
