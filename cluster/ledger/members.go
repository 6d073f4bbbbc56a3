package ledger

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Members and seats (DESIGN.md §4 "User / member", "Seat assignment policy",
// "Team", "Renewal"). Every account has one seat count shared by its
// seat-consuming members: Owner, Administrator and Member hold a seat while
// active or invited (pending); Administrator Assistant and Assistant never do
// and may not hold a named license. A member in many teams holds one seat;
// removed from every team they are "unassigned" and still hold it; deleting
// the user returns it.

// Role is a member's role in an account.
type Role string

const (
	RoleOwner          Role = "owner"
	RoleAdministrator  Role = "administrator"
	RoleMember         Role = "member"
	RoleAdminAssistant Role = "administrator_assistant"
	RoleAssistant      Role = "assistant"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdministrator, RoleMember, RoleAdminAssistant, RoleAssistant:
		return true
	}
	return false
}

// ConsumesSeat reports whether a user with this role holds a seat.
func (r Role) ConsumesSeat() bool {
	return r == RoleOwner || r == RoleAdministrator || r == RoleMember
}

// User statuses.
const (
	StatusActive     = "active"
	StatusPending    = "pending"
	StatusUnassigned = "unassigned"
)

// Member seats share the pools' soft-cap rule (policy.go): SoftCapSeats
// and more seats make the cap soft, with OverageGrace to get back under it.

// User is one member of an account.
type User struct {
	Email string `json:"email"`
	// DisplayName is how people call the user ("John Smith"), optional. An
	// import may name a user by it when it is unique in the account.
	DisplayName string `json:"display_name,omitempty"`
	Role        Role   `json:"role"`
	// PasswordHash is the argon2id PHC string, computed by the proposing
	// node; empty for users who joined by activating a device or who have
	// not accepted their invitation yet.
	PasswordHash string `json:"password_hash,omitempty"`
	// Pending is set from invitation until acceptance.
	Pending       bool      `json:"pending,omitempty"`
	InviteExpires time.Time `json:"invite_expires,omitempty"`
	// Unassigned is set when the user was removed from their last team.
	Unassigned bool     `json:"unassigned,omitempty"`
	Teams      []string `json:"teams,omitempty"`
	// AdminOf lists the teams this user administers (a subset of Teams):
	// in the console they manage those teams' members and invitations.
	AdminOf []string `json:"admin_of,omitempty"`
	// Plan and PeriodEnd override the account's subscription for this user
	// (empty: the account's).
	Plan      string    `json:"plan,omitempty"`
	PeriodEnd time.Time `json:"period_end,omitempty"`
	// Activated is set for users who joined through device activation.
	Activated bool      `json:"activated,omitempty"`
	Created   time.Time `json:"created"`
}

// Status is the user's status: pending, unassigned or active.
func (u *User) Status() string {
	switch {
	case u.Pending:
		return StatusPending
	case u.Unassigned:
		return StatusUnassigned
	}
	return StatusActive
}

// Team is a named group of members.
type Team struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// SeatPolicy says who may join an account by activating a device.
type SeatPolicy struct {
	// Mode is "list", "domain" or empty (no one joins by activation).
	Mode   string   `json:"mode,omitempty"`
	Emails []string `json:"emails,omitempty"`
	Domain string   `json:"domain,omitempty"`
}

// Renewal settings.
const (
	RenewKeepSeats       = "keep-seats"
	RenewShrinkAllocated = "shrink-to-allocated"
)

// Subscription is an account's plan and contract period.
type Subscription struct {
	Plan    string    `json:"plan,omitempty"`
	Start   time.Time `json:"start,omitempty"`
	End     time.Time `json:"end,omitempty"`
	Renewal string    `json:"renewal,omitempty"`
}

// RenewalRecord is what the last renewal did.
type RenewalRecord struct {
	At          time.Time `json:"at"`
	PeriodEnd   time.Time `json:"period_end"`
	NewEnd      time.Time `json:"new_end"`
	Renewal     string    `json:"renewal"`
	SeatsBefore int       `json:"seats_before"`
	SeatsAfter  int       `json:"seats_after"`
}

