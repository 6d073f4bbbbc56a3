package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// spec is everything the ledger knows about one command type. A command is
// added by writing its payload type and apply function and adding one entry
// to registry below; nothing else switches over the command set.
type spec struct {
	// payload returns an empty payload to decode a log entry into; nil for
	// a command that takes none.
	payload func() any
	// apply changes the state. It receives a command whose Payload has
	// already been checked to be the spec's type.
	apply func(s *State, c *Command) Result
	// describe returns the account the command concerns and a one-line
	// summary for the audit log. It never includes secrets.
	describe func(c *Command) (account, summary string)
	// actor names who caused the command when the proposer did not say
	// (Command.Actor empty); nil means "system".
	actor func(c *Command) string

	// How the command is written to the log (log.go).
	log logForm
}

// logForm says how a command is written to the Raft log.
type logForm struct {
	// since is the log format that introduced the command: a node that
	// reads only older formats stops at it rather than skip it.
	since int
	// group and op: format 1 wrote member, license and device seat
	// operations as one command type with an op field; entries of those
	// operations are still written that way, so that a node of the
	// previous release applies them during a rolling upgrade.
	group CommandType
	op    string
	// legacyBy: format 1 payloads of this command may carry a "by" field
	// (an actor field since removed); byIsActor makes it the command's
	// actor when the entry names none, as format 1 did.
	legacyBy, byIsActor bool
	// ignorable entries may be skipped by a node that does not know their
	// type or format (Nomad's IgnoreUnknownTypeFlag): only for commands
	// whose loss changes nothing another command relies on.
	ignorable bool
}

