// Package notify sends the daily e-mail reminders (soft-cap, grace period,
// subscription expiry) to each account's administrator address, at most
// once per (account, kind, day) across the cluster: the leader claims each
// reminder through Raft before sending it (see ledger/notifications.go for
// the at-most-once choice).
//
// Design: docs/design.md#data-model.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/protocol"
)

// Reminder is one e-mail a Source wants sent today.
type Reminder struct {
	Account string
	Kind    string // ledger.Notify*
	Subject string
	Body    string
	// To overrides the recipient (default: the account's administrator
	// address); Day the day the claim is for (default: today), for a
	// one-off message that must not go out again the next day.
	To, Day string
}

// Source finds the reminders due at now from the ledger. The floating
// policies plug their soft-cap state in here (SoftCapSource's Over).
type Source interface {
	Due(st *ledger.State, now time.Time) []Reminder
}

// Config configures a Notifier.
type Config struct {
	SMTP    SMTP
	Store   *store.Store
	NodeID  string
	Propose func(ctx context.Context, c ledger.Command) (ledger.Result, error)
	// Interval is how often the leader looks for due reminders.
	Interval time.Duration
	Sources  []Source
	Logger   *slog.Logger
	Now      func() time.Time
}

// Notifier runs on every node and acts only while it leads.
type Notifier struct{ cfg Config }

// New returns a notifier; Sources default to DefaultSources().
func New(cfg Config) *Notifier {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Sources == nil {
		cfg.Sources = DefaultSources()
		if cfg.SMTP.Operator != "" {
			cfg.Sources = append(cfg.Sources, SeatRequests{To: cfg.SMTP.Operator, Within: 48 * time.Hour})
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	return &Notifier{cfg: cfg}
}

// Run checks for due reminders every Interval until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	store.EveryWhileLeading(ctx, n.cfg.Interval, n.cfg.Store.IsLeader, func(ctx context.Context) { n.Tick(ctx) })
}

type due struct {
	Reminder
	to string
}

// Tick sends the reminders due now that no node has claimed today. It
// returns how many it sent.
func (n *Notifier) Tick(ctx context.Context) int {
	now := n.cfg.Now()
	day := now.UTC().Format(time.DateOnly)
	var todo []due
	n.cfg.Store.Read(func(st *ledger.State) {
		for _, src := range n.cfg.Sources {
			for _, r := range src.Due(st, now) {
				acct, ok := st.Account(r.Account)
				to, rday := r.To, r.Day
				if to == "" && ok {
					to = acct.AdminEmail
				}
				if rday == "" {
					rday = day
				}
				if !ok || to == "" || st.Notified(r.Account, r.Kind, rday) {
					continue
				}
				r.Day = rday
				todo = append(todo, due{r, to})
			}
		}
	})
	sent := 0
	for _, d := range todo {
		if ctx.Err() != nil {
			break
		}
		if n.send(ctx, d, d.Day) {
			sent++
		}
	}
	return sent
}

func (n *Notifier) send(ctx context.Context, d due, day string) bool {
	log := n.cfg.Logger.With("account", d.Account, "kind", d.Kind, "day", day, "to", d.to)
	res, err := n.cfg.Propose(ctx, ledger.Command{Type: ledger.CmdClaimNotification, Actor: "system:notifier",
		Payload: &ledger.NotificationClaim{Account: d.Account, Kind: d.Kind, Day: day, To: d.to, Node: n.cfg.NodeID}})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		if protocol.CodeOf(err) != protocol.CodeAlreadyExists {
			log.Warn("could not claim reminder; will retry", "err", err)
		}
		return false
	}
	sendErr := n.cfg.SMTP.Send(ctx, Message{To: d.to, Subject: d.Subject, Body: d.Body,
		ID: fmt.Sprintf("%s.%s.%s@tally", d.Account, d.Kind, day)})
	done := &ledger.NotificationDone{Account: d.Account, Kind: d.Kind, Day: day, Node: n.cfg.NodeID, Sent: sendErr == nil}
	if sendErr != nil {
		done.Error = sendErr.Error()
		log.Warn("reminder not sent; claim released for a retry", "err", sendErr)
	} else {
		log.Info("reminder sent")
	}
	// Recording the outcome may fail if leadership moved; the claim then
	// stays (sent or not), which errs on the side of no duplicate.
	if _, err := n.cfg.Propose(ctx, ledger.Command{Type: ledger.CmdNotificationDone, Actor: "system:notifier", Payload: done}); err != nil {
		log.Warn("could not record the reminder's outcome", "err", err)
	}
	return sendErr == nil
}

