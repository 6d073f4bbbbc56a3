package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

func ledgerWith(t *testing.T, cmds ...ledger.Command) *ledger.State {
	t.Helper()
	s := ledger.New()
	for i := range cmds {
		c := cmds[i]
		if c.Now.IsZero() {
			c.Now = t0
		}
		if r := s.Apply(uint64(i+1), &c); r.Error != nil {
			t.Fatalf("%s: %v", c.Type, r.Error)
		}
	}
	return s
}

func account(id string, end time.Time) ledger.Command {
	return ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: id, Name: id, AdminEmail: "it@" + id + ".test", SubscriptionEnd: end}}
}

func TestUntilUsesTheUnitAReaderExpects(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour:                  "in 2 hours",
		119 * time.Minute:              "in 2 hours",
		30 * time.Minute:               "in 30 minutes",
		time.Minute:                    "in 1 minute",
		30 * time.Hour:                 "in 30 hours",
		3*24*time.Hour - time.Minute:   "in 3 days",
		6*24*time.Hour + 5*time.Minute: "in 7 days",
	} {
		if got := until(t0, t0.Add(d)); got != want {
			t.Errorf("until(+%v) = %q, want %q", d, got, want)
		}
	}
}

// TestSubscriptionEndingInTwoHours: the subject says hours, the body the
// exact date and time and what stops.
func TestSubscriptionEndingInTwoHours(t *testing.T) {
	end := t0.Add(2 * time.Hour)
	st := ledgerWith(t, account("acme", end))
	rs := SubscriptionExpiry{Within: 7 * 24 * time.Hour}.Due(st, t0)
	if len(rs) != 1 {
		t.Fatalf("reminders: %+v", rs)
	}
	r := rs[0]
	if r.Subject != "Tally: the subscription of acme ends in 2 hours" {
		t.Errorf("subject %q", r.Subject)
	}
	for _, want := range []string{"ends on Monday 2 November 2026 at 11:30 UTC", "no seat is granted or renewed", "subscription_expired"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, r.Body)
		}
	}
	if strings.Contains(r.Subject+r.Body, "day(s)") {
		t.Errorf("day(s) in %q", r.Subject+r.Body)
	}
}

// TestSelfRenewingSubscriptionSaysItRenews: a member subscription with a
// period renews itself at its end; its reminder says so and what happens
// to the seats, and never that checkouts stop.
func TestSelfRenewingSubscriptionSaysItRenews(t *testing.T) {
	end := t0.Add(3 * 24 * time.Hour)
	for renewal, effect := range map[string]string{
		ledger.RenewKeepSeats:       "Renewal keep-seats: the 12 purchased member seats stay.",
		ledger.RenewShrinkAllocated: "Renewal shrink-to-allocated: the purchased member seats drop from 12 to the 2 in use",
	} {
		st := ledgerWith(t, account("acme", time.Time{}),
			ledger.Command{Type: ledger.CmdSetSeats, Payload: &ledger.SetSeats{Account: "acme", Seats: 12}},
			ledger.Command{Type: ledger.CmdAddUsers, Payload: &ledger.AddUsers{Account: "acme", Emails: []string{"a@acme.test", "b@acme.test"}}},
			ledger.Command{Type: ledger.CmdSetSubscription, Payload: &ledger.SetSubscription{Account: "acme", PeriodStart: t0.Add(-27 * 24 * time.Hour), PeriodEnd: end, Renewal: renewal}})
		rs := SubscriptionExpiry{Within: 7 * 24 * time.Hour}.Due(st, t0)
		if len(rs) != 1 {
			t.Fatalf("%s: reminders %+v", renewal, rs)
		}
		r := rs[0]
		if r.Subject != "Tally: the subscription of acme renews in 3 days" {
			t.Errorf("%s: subject %q", renewal, r.Subject)
		}
		for _, want := range []string{"ends on Thursday 5 November 2026 at 09:30 UTC", "renews itself", effect, "Nothing stops"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("%s: body lacks %q:\n%s", renewal, want, r.Body)
			}
		}
		if strings.Contains(r.Body, "checked out") || strings.Contains(r.Body, "refused") {
			t.Errorf("%s: a renewing subscription's reminder says checkouts stop:\n%s", renewal, r.Body)
		}
	}
}