// registry is the ledger's command set.
var registry = map[CommandType]spec{
	CmdBootstrap:         command((*State).bootstrap, (*Bootstrap).describe, nil),
	CmdSetSettings:       command((*State).setSettings, (*Settings).describe, nil),
	CmdRegisterKey:       command((*State).registerKey, (*SigningKey).describe, nil),
	CmdCreateAdminToken:  command((*State).createAdminToken, (*AdminToken).describe, nil),
	CmdRevokeAdminToken:  command((*State).revokeAdminToken, (*RevokeAdminToken).describe, nil),
	CmdCreateAccount:     command((*State).createAccount, (*CreateAccount).describe, nil),
	CmdSetPool:           command((*State).setPool, (*SetPool).describe, nil),
	CmdCreateEnrollToken: command((*State).createEnrollToken, (*EnrollToken).describe, nil),
	CmdRevokeEnrollToken: command((*State).revokeEnrollToken, (*RevokeEnrollToken).describe, nil),
	CmdEnrollDevice:      command((*State).enrollDevice, (*EnrollDevice).describe, (*EnrollDevice).actor),
	CmdCheckout:          command((*State).checkoutCounted, (*Checkout).describe, (*Checkout).actor),
	CmdRenew:             command((*State).renew, (*Renew).describe, (*Renew).actor),
	CmdRelease:           command((*State).release, (*Release).describe, (*Release).actor),
	CmdRevoke:            command((*State).revoke, (*Revoke).describe, nil).withBy(true),
	CmdReclaim:           command((*State).reclaim, (*Reclaim).describe, nil),
	CmdRegisterNode:      command((*State).registerNode, (*Node).describe, nil),
	CmdRemoveNode:        command((*State).removeNode, (*RemoveNode).describe, nil),
	CmdRemind:            {apply: func(s *State, c *Command) Result { return s.remind(c.Now) }, describe: func(*Command) (string, string) { return "", string(CmdRemind) }},

	CmdSetProduct:        command((*State).setProduct, (*SetProduct).describe, nil).withBy(false),
	CmdImportAssignments: command((*State).importAssignments, (*ImportAssignments).describe, nil).withBy(true),
	CmdAssignLicense:     command((*State).assignLicense, (*AssignLicense).describe, nil).inGroup(CmdLicense, "assign"),
	CmdUnassignLicense:   command((*State).unassignLicense, (*UnassignLicense).describe, nil).inGroup(CmdLicense, "unassign"),
	CmdReassignLicense:   command((*State).reassignLicense, (*ReassignLicense).describe, nil).inGroup(CmdLicense, "reassign"),
	CmdAttachAddOn:       command((*State).attachAddOn, (*AttachAddOn).describe, nil).inGroup(CmdLicense, "attach"),
	CmdDetachAddOn:       command((*State).detachAddOn, (*DetachAddOn).describe, nil).inGroup(CmdLicense, "detach"),
	CmdSetExtension:      command((*State).setExtension, (*SetExtension).describe, nil).inGroup(CmdLicense, "set_extension"),
	CmdTerminateLicense:  command((*State).terminateLicense, (*TerminateLicense).describe, nil).inGroup(CmdLicense, "terminate"),
	// operator: terminate.go, display_name.go, onboard.go, seat_requests.go, prices.go
	CmdRequestSeats:              command((*State).requestSeats, (*RequestSeats).describe, nil).since(2),
	CmdSetPrices:                 command((*State).setPrices, (*SetPrices).describe, nil).since(2),
	CmdCreateAccountWithAdmin:    command((*State).createAccountWithAdmin, (*CreateAccountWithAdmin).describe, nil).since(2),
	CmdSetDisplayName:            command((*State).setDisplayName, (*SetDisplayName).describe, nil).since(2),
	CmdTerminateLicenseConfirmed: command((*State).terminateLicenseConfirmed, (*TerminateLicenseConfirmed).describe, nil).since(2),

	CmdSetPolicy:         command((*State).setPolicy, (*SetPolicy).describe, nil).withBy(false),
	CmdFreeSeats:         command((*State).freeSeats, (*FreeSeats).describe, nil).inGroup(CmdDeviceOp, ""),
	CmdMoveSeats:         command((*State).moveSeats, (*MoveSeats).describe, nil).inGroup(CmdDeviceOp, ""),
	CmdRemoveDevice:      command((*State).removeDevice, (*RemoveDevice).describe, nil).inGroup(CmdDeviceOp, ""),
	CmdClaimNotification: command((*State).claimNotification, (*NotificationClaim).describe, nil),
	CmdNotificationDone:  command((*State).notificationDone, (*NotificationDone).describe, nil),

	// New in log format 2 (signins.go).
	CmdDeviceSignIn:  command((*State).deviceSignIn, (*DeviceSignIn).describe, (*DeviceSignIn).actor).since(2),
	CmdDeviceSignOut: command((*State).deviceSignOut, (*DeviceSignOut).describe, nil).since(2),
	CmdDeviceSeen:    command((*State).deviceSeen, (*DeviceSeen).describe, nil).since(2),
	// New in log format 2 (joinbundles.go): an audit record of key material handed out.
	CmdIssueJoinBundle: command((*State).issueJoinBundle, (*JoinBundleIssued).describe, nil).since(2),
	// New in log format 2 (brake.go): sign-in failures, never audited.
	CmdSignInBrake: command((*State).signInBrake, (*SignInBrake).describe, nil).since(2),
	// Browser-approved sign-in (approvals.go).
	CmdStartApproval:  command((*State).startApproval, (*DeviceApproval).describe, (*DeviceApproval).actor).since(2),
	CmdApproveDevice:  command((*State).approveDevice, (*ApproveDevice).describe, (*ApproveDevice).actor).since(2),
	CmdFinishApproval: command((*State).finishApproval, (*FinishApproval).describe, nil).since(2),
	// New in log format 2 (entitlements.go).
	CmdTrustVendor:       command((*State).trustVendor, (*TrustVendor).describe, nil).since(2),
	CmdImportEntitlement: command((*State).importEntitlement, (*ImportEntitlement).describe, nil).since(2),
	// New in log format 2 (admin_requests.go).
	CmdAdminRequest: command((*State).adminRequest, (*AdminRequest).describe, nil).since(2),

	CmdAddUser:         command((*State).addUser, (*AddUser).describe, nil).inGroup(CmdMembers, "add_user"),
	CmdAddUsers:        command((*State).addUsers, (*AddUsers).describe, nil).inGroup(CmdMembers, "add_users"),
	CmdSetRole:         command((*State).setRole, (*SetRole).describe, nil).inGroup(CmdMembers, "set_role"),
	CmdSetPassword:     command((*State).setPassword, (*SetPassword).describe, nil).inGroup(CmdMembers, "set_password"),
	CmdDeleteUser:      command((*State).deleteUser, (*DeleteUser).describe, nil).inGroup(CmdMembers, "delete_user"),
	CmdInvite:          command((*State).invite, (*Invite).describe, nil).inGroup(CmdMembers, "invite"),
	CmdAcceptInvite:    command((*State).acceptInvite, (*AcceptInvite).describe, nil).inGroup(CmdMembers, "accept"),
	CmdCancelInvite:    command((*State).cancelInvite, (*CancelInvite).describe, nil).inGroup(CmdMembers, "cancel_invite"),
	CmdExpireInvites:   command((*State).expireInvites, (*ExpireInvites).describe, nil).inGroup(CmdMembers, "expire_invites"),
	CmdCreateTeam:      command((*State).createTeam, (*CreateTeam).describe, nil).inGroup(CmdMembers, "create_team"),
	CmdDeleteTeam:      command((*State).deleteTeam, (*DeleteTeam).describe, nil).inGroup(CmdMembers, "delete_team"),
	CmdAddToTeam:       command((*State).addToTeam, (*AddToTeam).describe, nil).inGroup(CmdMembers, "team_add"),
	CmdRemoveFromTeam:  command((*State).removeFromTeam, (*RemoveFromTeam).describe, nil).inGroup(CmdMembers, "team_remove"),
	CmdSetTeamAdmin:    command((*State).setTeamAdmin, (*SetTeamAdmin).describe, nil).inGroup(CmdMembers, "set_team_admin"),
	CmdSetSeatPolicy:   command((*State).setSeatPolicy, (*SetSeatPolicy).describe, nil).inGroup(CmdMembers, "set_policy"),
	CmdActivate:        command((*State).activate, (*Activate).describe, nil).inGroup(CmdMembers, "activate"),
	CmdSetSeats:        command((*State).setSeats, (*SetSeats).describe, nil).inGroup(CmdMembers, "set_seats"),
	CmdSetSubscription: command((*State).setSubscription, (*SetSubscription).describe, nil).inGroup(CmdMembers, "set_subscription"),
	CmdSetUserPlan:     command((*State).setUserPlan, (*SetUserPlan).describe, nil).inGroup(CmdMembers, "set_user_plan"),
	CmdSetTeamPlan:     command((*State).setTeamPlan, (*SetTeamPlan).describe, nil).inGroup(CmdMembers, "set_team_plan"),
	CmdRenewContract:   command((*State).renewContract, (*RenewContract).describe, nil).inGroup(CmdMembers, "renew"),
	CmdSetAdminEmail:   command((*State).setAdminEmail, (*SetAdminEmail).describe, nil).inGroup(CmdMembers, "set_admin_email"),
}