// DefaultSources are the reminders tallyd sends: subscription expiry, the
// grace period after it, and the daily soft-cap reminder for pools and
// member seats over their purchase (PoolsOverSeats).
func DefaultSources() []Source {
	return []Source{SubscriptionExpiry{Within: 7 * 24 * time.Hour}, GracePeriod{For: 14 * 24 * time.Hour}, SoftCapSource{Over: PoolsOverSeats}, EntitlementExpiry{Within: 14 * 24 * time.Hour}}
}

// SubscriptionExpiry reminds daily while an account's subscription ends
// within Within. The text follows the rule that applies at the end: an
// account whose member subscription renews itself (the leader renews every
// period that has a start and an end) is told it renews and how its seats
// change; any other is told that grants stop.
type SubscriptionExpiry struct{ Within time.Duration }

func (s SubscriptionExpiry) Due(st *ledger.State, now time.Time) []Reminder {
	var out []Reminder
	for _, a := range st.Accounts() {
		end := a.SubscriptionEnd
		if end.IsZero() || !end.After(now) || end.Sub(now) > s.Within {
			continue
		}
		r := Reminder{Account: a.ID, Kind: ledger.NotifySubscriptionExpiry}
		if u, ok := st.MemberUsage(a.ID); ok && u.Subscription.End.Equal(end) {
			r.Subject = fmt.Sprintf("Tally: the subscription of %s renews %s", a.Name, until(now, end))
			r.Body = fmt.Sprintf("The current period of the Tally subscription of account %s (%s) ends on %s, and the subscription renews itself then for another period of the same length.\n\n%s\n\nNothing stops: seats keep being granted. To change the renewal, run `tallyctl subscription set %s --renewal keep-seats|shrink-to-allocated`.\n",
				a.Name, a.ID, at(end), renewalEffect(u), a.ID)
		} else {
			r.Subject = fmt.Sprintf("Tally: the subscription of %s ends %s", a.Name, until(now, end))
			r.Body = fmt.Sprintf("The Tally subscription of account %s (%s) ends on %s.\n\nFrom then on no seat is granted or renewed: checkouts are refused (subscription_expired) and the leases out end with their tokens. Renew it before then to keep your users working.\n",
				a.Name, a.ID, at(end))
		}
		out = append(out, r)
	}
	return out
}

// renewalEffect says what the renewal does to the purchased seats.
func renewalEffect(u ledger.MemberUsage) string {
	inUse := u.Active + u.Pending
	if u.Subscription.Renewal == ledger.RenewShrinkAllocated && inUse < u.Purchased {
		return fmt.Sprintf("Renewal shrink-to-allocated: the purchased member seats drop from %d to the %d in use (active and pending) at that moment.", u.Purchased, inUse)
	}
	return fmt.Sprintf("Renewal %s: the %d purchased member seats stay.", orKeepSeats(u.Subscription.Renewal), u.Purchased)
}

func orKeepSeats(r string) string {
	if r == "" {
		return ledger.RenewKeepSeats
	}
	return r
}

// GracePeriod reminds daily for For after a subscription ended. (The
// floating policies' own grace period, once it exists, replaces this by
// providing a Source of its own.)
type GracePeriod struct{ For time.Duration }

func (g GracePeriod) Due(st *ledger.State, now time.Time) []Reminder {
	var out []Reminder
	for _, a := range st.Accounts() {
		end := a.SubscriptionEnd
		if end.IsZero() || end.After(now) || now.Sub(end) > g.For {
			continue
		}
		out = append(out, Reminder{Account: a.ID, Kind: ledger.NotifyGracePeriod,
			Subject: fmt.Sprintf("Tally: the subscription of %s has ended", a.Name),
			Body: fmt.Sprintf("The Tally subscription of account %s (%s) ended on %s. Checkouts are refused (subscription_expired) until it is renewed.\n",
				a.Name, a.ID, at(end))})
	}
	return out
}