// Org is the members side of one account.
type Org struct {
	Account string `json:"account"`
	Seats   int    `json:"seats"`
	// OverSince is when a soft-capped account went over its seats; zero
	// while within them.
	OverSince    time.Time        `json:"over_since,omitempty"`
	Policy       SeatPolicy       `json:"policy"`
	Subscription Subscription     `json:"subscription"`
	LastRenewal  *RenewalRecord   `json:"last_renewal,omitempty"`
	Teams        map[string]*Team `json:"teams"`
	Users        map[string]*User `json:"users"`
}

// used counts the seats held: active (incl. unassigned) and pending.
func (o *Org) used() (active, pending int) {
	for _, u := range o.Users {
		if !u.Role.ConsumesSeat() {
			continue
		}
		if u.Pending {
			pending++
		} else {
			active++
		}
	}
	return active, pending
}

// takeSeat checks that one more seat-consuming member fits.
func (o *Org) takeSeat(now time.Time) *protocol.Error {
	active, pending := o.used()
	if active+pending < o.Seats {
		return nil
	}
	if o.Seats < SoftCapSeats {
		return protocol.Errorf(protocol.CodeNoSeat, "account %s is full: %d of %d seats in use (%d active, %d pending); buy seats or free one first", o.Account, active+pending, o.Seats, active, pending)
	}
	if !o.OverSince.IsZero() && !now.Before(o.OverSince.Add(OverageGrace)) {
		return protocol.Errorf(protocol.CodeNoSeat, "account %s has been over its %d seats since %s (%d in use); the %v grace has passed: reduce members or buy seats", o.Account, o.Seats, o.OverSince.Format(time.RFC3339), active+pending, OverageGrace)
	}
	return nil
}

// settle records or clears the soft-cap overage after a change.
func (o *Org) settle(now time.Time) {
	active, pending := o.used()
	switch {
	case active+pending > o.Seats && o.OverSince.IsZero():
		o.OverSince = now
	case active+pending <= o.Seats:
		o.OverSince = time.Time{}
	}
}

// effectivePlan is the plan and period end that apply to u.
func (o *Org) effectivePlan(u *User) (string, time.Time) {
	plan, end := o.Subscription.Plan, o.Subscription.End
	if u.Plan != "" {
		plan = u.Plan
	}
	if !u.PeriodEnd.IsZero() {
		end = u.PeriodEnd
	}
	return plan, end
}

// Member operations.
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

// MembersOp is one change to an account's members, teams, seats or
// subscription. PasswordHash is computed by the proposer (argon2id is far
// too slow and random to run inside Apply).
type MembersOp struct {
	Op      string `json:"op"`
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
	// DisplayName is add_user's and invite's optional display name.
	DisplayName string `json:"display_name,omitempty"`
	// Emails are the users of add_users (all or nothing, no passwords).
	Emails       []string    `json:"emails,omitempty"`
	Role         Role        `json:"role,omitempty"`
	PasswordHash string      `json:"password_hash,omitempty"`
	Team         string      `json:"team,omitempty"`
	Teams        []string    `json:"teams,omitempty"`
	Expires      time.Time   `json:"expires,omitempty"`
	Seats        int         `json:"seats,omitempty"`
	Policy       *SeatPolicy `json:"policy,omitempty"`
	Plan         string      `json:"plan,omitempty"`
	PeriodStart  time.Time   `json:"period_start,omitempty"`
	PeriodEnd    time.Time   `json:"period_end,omitempty"`
	Renewal      string      `json:"renewal,omitempty"`
	// TeamAdmin is what set_team_admin makes Email for Team.
	TeamAdmin bool `json:"team_admin,omitempty"`
	// Device names the device an activation came from (for the log).
	Device string `json:"device,omitempty"`
	By     string `json:"by,omitempty"`
}

// MembersResult reports a member operation.
type MembersResult struct {
	User *UserView `json:"user,omitempty"`
	// Changed lists the users the operation changed (expiry, team plan).
	Changed []string `json:"changed,omitempty"`
	// Joined is set when an activation created or re-admitted the user.
	Joined  bool           `json:"joined,omitempty"`
	Renewal *RenewalRecord `json:"renewal,omitempty"`
}

// UserView is a user as shown to administrators: no password hash.
type UserView struct {
	Account       string    `json:"account"`
	Email         string    `json:"email"`
	DisplayName   string    `json:"display_name,omitempty"`
	Role          Role      `json:"role"`
	Status        string    `json:"status"`
	ConsumesSeat  bool      `json:"consumes_seat"`
	Teams         []string  `json:"teams"`
	AdminOf       []string  `json:"admin_of,omitempty"`
	Plan          string    `json:"plan,omitempty"`
	PeriodEnd     time.Time `json:"period_end,omitempty"`
	HasPassword   bool      `json:"has_password"`
	InviteExpires time.Time `json:"invite_expires,omitempty"`
	Activated     bool      `json:"activated,omitempty"`
	Created       time.Time `json:"created"`
}

