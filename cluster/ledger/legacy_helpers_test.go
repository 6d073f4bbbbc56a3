package ledger

import (
	"encoding/json"
	"fmt"
)

// The member, license and device seat tests were written when each of those
// was one catch-all command with an op field (log format 1). They still
// build their commands that way, and legacyCmd turns each into the
// operation's own typed command through the log's format 1 decoder, so
// every one of those tests also checks that an entry written by the
// previous release means exactly what it meant.

type (
	MembersOp     = legacyMembersOp
	LicenseOp     = legacyLicenseOp
	DeviceOp      = legacyDeviceOp
	LicenseOpKind = string
)

// Format 1's member operations.
const (
	MemAddUser         = "add_user"
	MemAddUsers        = "add_users"
	MemSetRole         = "set_role"
	MemSetPassword     = "set_password"
	MemDeleteUser      = "delete_user"
	MemInvite          = "invite"
	MemAccept          = "accept"
	MemCancelInvite    = "cancel_invite"
	MemExpireInvites   = "expire_invites"
	MemCreateTeam      = "create_team"
	MemDeleteTeam      = "delete_team"
	MemTeamAdd         = "team_add"
	MemTeamRemove      = "team_remove"
	MemSetPolicy       = "set_policy"
	MemActivate        = "activate"
	MemSetSeats        = "set_seats"
	MemSetSubscription = "set_subscription"
	MemSetUserPlan     = "set_user_plan"
	MemSetTeamPlan     = "set_team_plan"
	MemRenew           = "renew"
	MemSetAdminEmail   = "set_admin_email"
	MemSetTeamAdmin    = "set_team_admin"
)

// Format 1's license operations.
const (
	OpAssign       = "assign"
	OpUnassign     = "unassign"
	OpReassign     = "reassign"
	OpAttach       = "attach"
	OpDetach       = "detach"
	OpSetExtension = "set_extension"
	OpTerminate    = "terminate"
)

// legacyCmd is the command a format 1 log entry of group with payload p
// decodes to, to be applied with today's rules (Format cleared): the tests
// using it check rules that are newer than format 1 too. Format 1's own
// rules are checked in format_test.go.
func legacyCmd(group CommandType, p any) Command {
	raw, err := json.Marshal(map[string]any{"type": group, string(group): p})
	if err != nil {
		panic(err)
	}
	c, err := DecodeCommand(raw)
	if err != nil {
		panic(fmt.Sprintf("format 1 entry %s: %v", raw, err))
	}
	c.Format = 0
	return *c
}
