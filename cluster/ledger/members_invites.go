package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Invitations: a pending user holds a seat from invitation until they
// accept, the invitation is cancelled or the leader's loop expires it.

const (
	CmdInvite        CommandType = "invite"
	CmdAcceptInvite  CommandType = "accept_invite"
	CmdCancelInvite  CommandType = "cancel_invite"
	CmdExpireInvites CommandType = "expire_invites"
)

// Invite adds a pending user whose invitation ends at Expires (fixed by
// the proposer).
type Invite struct {
	Account string    `json:"account"`
	Email   string    `json:"email,omitempty"`
	Role    Role      `json:"role,omitempty"`
	Teams   []string  `json:"teams,omitempty"`
	Expires time.Time `json:"expires,omitempty"`
}

// AcceptInvite activates a pending user with their new password.
type AcceptInvite struct {
	Account      string `json:"account"`
	Email        string `json:"email,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// CancelInvite deletes a pending user.
type CancelInvite struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
}

// ExpireInvites deletes the pending users whose invitation has expired.
type ExpireInvites struct {
	Account string `json:"account"`
}

func (s *State) invite(now time.Time, op *Invite) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.newUser(now, op.Email, op.Role, op.Teams)
		if e != nil {
			return Result{Error: e}
		}
		if !op.Expires.After(now) {
			return fail(protocol.CodeInvalidArgument, "an invitation needs an expiry after now")
		}
		u.Pending, u.InviteExpires = true, op.Expires
		return o.admit(now, u)
	})
}

func (s *State) acceptInvite(now time.Time, op *AcceptInvite) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if !u.Pending {
			return fail(protocol.CodeAlreadyExists, "user %s has no pending invitation (already active)", u.Email)
		}
		if !now.Before(u.InviteExpires) {
			return fail(protocol.CodeInvitationExpired, "the invitation of %s expired at %s", u.Email, u.InviteExpires.Format(time.RFC3339))
		}
		if op.PasswordHash == "" {
			return fail(protocol.CodeInvalidArgument, "accepting an invitation needs a password")
		}
		u.Pending, u.InviteExpires, u.PasswordHash = false, time.Time{}, op.PasswordHash
		return userResult(o, u)
	})
}

func (s *State) cancelInvite(now time.Time, op *CancelInvite) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if !u.Pending {
			return fail(protocol.CodeNotFound, "user %s has no pending invitation", u.Email)
		}
		delete(o.Users, u.Email)
		if s.since(2) {
			s.endSignIns(now, op.Account, u.Email, "")
		}
		return changedResult(u.Email)
	})
}

func (s *State) expireInvites(now time.Time, op *ExpireInvites) Result {
	return s.inOrg(now, op.Account, false, func(o *Org, _ *Account) Result {
		var gone []string
		for _, id := range sortedKeys(o.Users) {
			if u := o.Users[id]; u.Pending && !now.Before(u.InviteExpires) {
				delete(o.Users, id)
				if s.since(2) {
					s.endSignIns(now, op.Account, id, "")
				}
				gone = append(gone, id)
			}
		}
		return changedResult(gone...)
	})
}

func (op *Invite) describe() (string, string) {
	return memberSummary(op.Account, "invite", op.Email, op.Role, "", "")
}
func (op *AcceptInvite) describe() (string, string) {
	return memberSummary(op.Account, "accept", op.Email, "", "", "")
}
func (op *CancelInvite) describe() (string, string) {
	return memberSummary(op.Account, "cancel_invite", op.Email, "", "", "")
}
func (op *ExpireInvites) describe() (string, string) {
	return memberSummary(op.Account, "expire_invites", "", "", "", "")
}