// Overage is a pool (or, with Members, the account's member seats) using
// more seats than it has, since Since.
type Overage struct {
	Account, Feature string
	Seats, InUse     int
	Since            time.Time
	// Members marks the member seats (the soft cap on people, not on
	// checkouts): past the grace new members stop, not checkouts.
	Members bool
}

// SoftCapSource sends the daily soft-cap reminder for every overage Over
// reports.
type SoftCapSource struct {
	Over func(st *ledger.State, now time.Time) []Overage
}

func (s SoftCapSource) Due(st *ledger.State, now time.Time) []Reminder {
	if s.Over == nil {
		return nil
	}
	byAccount := map[string][]Overage{}
	for _, o := range s.Over(st, now) {
		byAccount[o.Account] = append(byAccount[o.Account], o)
	}
	var out []Reminder
	for acct, os := range byAccount {
		body := fmt.Sprintf("Account %s is using more seats than it has purchased:\n\n", acct)
		for _, o := range os {
			body += "  " + overageLine(o, now) + "\n"
		}
		body += fmt.Sprintf("\nPurchase more seats (ask the cluster operator: tallyctl seats request %s N --note ...) or reduce use; this reminder is sent once a day while it lasts.\n", acct)
		out = append(out, Reminder{Account: acct, Kind: ledger.NotifySoftCap, Subject: "Tally: " + acct + " is over its purchased seats", Body: body})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out
}

// overageLine words one overage from the rule that applies to it: a pool
// past its grace grants no new seat while it is at or over its seats; an
// account past its member-seat grace takes no new member (add, invite,
// activation) while it is at or over them. Members already in and leases
// already out stay.
func overageLine(o Overage, now time.Time) string {
	what := fmt.Sprintf("%s: %d in use of %d purchased", o.Feature, o.InUse, o.Seats)
	stops := fmt.Sprintf("no new seat of %s is granted while %d or more are in use (leases already out stay)", o.Feature, o.Seats)
	if o.Members {
		what = fmt.Sprintf("member seats: %d members hold one, %d purchased", o.InUse, o.Seats)
		stops = fmt.Sprintf("no new member can be added, invited or join by activation while %d or more hold a seat (members already in keep theirs)", o.Seats)
	}
	if o.Since.IsZero() {
		return what
	}
	stop := o.Since.Add(ledger.OverageGrace)
	what += " since " + at(o.Since)
	if now.Before(stop) {
		return fmt.Sprintf("%s; the 30-day grace ends on %s (%s): from then %s", what, at(stop), until(now, stop), stops)
	}
	return fmt.Sprintf("%s; the 30-day grace ended on %s: %s", what, at(stop), stops)
}

// at is an exact date and time, in UTC.
func at(t time.Time) string { return t.UTC().Format("Monday 2 January 2006 at 15:04 MST") }

// until says how far off t is, in the unit a reader expects: minutes
// under an hour, hours under two days, days beyond (rounded up, so "in 1
// day" never hides 30 hours).
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return "in " + plural(int(math.Ceil(d.Minutes())), "minute")
	case d < 48*time.Hour:
		return "in " + plural(int(math.Round(d.Hours())), "hour")
	}
	return "in " + plural(int(math.Ceil(d.Hours()/24)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// PoolsOverSeats reports what is over its purchased seats, from the
// ledger's own soft-cap state: pools the floating policies let go over
// (Pool.OverSince, set when a soft-capped pool of SoftCapSeats or more
// went over) and accounts over their member seats (the member soft cap).
// Each carries the day grants stop, OverageGrace after it began.
func PoolsOverSeats(st *ledger.State, now time.Time) []Overage {
	var out []Overage
	inUse := map[string]int{}
	for _, p := range st.Usage("", now) {
		inUse[p.Account+"/"+p.Feature] = p.Active
	}
	for _, a := range st.Accounts() {
		for _, f := range slices.Sorted(maps.Keys(a.Pools)) {
			p := a.Pools[f]
			if p.OverSince.IsZero() {
				continue
			}
			out = append(out, Overage{Account: a.ID, Feature: f, Seats: p.Seats, InUse: inUse[a.ID+"/"+f], Since: p.OverSince})
		}
		if u, ok := st.MemberUsage(a.ID); ok && !u.OverSince.IsZero() {
			out = append(out, Overage{Account: a.ID, Feature: "member seats", Seats: u.Purchased, InUse: u.Purchased + u.Over, Since: u.OverSince, Members: true})
		}
	}
	return out
}