func (o *Org) view(u *User) UserView {
	plan, end := o.effectivePlan(u)
	teams := append([]string{}, u.Teams...)
	return UserView{
		Account: o.Account, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role, Status: u.Status(), ConsumesSeat: u.Role.ConsumesSeat(),
		Teams: teams, AdminOf: append([]string{}, u.AdminOf...), Plan: plan, PeriodEnd: end, HasPassword: u.PasswordHash != "",
		InviteExpires: u.InviteExpires, Activated: u.Activated, Created: u.Created,
	}
}

// memberBook holds every account's Org.
type memberBook struct {
	orgs map[string]*Org
}

type memberSnapshot struct {
	Orgs []*Org `json:"orgs,omitempty"`
}

func (b *memberBook) snapshot() memberSnapshot {
	var out memberSnapshot
	for _, id := range sortedKeys(b.orgs) {
		out.Orgs = append(out.Orgs, b.orgs[id])
	}
	return out
}

func restoreMemberBook(snap memberSnapshot) *memberBook {
	b := &memberBook{orgs: map[string]*Org{}}
	for _, o := range snap.Orgs {
		if o.Teams == nil {
			o.Teams = map[string]*Team{}
		}
		if o.Users == nil {
			o.Users = map[string]*User{}
		}
		b.orgs[o.Account] = o
	}
	return b
}

// org returns the account's Org, creating it when create is set.
func (s *State) org(account string, create bool) *Org {
	if s.mem == nil {
		s.mem = &memberBook{orgs: map[string]*Org{}}
	}
	o := s.mem.orgs[account]
	if o == nil && create {
		o = &Org{Account: account, Teams: map[string]*Team{}, Users: map[string]*User{}}
		s.mem.orgs[account] = o
	}
	return o
}

func memFail(code protocol.Code, format string, args ...any) Result {
	return fail(code, format, args...)
}

func (s *State) membersOp(now time.Time, op *MembersOp) Result {
	if op == nil {
		return missing(CmdMembers)
	}
	created := s.org(op.Account, false) == nil
	r := s.membersOpIn(now, op)
	s.onMemberChange(now, op, r)
	if r.Error != nil && created && s.mem.orgs[op.Account] != nil {
		// A refusal changes nothing, not even an empty Org.
		delete(s.mem.orgs, op.Account)
	}
	return r
}

