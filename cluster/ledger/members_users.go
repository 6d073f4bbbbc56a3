package ledger

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// One command per operation on an account's users (members.go). Each is
// written to the log as format 1's "members" command with its op, so the
// JSON names of the fields are those of that format. A PasswordHash is
// computed by the proposer: argon2id is far too slow and random to run
// inside Apply.

const (
	CmdAddUser       CommandType = "add_user"
	CmdAddUsers      CommandType = "add_users"
	CmdSetRole       CommandType = "set_role"
	CmdSetPassword   CommandType = "set_password"
	CmdDeleteUser    CommandType = "delete_user"
	CmdActivate      CommandType = "activate"
	CmdSetSeatPolicy CommandType = "set_seat_policy"
)

// AddUser adds an active user, with a password or none yet.
type AddUser struct {
	Account      string   `json:"account"`
	Email        string   `json:"email,omitempty"`
	Role         Role     `json:"role,omitempty"`
	PasswordHash string   `json:"password_hash,omitempty"`
	Teams        []string `json:"teams,omitempty"`
}

// AddUsers adds many users without passwords, all or nothing.
type AddUsers struct {
	Account string   `json:"account"`
	Emails  []string `json:"emails,omitempty"`
	Role    Role     `json:"role,omitempty"`
}

// SetRole changes a user's role.
type SetRole struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
	Role    Role   `json:"role,omitempty"`
}

