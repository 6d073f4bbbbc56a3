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
	// SeatRequests are the account's latest requests for more seats
	// (seat_requests.go); Prices its plan prices (prices.go).
	SeatRequests []SeatRequest `json:"seat_requests,omitempty"`
	Prices       *Prices       `json:"prices,omitempty"`
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

// inOrg runs a member operation on account's Org, creating it on first
// use. A refusal changes nothing, not even an empty Org; a success settles
// the soft-cap overage and always carries a MembersResult. With create
// unset (the leader's loops) an account without members is left alone.
func (s *State) inOrg(now time.Time, account string, create bool, fn func(o *Org, acct *Account) Result) Result {
	acct, ok := s.accounts[account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", account)
	}
	created := s.org(account, false) == nil
	if created && !create {
		return Result{Members: &MembersResult{}}
	}
	o := s.org(account, true)
	r := fn(o, acct)
	if r.Error != nil {
		if created {
			delete(s.mem.orgs, account)
		}
		return r
	}
	o.settle(now)
	if r.Members == nil {
		r.Members = &MembersResult{}
	}
	return r
}

// user returns the user with address email (any case).
func (o *Org) user(email string) (*User, *protocol.Error) {
	email = NormalizeEmail(email)
	u := o.Users[email]
	if u == nil {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no user %s in account %s", email, o.Account)
	}
	return u, nil
}

// team checks that the Org has a team named name.
func (o *Org) team(name string) *protocol.Error {
	if o.Teams[name] == nil {
		return protocol.Errorf(protocol.CodeNotFound, "no team %q in account %s", name, o.Account)
	}
	return nil
}

// roleOrMember is role, or RoleMember when empty, refused when unknown.
func roleOrMember(role Role) (Role, *protocol.Error) {
	if role == "" {
		return RoleMember, nil
	}
	if !role.Valid() {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "unknown role %q (want owner, administrator, member, administrator_assistant or assistant)", role)
	}
	return role, nil
}

// userResult is the result of an operation on one user.
func userResult(o *Org, u *User) Result {
	return Result{Members: &MembersResult{User: ptr(o.view(u))}}
}

// changedResult is the result of an operation that changed users.
func changedResult(emails ...string) Result {
	return Result{Members: &MembersResult{Changed: emails}}
}

// memberSummary is the audit summary of a member operation: the op, then
// the non-empty email, role, team and plan, then extras.
func memberSummary(account, op, email string, role Role, team, plan string, extra ...string) (string, string) {
	parts := []string{op}
	for _, p := range []string{email, string(role), team, plan} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return account, strings.Join(append(parts, extra...), " ")
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