func (s *State) membersOpIn(now time.Time, op *MembersOp) Result {
	if op == nil {
		return missing(CmdMembers)
	}
	acct, ok := s.accounts[op.Account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", op.Account)
	}
	if op.Op == MemExpireInvites || op.Op == MemRenew {
		// The leader's loops: nothing to create when the account has no members.
		if s.org(op.Account, false) == nil {
			return Result{Members: &MembersResult{}}
		}
	}
	o := s.org(op.Account, true)
	email := NormalizeEmail(op.Email)
	needUser := func() (*User, *protocol.Error) {
		u := o.Users[email]
		if u == nil {
			return nil, protocol.Errorf(protocol.CodeNotFound, "no user %s in account %s", email, op.Account)
		}
		return u, nil
	}
	var out MembersResult
	var res Result
	switch op.Op {
	case MemAddUser, MemInvite:
		if !emailPattern.MatchString(email) {
			return fail(protocol.CodeInvalidArgument, "%q is not an email address", op.Email)
		}
		if _, ok := o.Users[email]; ok {
			return fail(protocol.CodeAlreadyExists, "user %s already exists in account %s (emails are unique per account, ignoring case)", email, op.Account)
		}
		role := op.Role
		if role == "" {
			role = RoleMember
		}
		if !role.Valid() {
			return fail(protocol.CodeInvalidArgument, "unknown role %q (want owner, administrator, member, administrator_assistant or assistant)", op.Role)
		}
		for _, t := range op.Teams {
			if o.Teams[t] == nil {
				return fail(protocol.CodeNotFound, "no team %q in account %s", t, op.Account)
			}
		}
		if op.Op == MemInvite && !op.Expires.After(now) {
			return fail(protocol.CodeInvalidArgument, "an invitation needs an expiry after now")
		}
		if role.ConsumesSeat() {
			if e := o.takeSeat(now); e != nil {
				return Result{Error: e}
			}
		}
		u := &User{Email: email, DisplayName: strings.TrimSpace(op.DisplayName), Role: role, PasswordHash: op.PasswordHash, Created: now, Teams: sortedUnique(op.Teams)}
		if op.Op == MemInvite {
			u.Pending, u.InviteExpires = true, op.Expires
		}
		if e := o.checkTeamsPlan(u, u.Teams); e != nil {
			return Result{Error: e}
		}
		o.Users[email] = u
		out.User = ptr(o.view(u))
	case MemAddUsers:
		role := op.Role
		if role == "" {
			role = RoleMember
		}
		if !role.Valid() {
			return fail(protocol.CodeInvalidArgument, "unknown role %q (want owner, administrator, member, administrator_assistant or assistant)", op.Role)
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
		for _, e := range op.Emails {
			n := NormalizeEmail(e)
			o.Users[n] = &User{Email: n, Role: role, Created: now}
			out.Changed = append(out.Changed, n)
		}
	case MemAccept:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if !u.Pending {
			return fail(protocol.CodeAlreadyExists, "user %s has no pending invitation (already active)", email)
		}
		if !now.Before(u.InviteExpires) {
			return fail(protocol.CodeInvitationExpired, "the invitation of %s expired at %s", email, u.InviteExpires.Format(time.RFC3339))
		}
		if op.PasswordHash == "" {
			return fail(protocol.CodeInvalidArgument, "accepting an invitation needs a password")
		}
		u.Pending, u.InviteExpires, u.PasswordHash = false, time.Time{}, op.PasswordHash
		out.User = ptr(o.view(u))
	case MemCancelInvite:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if !u.Pending {
			return fail(protocol.CodeNotFound, "user %s has no pending invitation", email)
		}
		delete(o.Users, email)
		out.Changed = []string{email}
	case MemExpireInvites:
		for _, id := range sortedKeys(o.Users) {
			if u := o.Users[id]; u.Pending && !now.Before(u.InviteExpires) {
				delete(o.Users, id)
				out.Changed = append(out.Changed, id)
			}
		}
	case MemSetRole:
		u, e := needUser()
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
			if held := s.heldLicenses(op.Account, email); len(held) > 0 {
				return fail(protocol.CodeNotAllowed, "%s holds license %s; a %s cannot be a participating member of a licensed product: unassign it first", email, held[0], op.Role)
			}
		}
		u.Role = op.Role
		out.User = ptr(o.view(u))
	case MemSetPassword:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if op.PasswordHash == "" {
			return fail(protocol.CodeInvalidArgument, "a password is needed")
		}
		u.PasswordHash = op.PasswordHash
		out.User = ptr(o.view(u))
	case MemDeleteUser:
		if _, e := needUser(); e != nil {
			return Result{Error: e}
		}
		if held := s.heldLicenses(op.Account, email); len(held) > 0 {
			return fail(protocol.CodeNotAllowed, "%s holds license %s: unassign or reassign it before deleting the user", email, held[0])
		}
		delete(o.Users, email)
		out.Changed = []string{email}
	case MemCreateTeam:
		if !ValidID(op.Team) {
			return fail(protocol.CodeInvalidArgument, "team name %q must be 1-64 letters, digits, '.', '_' or '-'", op.Team)
		}
		if o.Teams[op.Team] != nil {
			return fail(protocol.CodeAlreadyExists, "team %s already exists in account %s", op.Team, op.Account)
		}
		o.Teams[op.Team] = &Team{Name: op.Team, Created: now}
	case MemDeleteTeam:
		if o.Teams[op.Team] == nil {
			return fail(protocol.CodeNotFound, "no team %q in account %s", op.Team, op.Account)
		}
		delete(o.Teams, op.Team)
		for _, id := range sortedKeys(o.Users) {
			if u := o.Users[id]; slices.Contains(u.Teams, op.Team) {
				o.leaveTeam(u, op.Team)
				out.Changed = append(out.Changed, id)
			}
		}
	case MemTeamAdd:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if o.Teams[op.Team] == nil {
			return fail(protocol.CodeNotFound, "no team %q in account %s", op.Team, op.Account)
		}
		if slices.Contains(u.Teams, op.Team) {
			out.User = ptr(o.view(u))
			break
		}
		if e := o.checkTeamsPlan(u, []string{op.Team}); e != nil {
			return Result{Error: e}
		}
		u.Teams = sortedUnique(append(u.Teams, op.Team))
		u.Unassigned = false
		out.User = ptr(o.view(u))
	case MemSetTeamAdmin:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if o.Teams[op.Team] == nil {
			return fail(protocol.CodeNotFound, "no team %q in account %s", op.Team, op.Account)
		}
		if op.TeamAdmin && !slices.Contains(u.Teams, op.Team) {
			return fail(protocol.CodeNotAllowed, "%s is not in team %s: add them to it before making them its administrator", email, op.Team)
		}
		if op.TeamAdmin {
			u.AdminOf = sortedUnique(append(u.AdminOf, op.Team))
		} else {
			u.AdminOf = without(u.AdminOf, op.Team)
		}
		out.User = ptr(o.view(u))
	case MemTeamRemove:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		if !slices.Contains(u.Teams, op.Team) {
			return fail(protocol.CodeNotFound, "%s is not in team %q", email, op.Team)
		}
		o.leaveTeam(u, op.Team)
		out.User = ptr(o.view(u))
	case MemSetPolicy:
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
	case MemActivate:
		if !emailPattern.MatchString(email) {
			return fail(protocol.CodeInvalidArgument, "%q is not an email address", op.Email)
		}
		// A member of the account (added or invited by an administrator)
		// signs in whatever the policy; the policy decides who joins.
		if u := o.Users[email]; u != nil {
			if u.Pending {
				// Signing in on a device answers the invitation.
				u.Pending, u.InviteExpires, u.Activated = false, time.Time{}, true
				out.Joined = true
			}
			out.User = ptr(o.view(u))
			break
		}
		switch o.Policy.Mode {
		case "list":
			if !slices.Contains(o.Policy.Emails, email) {
				return fail(protocol.CodeNotAllowed, "%s is not on the seat list of account %s", email, op.Account)
			}
		case "domain":
			if !strings.HasSuffix(email, "@"+o.Policy.Domain) {
				return fail(protocol.CodeNotAllowed, "%s is not in domain %s, which account %s admits", email, o.Policy.Domain, op.Account)
			}
		default:
			return fail(protocol.CodeNotAllowed, "account %s has no seat assignment policy: an administrator must invite %s", op.Account, email)
		}
		if e := o.takeSeat(now); e != nil {
			return Result{Error: e}
		}
		u := &User{Email: email, Role: RoleMember, Activated: true, Created: now}
		o.Users[email] = u
		out.User, out.Joined = ptr(o.view(u)), true
	case MemSetSeats:
		if op.Seats < 0 {
			return fail(protocol.CodeInvalidArgument, "seats must not be negative, got %d", op.Seats)
		}
		active, pending := o.used()
		if op.Seats < o.Seats && op.Seats < active+pending {
			return fail(protocol.CodeSeatsInUse, "cannot lower account %s to %d seats: %d in use (%d active, %d pending); remove members or cancel invitations first", op.Account, op.Seats, active+pending, active, pending)
		}
		o.Seats = op.Seats
	case MemSetSubscription:
		sub := o.Subscription
		if op.Plan != "" {
			sub.Plan = op.Plan
		}
		if !op.PeriodStart.IsZero() {
			sub.Start = op.PeriodStart
		}
		if !op.PeriodEnd.IsZero() {
			sub.End = op.PeriodEnd
		}
		if op.Renewal != "" {
			if op.Renewal != RenewKeepSeats && op.Renewal != RenewShrinkAllocated {
				return fail(protocol.CodeInvalidArgument, "renewal %q: want %s or %s", op.Renewal, RenewKeepSeats, RenewShrinkAllocated)
			}
			sub.Renewal = op.Renewal
		}
		if sub.Renewal == "" {
			sub.Renewal = RenewKeepSeats
		}
		if !sub.End.IsZero() && sub.Start.IsZero() {
			sub.Start = now
		}
		if !sub.End.IsZero() && !sub.End.After(sub.Start) {
			return fail(protocol.CodeInvalidArgument, "contract period ends %s, not after its start %s", sub.End.Format(time.RFC3339), sub.Start.Format(time.RFC3339))
		}
		o.Subscription = sub
		acct.SubscriptionEnd = sub.End
	case MemSetUserPlan:
		u, e := needUser()
		if e != nil {
			return Result{Error: e}
		}
		old := *u
		u.Plan, u.PeriodEnd = op.Plan, op.PeriodEnd
		if e := o.checkTeamsPlan(u, u.Teams); e != nil {
			*u = old
			return Result{Error: e}
		}
		out.User = ptr(o.view(u))
	case MemSetTeamPlan:
		if o.Teams[op.Team] == nil {
			return fail(protocol.CodeNotFound, "no team %q in account %s", op.Team, op.Account)
		}
		members := o.teamMembers(op.Team)
		saved := map[string]User{}
		for _, u := range members {
			saved[u.Email] = *u
			u.Plan, u.PeriodEnd = op.Plan, op.PeriodEnd
		}
		for _, u := range members {
			if e := o.checkTeamsPlan(u, u.Teams); e != nil {
				for _, m := range members {
					*m = saved[m.Email]
				}
				return Result{Error: e}
			}
			out.Changed = append(out.Changed, u.Email)
		}
	case MemRenew:
		sub := o.Subscription
		if sub.End.IsZero() || now.Before(sub.End) {
			return fail(protocol.CodeInvalidArgument, "account %s is not due for renewal (period ends %s)", op.Account, sub.End.Format(time.RFC3339))
		}
		length := sub.End.Sub(sub.Start)
		rec := &RenewalRecord{At: now, PeriodEnd: sub.End, Renewal: sub.Renewal, SeatsBefore: o.Seats, SeatsAfter: o.Seats}
		if sub.Renewal == RenewShrinkAllocated {
			active, pending := o.used()
			if active+pending < o.Seats {
				o.Seats = active + pending
			}
			rec.SeatsAfter = o.Seats
		}
		sub.Start, sub.End = sub.End, sub.End.Add(length)
		rec.NewEnd = sub.End
		o.Subscription = sub
		o.LastRenewal = rec
		acct.SubscriptionEnd = sub.End
		out.Renewal = ptr(*rec)
	case MemSetAdminEmail:
		if email != "" && !emailPattern.MatchString(email) {
			return fail(protocol.CodeInvalidArgument, "%q is not an email address", op.Email)
		}
		// The administrator address is role-based: it needs no user and
		// holds no seat unless a seat-consuming user has that address.
		acct.AdminEmail = email
	default:
		return fail(protocol.CodeBadRequest, "unknown members operation %q", op.Op)
	}
	o.settle(now)
	res.Members = &out
	return res
}