// SetPassword replaces a user's password hash.
type SetPassword struct {
	Account      string `json:"account"`
	Email        string `json:"email,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// DeleteUser deletes a user, which returns their seat.
type DeleteUser struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
}

// Activate signs a member in on a device, admitting them under the seat
// policy if they are not a member yet. Device names the device (for the log).
type Activate struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
	Device  string `json:"device,omitempty"`
	// PasswordHash is the password a member joining now sets (argon2id,
	// computed by the proposer); it never changes an existing member's.
	PasswordHash string `json:"password_hash,omitempty"`
}

// SetSeatPolicy replaces who may join by activating a device.
type SetSeatPolicy struct {
	Account string      `json:"account"`
	Policy  *SeatPolicy `json:"policy,omitempty"`
}

// newUser checks and creates one user for AddUser and Invite.
func (o *Org) newUser(now time.Time, email string, role Role, teams []string) (*User, *protocol.Error) {
	n := NormalizeEmail(email)
	if !emailPattern.MatchString(n) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%q is not an email address", email)
	}
	if _, ok := o.Users[n]; ok {
		return nil, protocol.Errorf(protocol.CodeAlreadyExists, "user %s already exists in account %s (emails are unique per account, ignoring case)", n, o.Account)
	}
	role, e := roleOrMember(role)
	if e != nil {
		return nil, e
	}
	for _, t := range teams {
		if e := o.team(t); e != nil {
			return nil, e
		}
	}
	return &User{Email: n, Role: role, Created: now, Teams: sortedUnique(teams)}, nil
}

// admit takes u's seat, checks its teams' plan and adds it.
func (o *Org) admit(now time.Time, u *User) Result {
	if u.Role.ConsumesSeat() {
		if e := o.takeSeat(now); e != nil {
			return Result{Error: e}
		}
	}
	if e := o.checkTeamsPlan(u, u.Teams); e != nil {
		return Result{Error: e}
	}
	o.Users[u.Email] = u
	return userResult(o, u)
}

func (s *State) addUser(now time.Time, op *AddUser) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.newUser(now, op.Email, op.Role, op.Teams)
		if e != nil {
			return Result{Error: e}
		}
		u.PasswordHash = op.PasswordHash
		return o.admit(now, u)
	})
}

func (s *State) addUsers(now time.Time, op *AddUsers) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		role, e := roleOrMember(op.Role)
		if e != nil {
			return Result{Error: e}
		}
		seen := make(map[string]bool, len(op.Emails))
		for _, e := range op.Emails {
			n := NormalizeEmail(e)
			if !emailPattern.MatchString(n) {
				return fail(protocol.CodeInvalidArgument, "%q is not an email address", e)
			}
			if seen[n] || o.Users[n] != nil {
				return fail(protocol.CodeAlreadyExists, "user %s already exists in account %s (emails are unique per account, ignoring case)", n, op.Account)
			}
			seen[n] = true
		}
		if role.ConsumesSeat() {
			active, pending := o.used()
			if need := active + pending + len(seen); need > o.Seats && (o.Seats < SoftCapSeats || o.takeSeat(now) != nil) {
				return fail(protocol.CodeNoSeat, "account %s has %d seats, %d in use: %d more members do not fit", op.Account, o.Seats, active+pending, len(seen))
			}
		}
		var out MembersResult
		for _, e := range op.Emails {
			n := NormalizeEmail(e)
			o.Users[n] = &User{Email: n, Role: role, Created: now}
			out.Changed = append(out.Changed, n)
		}
		return Result{Members: &out}
	})
}

func (s *State) setRole(now time.Time, op *SetRole) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if !op.Role.Valid() {
			return fail(protocol.CodeInvalidArgument, "unknown role %q (want owner, administrator, member, administrator_assistant or assistant)", op.Role)
		}
		if !u.Role.ConsumesSeat() && op.Role.ConsumesSeat() {
			if e := o.takeSeat(now); e != nil {
				return Result{Error: e}
			}
		}
		if !op.Role.ConsumesSeat() {
			if held := s.heldLicenses(op.Account, u.Email); len(held) > 0 {
				return fail(protocol.CodeNotAllowed, "%s holds license %s; a %s cannot be a participating member of a licensed product: unassign it first", u.Email, held[0], op.Role)
			}
		}
		u.Role = op.Role
		if s.since(2) {
			s.endSignIns(now, op.Account, u.Email, "")
			if !op.Role.ConsumesSeat() {
				s.revokeMemberLeases(now, op.Account, u.Email, "")
			}
		}
		return userResult(o, u)
	})
}

func (s *State) setPassword(now time.Time, op *SetPassword) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if op.PasswordHash == "" {
			return fail(protocol.CodeInvalidArgument, "a password is needed")
		}
		u.PasswordHash = op.PasswordHash
		if s.since(2) {
			s.endSignIns(now, op.Account, u.Email, "")
		}
		return userResult(o, u)
	})
}

func (s *State) deleteUser(now time.Time, op *DeleteUser) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if held := s.heldLicenses(op.Account, u.Email); len(held) > 0 {
			return fail(protocol.CodeNotAllowed, "%s holds license %s: unassign or reassign it before deleting the user", u.Email, held[0])
		}
		delete(o.Users, u.Email)
		if s.since(2) {
			s.revokeMemberLeases(now, op.Account, u.Email, "")
		}
		return changedResult(u.Email)
	})
}

func (s *State) activate(now time.Time, op *Activate) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		email := NormalizeEmail(op.Email)
		if !emailPattern.MatchString(email) {
			return fail(protocol.CodeInvalidArgument, "%q is not an email address", op.Email)
		}
		// A member of the account (added or invited by an administrator)
		// signs in whatever the policy; the policy decides who joins.
		if u := o.Users[email]; u != nil {
			joined := false
			if u.Pending {
				// Signing in on a device answers the invitation.
				u.Pending, u.InviteExpires, u.Activated = false, time.Time{}, true
				joined = true
			}
			return Result{Members: &MembersResult{User: ptr(o.view(u)), Joined: joined}}
		}
		if e := o.Policy.admits(email, op.Account); e != nil {
			return Result{Error: e}
		}
		if e := o.takeSeat(now); e != nil {
			return Result{Error: e}
		}
		// A member joining by activation sets their password now: the seat
		// policy admits the address, and the password is what proves them
		// on devices from then on. An existing member's password is never
		// set here: whoever typed their address at a device proved nothing.
		u := &User{Email: email, Role: RoleMember, Activated: true, Created: now, PasswordHash: op.PasswordHash}
		o.Users[email] = u
		return Result{Members: &MembersResult{User: ptr(o.view(u)), Joined: true}}
	})
}

// admits reports whether the seat policy lets email join account.
func (p SeatPolicy) admits(email, account string) *protocol.Error {
	switch p.Mode {
	case "list":
		if !slices.Contains(p.Emails, email) {
			return protocol.Errorf(protocol.CodeNotAllowed, "%s is not on the seat list of account %s", email, account)
		}
	case "domain":
		if !strings.HasSuffix(email, "@"+p.Domain) {
			return protocol.Errorf(protocol.CodeNotAllowed, "%s is not in domain %s, which account %s admits", email, p.Domain, account)
		}
	default:
		return protocol.Errorf(protocol.CodeNotAllowed, "account %s has no seat assignment policy: an administrator must invite %s", account, email)
	}
	return nil
}

func (s *State) setSeatPolicy(now time.Time, op *SetSeatPolicy) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		p := op.Policy
		if p == nil {
			p = &SeatPolicy{}
		}
		np := SeatPolicy{Mode: p.Mode}
		switch p.Mode {
		case "":
		case "list":
			for _, e := range p.Emails {
				n := NormalizeEmail(e)
				if !emailPattern.MatchString(n) {
					return fail(protocol.CodeInvalidArgument, "%q in the seat list is not an email address", e)
				}
				np.Emails = append(np.Emails, n)
			}
			np.Emails = sortedUnique(np.Emails)
		case "domain":
			d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(p.Domain), "@"))
			if !emailPattern.MatchString("x@" + d) {
				return fail(protocol.CodeInvalidArgument, "%q is not an email domain", p.Domain)
			}
			np.Domain = d
		default:
			return fail(protocol.CodeInvalidArgument, "seat policy mode %q: want list or domain", p.Mode)
		}
		o.Policy = np
		return Result{}
	})
}

func (op *AddUser) describe() (string, string) {
	return memberSummary(op.Account, "add_user", op.Email, op.Role, "", "")
}
func (op *AddUsers) describe() (string, string) {
	var extra []string
	if len(op.Emails) > 0 {
		extra = append(extra, fmt.Sprintf("%d user(s)", len(op.Emails)))
	}
	return memberSummary(op.Account, "add_users", "", op.Role, "", "", extra...)
}
func (op *SetRole) describe() (string, string) {
	return memberSummary(op.Account, "set_role", op.Email, op.Role, "", "")
}
func (op *SetPassword) describe() (string, string) {
	return memberSummary(op.Account, "set_password", op.Email, "", "", "")
}
func (op *DeleteUser) describe() (string, string) {
	return memberSummary(op.Account, "delete_user", op.Email, "", "", "")
}
func (op *Activate) describe() (string, string) {
	return memberSummary(op.Account, "activate", op.Email, "", "", "")
}
func (op *SetSeatPolicy) describe() (string, string) {
	return memberSummary(op.Account, "set_policy", "", "", "", "")
}