// TestSoftCapReminderWordsTheRuleThatApplies: a pool's overage stops new
// grants of that pool; the member seats' overage stops new members. Both
// give the exact moment.
func TestSoftCapReminderWordsTheRuleThatApplies(t *testing.T) {
	since := t0.Add(-20 * 24 * time.Hour)
	over := func(*ledger.State, time.Time) []Overage {
		return []Overage{
			{Account: "acme", Feature: "cad", Seats: 10, InUse: 11, Since: since},
			{Account: "acme", Feature: "member seats", Seats: 10, InUse: 12, Since: since, Members: true},
		}
	}
	rs := SoftCapSource{Over: over}.Due(nil, t0)
	if len(rs) != 1 {
		t.Fatalf("reminders: %+v", rs)
	}
	body := rs[0].Body
	for _, want := range []string{
		"cad: 11 in use of 10 purchased since Tuesday 13 October 2026 at 09:30 UTC; the 30-day grace ends on Thursday 12 November 2026 at 09:30 UTC (in 10 days): from then no new seat of cad is granted while 10 or more are in use",
		"member seats: 12 members hold one, 10 purchased since Tuesday 13 October 2026 at 09:30 UTC; the 30-day grace ends on Thursday 12 November 2026 at 09:30 UTC (in 10 days): from then no new member can be added, invited or join by activation",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks\n  %s\ngot:\n%s", want, body)
		}
	}
	if strings.Contains(body, "new checkouts stop") || strings.Contains(body, "day(s)") {
		t.Errorf("old wording:\n%s", body)
	}
	// Past the grace: the rule now applies.
	late := SoftCapSource{Over: over}.Due(nil, since.Add(31*24*time.Hour))[0].Body
	if !strings.Contains(late, "the 30-day grace ended on Thursday 12 November 2026 at 09:30 UTC: no new member can be added") {
		t.Errorf("after the grace:\n%s", late)
	}
}

// TestGracePeriodGivesTheExactEnd: after the end, the exact moment it ended.
func TestGracePeriodGivesTheExactEnd(t *testing.T) {
	end := t0.Add(-90 * time.Minute)
	rs := GracePeriod{For: 14 * 24 * time.Hour}.Due(ledgerWith(t, account("acme", end)), t0)
	if len(rs) != 1 || !strings.Contains(rs[0].Body, "ended on Monday 2 November 2026 at 08:00 UTC") {
		t.Fatalf("grace reminder: %+v", rs)
	}
}

// TestPoolsOverSeatsMarksMemberSeats: the member-seat overage is reported
// as such, so that its reminder speaks of members.
func TestPoolsOverSeatsMarksMemberSeats(t *testing.T) {
	st := ledgerWith(t, account("acme", time.Time{}),
		ledger.Command{Type: ledger.CmdSetSeats, Payload: &ledger.SetSeats{Account: "acme", Seats: 10}})
	emails := make([]string, 11)
	for i := range emails {
		emails[i] = string(rune('a'+i)) + "@acme.test"
	}
	c := ledger.Command{Type: ledger.CmdAddUsers, Now: t0, Payload: &ledger.AddUsers{Account: "acme", Emails: emails}}
	if r := st.Apply(10, &c); r.Error != nil {
		t.Fatal(r.Error)
	}
	os := PoolsOverSeats(st, t0)
	if len(os) != 1 || !os[0].Members || os[0].InUse != 11 || os[0].Seats != 10 {
		t.Fatalf("overages: %+v", os)
	}
}
