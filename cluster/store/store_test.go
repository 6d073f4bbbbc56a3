package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{
		NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, Logger: quietLogger(),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustPropose(t *testing.T, s *Store, c ledger.Command) ledger.Result {
	t.Helper()
	r, err := s.Propose(context.Background(), c)
	if err != nil {
		t.Fatalf("propose %s: %v", c.Type, err)
	}
	if r.Error != nil {
		t.Fatalf("%s: %v", c.Type, r.Error)
	}
	return r
}

func seed(t *testing.T, s *Store, seats, devices int) {
	mustPropose(t, s, ledger.Command{Type: ledger.CmdBootstrap, Payload: &ledger.Bootstrap{ClusterID: "c1", Settings: ledger.DefaultSettings()}})
	mustPropose(t, s, ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme"}})
	mustPropose(t, s, ledger.Command{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: "acme", Feature: "cad", Seats: seats}})
	mustPropose(t, s, ledger.Command{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{ID: "et", Account: "acme", Hash: "h", Expires: time.Now().Add(time.Hour)}})
	for i := 0; i < devices; i++ {
		mustPropose(t, s, ledger.Command{Type: ledger.CmdEnrollDevice, Payload: &ledger.EnrollDevice{Account: "acme", TokenID: "et", Code: fmt.Sprint("d", i), KeyFingerprint: "f"}})
	}
}

// TestConcurrentCheckoutsNeverOverGrant races many checkouts through the
// batching proposer and checks that exactly the purchased seats are granted,
// and that the grants survive a restart from the raft-boltdb files.
func TestConcurrentCheckoutsNeverOverGrant(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	const seats, devices = 7, 40
	seed(t, s, seats, devices)

	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := map[uint64]string{}
	noSeat := 0
	for i := 0; i < devices; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.Propose(context.Background(), ledger.Command{Type: ledger.CmdCheckout, RequestID: fmt.Sprint("req", i), Payload: &ledger.Checkout{Account: "acme", Device: fmt.Sprint("d", i), Feature: "cad"}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("propose: %v", err)
			case r.Error != nil && r.Error.Code == protocol.CodeNoSeat:
				noSeat++
			case r.Error != nil:
				t.Errorf("checkout: %v", r.Error)
			default:
				if prev, dup := granted[r.Lease.ID]; dup {
					t.Errorf("lease %d granted to %s and %s", r.Lease.ID, prev, r.Lease.Device)
				}
				granted[r.Lease.ID] = r.Lease.Device
			}
		}(i)
	}
	wg.Wait()
	if len(granted) != seats || noSeat != devices-seats {
		t.Fatalf("granted %d, refused %d; want %d and %d", len(granted), noSeat, seats, devices-seats)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir)
	defer s.Close()
	var leases []ledger.Lease
	s.Read(func(st *ledger.State) { leases = st.Leases(ledger.LeaseFilter{}) })
	if len(leases) != seats {
		t.Fatalf("after restart %d leases, want %d", len(leases), seats)
	}
	for _, l := range leases {
		if granted[l.ID] != l.Device {
			t.Fatalf("after restart lease %d belongs to %s, was granted to %s", l.ID, l.Device, granted[l.ID])
		}
	}
	// A retried request ID after restart returns the recorded grant. Which
	// devices won a seat depends on how the proposals were batched, so retry
	// one that did.
	var winner string
	for _, dev := range granted {
		winner = dev
		break
	}
	r := mustPropose(t, s, ledger.Command{Type: ledger.CmdCheckout, RequestID: "req" + winner[1:], Payload: &ledger.Checkout{Account: "acme", Device: winner, Feature: "cad"}})
	if !r.Replayed || r.Lease == nil || r.Lease.Device != winner {
		t.Fatalf("retried grant of %s: %+v", winner, r)
	}
	s.Read(func(st *ledger.State) { leases = st.Leases(ledger.LeaseFilter{}) })
	if len(leases) != seats {
		t.Fatalf("a retried checkout changed the lease count to %d", len(leases))
	}
}

// TestSnapshotAndRestart forces a Raft snapshot, truncating the log, and
// checks the ledger comes back from the snapshot plus the remaining log.
func TestSnapshotAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	seed(t, s, 3, 3)
	a := mustPropose(t, s, ledger.Command{Type: ledger.CmdCheckout, Payload: &ledger.Checkout{Account: "acme", Device: "d0", Feature: "cad"}})
	if err := s.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	b := mustPropose(t, s, ledger.Command{Type: ledger.CmdCheckout, Payload: &ledger.Checkout{Account: "acme", Device: "d1", Feature: "cad"}})
	s.Close()

	s = openTestStore(t, dir)
	defer s.Close()
	var got []ledger.Lease
	s.Read(func(st *ledger.State) { got = st.Leases(ledger.LeaseFilter{}) })
	if len(got) != 2 || got[0].ID != a.Lease.ID || got[1].ID != b.Lease.ID {
		t.Fatalf("leases after snapshot+restart: %+v", got)
	}
	if !got[0].Horizon.Equal(a.Lease.Horizon) {
		t.Fatalf("horizon changed across restart: %v vs %v", got[0].Horizon, a.Lease.Horizon)
	}
}

func BenchmarkProposeCheckoutParallel(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, Logger: quietLogger(),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	must := func(c ledger.Command) {
		if r, err := s.Propose(ctx, c); err != nil || r.Error != nil {
			b.Fatal(err, r.Error)
		}
	}
	must(ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme"}})
	must(ledger.Command{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: "acme", Feature: "cad", Seats: 1 << 30}})
	must(ledger.Command{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{ID: "et", Account: "acme", Hash: "h", Expires: time.Now().Add(time.Hour)}})
	var mu sync.Mutex
	n := 0
	next := func() int { mu.Lock(); defer mu.Unlock(); n++; return n }
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next()
			dev := fmt.Sprint("d", i)
			r, err := s.Propose(ctx, ledger.Command{Type: ledger.CmdBatch, Batch: []ledger.Command{
				{Type: ledger.CmdEnrollDevice, Now: time.Now(), Payload: &ledger.EnrollDevice{Account: "acme", TokenID: "et", Code: dev, KeyFingerprint: "f"}},
				{Type: ledger.CmdCheckout, Now: time.Now(), Payload: &ledger.Checkout{Account: "acme", Device: dev, Feature: "cad"}},
			}})
			if err != nil || r.Batch[1].Error != nil {
				b.Fatal(err, r)
			}
		}
	})
}
