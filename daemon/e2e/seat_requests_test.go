package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSeatRequestMailsTheOperatorAndPricesEstimateTheCharge: an account's
// request for more seats reaches the cluster operator's mailbox once and
// shows in the audit log; plan prices give usage an estimate of the next
// charge; prices are a commercial term.
func TestSeatRequestMailsTheOperatorAndPricesEstimateTheCharge(t *testing.T) {
	mb := startMailbox(t)
	s := startServer(t, append(mb.flags(t), "--operator-email", "ops@vendor.test")...)
	s.mustCtl("accounts", "create", "acme", "--admin-email", "boss@acme.test", "--admin-member", "--member-seats", "3")

	if out := s.mustCtl("seats", "request", "acme", "5", "--note", "new hires in March"); !strings.Contains(out, "asked the cluster operator for 5 more seats") {
		t.Fatalf("seats request: %s", out)
	}
	if r := s.ctl("seats", "request", "acme", "0"); r.code == 0 {
		t.Fatalf("a request for 0 seats was accepted")
	}
	eventually(t, 30*time.Second, "the operator gets the seat request", func() error {
		if n := len(mb.to("ops@vendor.test")); n != 1 {
			return fmt.Errorf("%d mails", n)
		}
		return nil
	})
	m := mb.to("ops@vendor.test")[0].data
	for _, want := range []string{"Subject: Tally: acme requests 5 more seats", "asks for 5 more member seats (it has 3 purchased)", "Note: new hires in March", "tallyctl seats set acme 8"} {
		if !strings.Contains(m, want) {
			t.Errorf("mail lacks %q:\n%s", want, m)
		}
	}
	if out := s.mustCtl("audit", "--account", "acme"); !strings.Contains(out, "request 5 more member seats") {
		t.Errorf("audit log lacks the request:\n%s", out)
	}
	// Still one mail a few notifier rounds later.
	time.Sleep(time.Second)
	if n := len(mb.to("ops@vendor.test")); n != 1 {
		t.Fatalf("the request was mailed %d times", n)
	}

	s.mustCtl("seats", "prices", "acme", "--currency", "eur", "--seat-price", "12.50", "--period", "month")
	if out := s.mustCtl("usage", "acme"); !strings.Contains(out, "next charge (estimate): EUR 37.50 = 3 seats x EUR 12.50 per month") {
		t.Fatalf("usage without the estimate:\n%s", out)
	}
	if r := s.ctl("seats", "prices", "acme", "--currency", "euro", "--seat-price", "1"); r.code == 0 || !strings.Contains(r.stderr, "ISO 4217") {
		t.Fatalf("a bad currency: exit %d %s", r.code, r.stderr)
	}
}
