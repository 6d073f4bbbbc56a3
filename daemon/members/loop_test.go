package members

import (
	"context"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// ledgerStore runs commands straight on a real ledger, standing in for
// Raft with one node.
type ledgerStore struct {
	st  *ledger.State
	idx uint64
	now time.Time
}

func (s *ledgerStore) IsLeader() bool                 { return true }
func (s *ledgerStore) Read(fn func(st *ledger.State)) { fn(s.st) }
func (s *ledgerStore) propose(_ context.Context, c ledger.Command) (ledger.Result, error) {
	s.idx++
	c.Now = s.now
	return s.st.Apply(s.idx, &c), nil
}

func TestSweepExpiresAndRenews(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s := &ledgerStore{st: ledger.New(), now: t0}
	must := func(c ledger.Command) {
		t.Helper()
		if r, _ := s.propose(context.Background(), c); r.Error != nil {
			t.Fatalf("%s: %v", c.Type, r.Error)
		}
	}
	must(ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme"}})
	must(ledger.Command{Type: ledger.CmdSetSeats, Payload: &ledger.SetSeats{Account: "acme", Seats: 5}})
	must(ledger.Command{Type: ledger.CmdSetSubscription, Payload: &ledger.SetSubscription{Account: "acme", PeriodStart: t0, PeriodEnd: t0.Add(time.Hour), Renewal: ledger.RenewShrinkAllocated}})
	must(ledger.Command{Type: ledger.CmdAddUser, Payload: &ledger.AddUser{Account: "acme", Email: "a@acme.test"}})
	must(ledger.Command{Type: ledger.CmdInvite, Payload: &ledger.Invite{Account: "acme", Email: "b@acme.test", Expires: t0.Add(time.Minute)}})
	cfg := Config{Store: s, Propose: s.propose, Now: func() time.Time { return s.now }}

	Sweep(context.Background(), cfg) // nothing due yet
	if u, _ := s.st.MemberUsage("acme"); u.Pending != 1 || u.Purchased != 5 || u.LastRenewal != nil {
		t.Fatalf("before anything is due: %+v", u)
	}
	s.now = t0.Add(time.Hour)
	Sweep(context.Background(), cfg)
	u, _ := s.st.MemberUsage("acme")
	if u.Pending != 0 || u.Purchased != 1 || u.LastRenewal == nil || !u.Subscription.End.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("after the period end: %+v", u)
	}
}
