package ledger

import (
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Notification claims make e-mail reminders at most once per (account,
// kind, day) across the cluster. The leader proposes a claim BEFORE it
// sends; Apply refuses a second claim for the same key, so a new leader
// after a failover finds the claim and does not send again. The price is
// at-most-once: a leader that dies after its claim commits and before the
// relay accepts the message loses that day's reminder (the next day's is
// sent as usual). We chose this over at-least-once (claim after sending)
// because a duplicate a day is what administrators notice and complain
// about, while the reminders repeat daily anyway. A send that fails
// cleanly (the relay refused, was unreachable) releases its claim, so the
// same or another leader retries it.

// Notification kinds.
const (
	NotifySoftCap            = "soft-cap"
	NotifyGracePeriod        = "grace-period"
	NotifySubscriptionExpiry = "subscription-expiry"
)

// claimMemory is how long claims are kept: long enough to cover the day
// they are for in every time zone and clock skew.
const claimMemory = 72 * time.Hour

// CmdClaimNotification and CmdNotificationDone are the notification commands.
const (
	CmdClaimNotification CommandType = "claim_notification"
	CmdNotificationDone  CommandType = "notification_done"
)

// NotificationClaim is one claimed reminder.
type NotificationClaim struct {
	Account string `json:"account"`
	Kind    string `json:"kind"`
	// Day is the UTC date the reminder is for, YYYY-MM-DD.
	Day string `json:"day"`
	To  string `json:"to"`
	// Node is the node that claimed it; At is when.
	Node string    `json:"node"`
	At   time.Time `json:"at"`
	// Sent is set once the relay accepted the message.
	Sent   bool      `json:"sent,omitempty"`
	SentAt time.Time `json:"sent_at,omitempty"`
}

func (c NotificationClaim) key() string { return c.Account + "\x00" + c.Kind + "\x00" + c.Day }

// NotificationDone reports the outcome of a claimed send. Sent=false
// releases the claim so it can be retried.
type NotificationDone struct {
	Account string `json:"account"`
	Kind    string `json:"kind"`
	Day     string `json:"day"`
	Node    string `json:"node"`
	Sent    bool   `json:"sent"`
	Error   string `json:"error,omitempty"`
}

func (s *State) claimNotification(now time.Time, c *NotificationClaim) Result {
	if _, err := time.Parse(time.DateOnly, c.Day); err != nil || c.Account == "" || c.Kind == "" || c.Node == "" {
		return fail(protocol.CodeInvalidArgument, "a notification claim needs an account, a kind, a node and a YYYY-MM-DD day")
	}
	if _, ok := s.accounts[c.Account]; !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", c.Account)
	}
	if old, ok := s.notified[c.key()]; ok {
		return fail(protocol.CodeAlreadyExists, "%s reminder of %s for %s already claimed by %s at %s", c.Kind, c.Account, c.Day, old.Node, old.At.Format(time.RFC3339))
	}
	cp := *c
	cp.At = now
	cp.Sent, cp.SentAt = false, time.Time{}
	s.notified[c.key()] = &cp
	return Result{}
}

func (s *State) notificationDone(now time.Time, d *NotificationDone) Result {
	k := NotificationClaim{Account: d.Account, Kind: d.Kind, Day: d.Day}.key()
	c, ok := s.notified[k]
	if !ok || c.Node != d.Node {
		return fail(protocol.CodeNotFound, "no claim of %s reminder of %s for %s by %s", d.Kind, d.Account, d.Day, d.Node)
	}
	if c.Sent {
		return fail(protocol.CodeAlreadyExists, "%s reminder of %s for %s was already sent", d.Kind, d.Account, d.Day)
	}
	if !d.Sent {
		delete(s.notified, k) // released: the next tick retries
		return Result{}
	}
	c.Sent, c.SentAt = true, now
	return Result{}
}

func (s *State) pruneNotifications(now time.Time) {
	for k, c := range s.notified {
		if now.Sub(c.At) > claimMemory {
			delete(s.notified, k)
		}
	}
}

// NotificationClaims lists the claims kept, sorted by day, account, kind.
func (s *State) NotificationClaims() []NotificationClaim {
	out := make([]NotificationClaim, 0, len(s.notified))
	for _, c := range s.notified {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return claimLess(out[i], out[j]) })
	return out
}

func claimLess(a, b NotificationClaim) bool {
	if a.Day != b.Day {
		return a.Day < b.Day
	}
	if a.Account != b.Account {
		return a.Account < b.Account
	}
	return a.Kind < b.Kind
}

// Notified reports whether the reminder (account, kind, day) is claimed.
func (s *State) Notified(account, kind, day string) bool {
	_, ok := s.notified[NotificationClaim{Account: account, Kind: kind, Day: day}.key()]
	return ok
}
