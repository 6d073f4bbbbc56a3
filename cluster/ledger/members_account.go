package ledger

import (
	"fmt"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// An account's member seats, contract and plans.

const (
	CmdSetSeats        CommandType = "set_seats"
	CmdSetSubscription CommandType = "set_subscription"
	CmdSetUserPlan     CommandType = "set_user_plan"
	CmdRenewContract   CommandType = "renew_contract"
	CmdSetAdminEmail   CommandType = "set_admin_email"
)

// SetSeats sets the account's member seat count; lowering it below the
// seats held is refused.
type SetSeats struct {
	Account string `json:"account"`
	Seats   int    `json:"seats,omitempty"`
}

// SetSubscription changes the account's plan, contract period and renewal
// setting; empty fields keep their value.
type SetSubscription struct {
	Account     string    `json:"account"`
	Plan        string    `json:"plan,omitempty"`
	PeriodStart time.Time `json:"period_start,omitempty"`
	PeriodEnd   time.Time `json:"period_end,omitempty"`
	Renewal     string    `json:"renewal,omitempty"`
}

// SetUserPlan overrides one user's plan and period end.
type SetUserPlan struct {
	Account   string    `json:"account"`
	Email     string    `json:"email,omitempty"`
	Plan      string    `json:"plan,omitempty"`
	PeriodEnd time.Time `json:"period_end,omitempty"`
}

// RenewContract starts the next contract period of an account whose period
// has ended (the leader's loop proposes it).
type RenewContract struct {
	Account string `json:"account"`
}

// SetAdminEmail sets the account's administrator address (role-based: it
// needs no user).
type SetAdminEmail struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
}

func (s *State) setSeats(now time.Time, op *SetSeats) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		if op.Seats < 0 {
			return fail(protocol.CodeInvalidArgument, "seats must not be negative, got %d", op.Seats)
		}
		active, pending := o.used()
		if op.Seats < o.Seats && op.Seats < active+pending {
			return fail(protocol.CodeSeatsInUse, "cannot lower account %s to %d seats: %d in use (%d active, %d pending); remove members or cancel invitations first", op.Account, op.Seats, active+pending, active, pending)
		}
		o.Seats = op.Seats
		return Result{}
	})
}

func (s *State) setSubscription(now time.Time, op *SetSubscription) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, acct *Account) Result {
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
		return Result{}
	})
}

func (s *State) setUserPlan(now time.Time, op *SetUserPlan) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		old := *u
		u.Plan, u.PeriodEnd = op.Plan, op.PeriodEnd
		if e := o.checkTeamsPlan(u, u.Teams); e != nil {
			*u = old
			return Result{Error: e}
		}
		return userResult(o, u)
	})
}

func (s *State) renewContract(now time.Time, op *RenewContract) Result {
	return s.inOrg(now, op.Account, false, func(o *Org, acct *Account) Result {
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
		return Result{Members: &MembersResult{Renewal: ptr(*rec)}}
	})
}

func (s *State) setAdminEmail(now time.Time, op *SetAdminEmail) Result {
	return s.inOrg(now, op.Account, true, func(_ *Org, acct *Account) Result {
		email := NormalizeEmail(op.Email)
		if email != "" && !emailPattern.MatchString(email) {
			return fail(protocol.CodeInvalidArgument, "%q is not an email address", op.Email)
		}
		// The administrator address is role-based: it needs no user and
		// holds no seat unless a seat-consuming user has that address.
		acct.AdminEmail = email
		return Result{}
	})
}

func (op *SetSeats) describe() (string, string) {
	return memberSummary(op.Account, "set_seats", "", "", "", "", fmt.Sprint(op.Seats))
}
func (op *SetSubscription) describe() (string, string) {
	return memberSummary(op.Account, "set_subscription", "", "", "", op.Plan)
}
func (op *SetUserPlan) describe() (string, string) {
	return memberSummary(op.Account, "set_user_plan", op.Email, "", "", op.Plan)
}
func (op *RenewContract) describe() (string, string) {
	return memberSummary(op.Account, "renew", "", "", "", "")
}
func (op *SetAdminEmail) describe() (string, string) {
	return memberSummary(op.Account, "set_admin_email", op.Email, "", "", "")
}
