package ledger

import (
	"slices"
	"strings"
	"time"
)

// MemberUsage is an account's seat consumption (tallyctl usage).
type MemberUsage struct {
	Account    string `json:"account"`
	Purchased  int    `json:"purchased"`
	Active     int    `json:"active"`
	Pending    int    `json:"pending"`
	Unassigned int    `json:"unassigned"`
	Unused     int    `json:"unused"`
	// Over is how many seats are in use beyond the purchased ones (soft cap).
	Over      int       `json:"over,omitempty"`
	OverSince time.Time `json:"over_since,omitempty"`
	HardCap   bool      `json:"hard_cap"`
	// NonConsuming counts assistants, who hold no seat.
	NonConsuming   int            `json:"non_consuming"`
	AdminEmail     string         `json:"admin_email,omitempty"`
	AdminHoldsSeat bool           `json:"admin_holds_seat"`
	Teams          []TeamUsage    `json:"teams"`
	Policy         SeatPolicy     `json:"policy"`
	Subscription   Subscription   `json:"subscription"`
	LastRenewal    *RenewalRecord `json:"last_renewal,omitempty"`
	// Prices and NextCharge: the plan prices and the estimate of the next
	// charge (prices.go); absent without prices.
	Prices     *Prices         `json:"prices,omitempty"`
	NextCharge *ChargeEstimate `json:"next_charge,omitempty"`
}

// TeamUsage is one team's share of the seats.
type TeamUsage struct {
	Team    string `json:"team"`
	Members int    `json:"members"`
	Active  int    `json:"active"`
	Pending int    `json:"pending"`
	// Seats counts the seat-consuming members (active or pending).
	Seats int `json:"seats"`
}

// MemberUsage reports the account's seats; ok is false for unknown accounts.
func (s *State) MemberUsage(account string) (MemberUsage, bool) {
	acct, ok := s.accounts[account]
	if !ok {
		return MemberUsage{}, false
	}
	out := MemberUsage{Account: account, AdminEmail: acct.AdminEmail, Teams: []TeamUsage{}}
	o := s.org(account, false)
	if o == nil {
		out.HardCap = true
		return out, true
	}
	out.Purchased = o.Seats
	out.HardCap = o.Seats < SoftCapSeats
	out.Active, out.Pending = o.used()
	out.OverSince = o.OverSince
	out.Policy = o.Policy
	out.Subscription = o.Subscription
	if o.LastRenewal != nil {
		out.LastRenewal = ptr(*o.LastRenewal)
	}
	if o.Prices != nil {
		out.Prices, out.NextCharge = ptr(*o.Prices), o.nextCharge()
	}
	for _, u := range o.Users {
		if !u.Role.ConsumesSeat() {
			out.NonConsuming++
			continue
		}
		if !u.Pending && u.Unassigned {
			out.Unassigned++
		}
		if u.Email == acct.AdminEmail {
			out.AdminHoldsSeat = true
		}
	}
	if used := out.Active + out.Pending; used < o.Seats {
		out.Unused = o.Seats - used
	} else {
		out.Over = used - o.Seats
	}
	for _, t := range sortedKeys(o.Teams) {
		tu := TeamUsage{Team: t}
		for _, u := range o.teamMembers(t) {
			tu.Members++
			if !u.Role.ConsumesSeat() {
				continue
			}
			tu.Seats++
			if u.Pending {
				tu.Pending++
			} else {
				tu.Active++
			}
		}
		out.Teams = append(out.Teams, tu)
	}
	return out, true
}

// Users lists an account's users sorted by email, optionally one team's.
func (s *State) Users(account, team string) []UserView {
	o := s.org(account, false)
	out := []UserView{}
	if o == nil {
		return out
	}
	for _, id := range sortedKeys(o.Users) {
		u := o.Users[id]
		if team != "" && !slices.Contains(u.Teams, team) {
			continue
		}
		out = append(out, o.view(u))
	}
	return out
}

// User returns one user (email compared ignoring case).
func (s *State) User(account, email string) (UserView, bool) {
	o := s.org(account, false)
	if o == nil {
		return UserView{}, false
	}
	u := o.Users[NormalizeEmail(email)]
	if u == nil {
		return UserView{}, false
	}
	return o.view(u), true
}

// PasswordHash returns the user's stored argon2id PHC string, for sign-in
// (see daemon/passwords.Verify). Pending users have none.
func (s *State) PasswordHash(account, email string) (string, bool) {
	o := s.org(account, false)
	if o == nil {
		return "", false
	}
	u := o.Users[NormalizeEmail(email)]
	if u == nil || u.Pending {
		return "", false
	}
	return u.PasswordHash, true
}

// Teams lists an account's team names.
func (s *State) Teams(account string) []string {
	o := s.org(account, false)
	if o == nil {
		return []string{}
	}
	return sortedKeys(o.Teams)
}

// MembersDue lists, for the leader's loop, the accounts with invitations
// expired at now and the accounts whose contract period has ended.
func (s *State) MembersDue(now time.Time) (expire, renew []string) {
	for _, id := range sortedKeys(s.mem.orgs) {
		o := s.mem.orgs[id]
		for _, u := range o.Users {
			if u.Pending && !now.Before(u.InviteExpires) {
				expire = append(expire, id)
				break
			}
		}
		if end := o.Subscription.End; !end.IsZero() && !now.Before(end) {
			renew = append(renew, id)
		}
	}
	return expire, renew
}

// EmailDomain returns the part of an address after '@'.
func EmailDomain(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i+1:]
	}
	return ""
}