// leaveTeam removes u from team; leaving the last team makes u unassigned.
func (o *Org) leaveTeam(u *User, team string) {
	u.Teams = without(u.Teams, team)
	u.AdminOf = without(u.AdminOf, team) // administrators are members of their team
	if len(u.Teams) == 0 {
		u.Unassigned = true
	}
}

// without returns list less item, nil when nothing is left.
func without(list []string, item string) []string {
	var keep []string
	for _, t := range list {
		if t != item {
			keep = append(keep, t)
		}
	}
	return keep
}

func (o *Org) teamMembers(team string) []*User {
	var out []*User
	for _, id := range sortedKeys(o.Users) {
		if u := o.Users[id]; slices.Contains(u.Teams, team) {
			out = append(out, u)
		}
	}
	return out
}

// checkTeamsPlan refuses when u's plan and period differ from any other
// member of the given teams: all members of a team share one.
func (o *Org) checkTeamsPlan(u *User, teams []string) *protocol.Error {
	plan, end := o.effectivePlan(u)
	for _, t := range teams {
		for _, m := range o.teamMembers(t) {
			if m.Email == u.Email {
				continue
			}
			mp, me := o.effectivePlan(m)
			if mp != plan || !me.Equal(end) {
				return protocol.Errorf(protocol.CodeNotAllowed, "team %s would be split: %s is on plan %q ending %s, %s on plan %q ending %s; all members of a team share one plan and period",
					t, m.Email, mp, fmtTime(me), u.Email, plan, fmtTime(end))
			}
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// heldLicenses lists the named licenses assigned to a user.
func (s *State) heldLicenses(account, email string) []string {
	return append([]string{}, s.lic.byUser[account][email]...)
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	c := append([]string{}, in...)
	sort.Strings(c)
	out := c[:1]
	for _, x := range c[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}
