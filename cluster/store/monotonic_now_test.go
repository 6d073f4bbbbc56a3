package store

import (
	"context"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// TestLeaderTimeNeverRunsBackwards is the regression test for what the
// chaos test found: a command stamped before another but submitted after it
// entered the log with the earlier time, so a grant could be dated before
// the release that freed its seat and more leases than seats overlapped in
// ledger time. The store now raises such a stamp to the latest one.
func TestLeaderTimeNeverRunsBackwards(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	seed(t, s, 1, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	late := time.Now().UTC()
	early := late.Add(-time.Second)
	g := mustPropose(t, s, ledger.Command{Type: ledger.CmdCheckout, Now: late, Payload: &ledger.Checkout{Account: "acme", Device: "d0", Feature: "cad"}})
	mustPropose(t, s, ledger.Command{Type: ledger.CmdRelease, Now: late, Payload: &ledger.Release{Account: "acme", Device: "d0", LeaseID: g.Lease.ID}})
	// Stamped a second before the release, proposed after it.
	r, err := s.Propose(ctx, ledger.Command{Type: ledger.CmdCheckout, Now: early, Payload: &ledger.Checkout{Account: "acme", Device: "d1", Feature: "cad"}})
	if err != nil || r.Error != nil || r.Lease == nil {
		t.Fatalf("checkout: %+v %v", r, err)
	}
	if r.Lease.Since.Before(late) {
		t.Fatalf("lease %d dated %s, before the release at %s that freed its seat", r.Lease.ID, r.Lease.Since, late)
	}
	var last time.Time
	s.Read(func(st *ledger.State) { last = st.LastCommandTime() })
	if !last.Equal(r.Lease.Since) {
		t.Fatalf("ledger time %s, lease since %s", last, r.Lease.Since)
	}
}
