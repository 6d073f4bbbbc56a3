// Package notify sends the daily e-mail reminders (soft-cap, grace period,
// subscription expiry) to each account's administrator address, at most
// once per (account, kind, day) across the cluster: the leader claims each
// reminder through Raft before sending it (see ledger/notifications.go for
// the at-most-once choice).
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
				if !ok || acct.AdminEmail == "" || st.Notified(r.Account, r.Kind, day) {
					continue
				}
				todo = append(todo, due{r, acct.AdminEmail})
			}
		}
	})
	sent := 0
	for _, d := range todo {
		if ctx.Err() != nil {
			break
		}
		if n.send(ctx, d, day) {
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
// within Within.
type SubscriptionExpiry struct{ Within time.Duration }

func (s SubscriptionExpiry) Due(st *ledger.State, now time.Time) []Reminder {
	var out []Reminder
	for _, a := range st.Accounts() {
		end := a.SubscriptionEnd
		if end.IsZero() || !end.After(now) || end.Sub(now) > s.Within {
			continue
		}
		days := int(math.Ceil(end.Sub(now).Hours() / 24))
		out = append(out, Reminder{Account: a.ID, Kind: ledger.NotifySubscriptionExpiry,
			Subject: fmt.Sprintf("Tally: the subscription of %s ends in %d day(s)", a.Name, days),
			Body: fmt.Sprintf("The Tally subscription of account %s (%s) ends on %s.\n\nAfter that date no seat can be checked out. Renew it to keep your users working.\n",
				a.Name, a.ID, end.UTC().Format("Monday 2 January 2006 15:04 MST"))})
	}
	return out
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
			Body: fmt.Sprintf("The Tally subscription of account %s (%s) ended on %s. Checkouts are refused until it is renewed.\n",
				a.Name, a.ID, end.UTC().Format("Monday 2 January 2006"))})
	}
	return out
}

// Overage is a pool using more seats than it has, since Since.
type Overage struct {
	Account, Feature string
	Seats, InUse     int
	Since            time.Time
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
			body += fmt.Sprintf("  %s: %d in use of %d", o.Feature, o.InUse, o.Seats)
			if !o.Since.IsZero() {
				stop := o.Since.Add(ledger.OverageGrace)
				body += " since " + o.Since.UTC().Format("2 January 2006")
				if now.Before(stop) {
					body += fmt.Sprintf("; new checkouts stop on %s (%d day(s) left)", stop.UTC().Format("2 January 2006"), int(math.Ceil(stop.Sub(now).Hours()/24)))
				} else {
					body += "; the grace period has ended and new checkouts are refused"
				}
			}
			body += "\n"
		}
		body += "\nPurchase more seats or reduce use; this reminder is sent once a day while it lasts.\n"
		out = append(out, Reminder{Account: acct, Kind: ledger.NotifySoftCap, Subject: "Tally: " + acct + " is over its purchased seats", Body: body})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out
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
			out = append(out, Overage{Account: a.ID, Feature: "member seats", Seats: u.Purchased, InUse: u.Purchased + u.Over, Since: u.OverSince})
		}
	}
	return out
}