// command builds the spec of a command whose payload is a *P from its
// typed apply, describe and (optional) actor functions.
func command[P any](apply func(*State, time.Time, *P) Result, describe func(*P) (string, string), actor func(*P) string) spec {
	sp := spec{
		payload: func() any { return new(P) },
		apply: func(s *State, c *Command) Result {
			p, ok := c.Payload.(*P)
			if !ok || p == nil {
				return badPayload(c, new(P))
			}
			return apply(s, c.Now, p)
		},
		describe: func(c *Command) (string, string) {
			if p, ok := c.Payload.(*P); ok && p != nil {
				return describe(p)
			}
			return "", string(c.Type)
		},
		log: logForm{since: 1},
	}
	if actor != nil {
		sp.actor = func(c *Command) string {
			if p, ok := c.Payload.(*P); ok && p != nil {
				return actor(p)
			}
			return ""
		}
	}
	return sp
}

// inGroup marks a command written in format 1 as op of a group command.
func (sp spec) inGroup(group CommandType, op string) spec {
	sp.log.group, sp.log.op = group, op
	if group == CmdMembers || group == CmdLicense {
		sp.log.legacyBy = true
	}
	return sp
}

// since marks a command introduced in log format v (log.go).
func (sp spec) since(v int) spec {
	sp.log.since = v
	return sp
}

// withBy marks a command whose format 1 payload had a "by" field.
func (sp spec) withBy(isActor bool) spec {
	sp.log.legacyBy, sp.log.byIsActor = true, isActor
	return sp
}

// badPayload answers a command whose payload is absent or of another
// command's type, which only a bug or a corrupt entry produces; the entry
// is answered with an error, not a panic.
func badPayload(c *Command, want any) Result {
	if c.Payload == nil {
		return fail(protocol.CodeBadRequest, "%s command has no payload", c.Type)
	}
	return fail(protocol.CodeBadRequest, "%s command carries a %T payload, want %T", c.Type, c.Payload, want)
}

// dispatch applies one command through the registry. A batch is not an
// operation but an envelope of them, so it is unpacked here.
func (s *State) dispatch(c *Command) Result {
	if c.Type == CmdBatch {
		out := Result{Batch: make([]Result, len(c.Batch))}
		for i := range c.Batch {
			out.Batch[i] = s.apply(&c.Batch[i])
		}
		return out
	}
	if _, ok := c.Payload.(*SkippedEntry); ok {
		return Result{} // an ignorable entry this node does not understand
	}
	sp, ok := registry[c.Type]
	if !ok {
		return fail(protocol.CodeBadRequest, "unknown ledger command %q", c.Type)
	}
	return sp.apply(s, c)
}

// describe returns the account a command concerns and its audit summary.
func describe(c *Command) (account, summary string) {
	if sp, ok := registry[c.Type]; ok && sp.describe != nil {
		return sp.describe(c)
	}
	return "", string(c.Type)
}

// defaultActor names who caused a command the proposer did not attribute:
// devices for their own lease commands, the cluster for housekeeping.
func defaultActor(c *Command) string {
	if sp, ok := registry[c.Type]; ok && sp.actor != nil {
		if a := sp.actor(c); a != "" {
			return a
		}
	}
	return "system"
}

// auditType is the type a command is recorded under in the audit log: its
// format 1 group for the operations that had one, so that audit filters
// and records written before the split keep their meaning.
func auditType(c *Command) CommandType {
	if sp, ok := registry[c.Type]; ok && sp.log.group != "" {
		return sp.log.group
	}
	return c.Type
}

func deviceActor(account, device string) string { return "device:" + account + "/" + device }

// PayloadOf returns c's payload if it is a *P, else nil: how code outside
// the ledger reads a command it observes (c.Payload.(*P) without the ok).
func PayloadOf[P any](c *Command) *P {
	p, _ := c.Payload.(*P)
	return p
}
