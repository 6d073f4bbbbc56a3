package leasing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// clock is a settable clock for the service (the store stamps nothing the
// service does not).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *Service
	st    *store.Store
	clk   *clock
	keys  *lease.KeySet
	devs  []ledger.DeviceRef
	ctx   context.Context
	apply func(ledger.Command)
}

func newEnv(tb testing.TB, seats, devices int) *env {
	tb.Helper()
	key, err := lease.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := lease.NewSigner(key)
	clk := &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := New(Config{Signer: signer, Logger: quiet, Now: clk.now, ReapInterval: 10 * time.Millisecond})
	st, err := store.Open(store.Config{NodeID: "n1", Dir: tb.TempDir(), RaftAddr: "127.0.0.1:0", Bootstrap: true, Logger: quiet,
		Observer: svc.Observe, HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	svc.SetStore(st)
	ctx := context.Background()
	if err := st.WaitForLeader(ctx); err != nil {
		tb.Fatal(err)
	}
	e := &env{svc: svc, st: st, clk: clk, keys: lease.NewKeySet(signer.PublicKey()), ctx: ctx}
	e.apply = func(c ledger.Command) {
		tb.Helper()
		r, err := svc.propose(ctx, c)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			tb.Fatalf("%s: %v", c.Type, err)
		}
	}
	e.apply(ledger.Command{Type: ledger.CmdBootstrap, Payload: &ledger.Bootstrap{ClusterID: "c1", Settings: ledger.Settings{LeaseTTL: 10 * time.Second, HeartbeatInterval: 2 * time.Second, MaxSkew: time.Second}}})
	e.apply(ledger.Command{Type: ledger.CmdRegisterKey, Payload: &ledger.SigningKey{KeyID: signer.KeyID(), PublicKey: signer.PublicKey(), NodeID: "n1"}})
	e.apply(ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme"}})
	e.apply(ledger.Command{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: "acme", Feature: "cad", Seats: seats}})
	e.apply(ledger.Command{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{ID: "et", Account: "acme", Hash: "h", Expires: clk.now().Add(time.Hour)}})
	for i := 0; i < devices; i++ {
		code := fmt.Sprintf("D%03d", i)
		e.apply(ledger.Command{Type: ledger.CmdEnrollDevice, Payload: &ledger.EnrollDevice{Account: "acme", TokenID: "et", Code: code, KeyFingerprint: "f"}})
		e.devs = append(e.devs, ledger.DeviceRef{Account: "acme", Code: code})
	}
	return e
}

func (e *env) appliedIndex() uint64 {
	var i uint64
	e.st.Read(func(st *ledger.State) { i = st.AppliedIndex() })
	return i
}

func TestTokenMatchesCommittedLease(t *testing.T) {
	e := newEnv(t, 1, 1)
	l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.keys.Verify(l.Token, lease.Expect{Issuer: "c1", Device: "D000", Feature: "cad", Now: e.clk.now()})
	if err != nil {
		t.Fatal(err)
	}
	var committed ledger.Lease
	e.st.Read(func(st *ledger.State) { committed, _ = st.Lease(l.ID) })
	// S2: the token's exp is the committed horizon, never later.
	if c.Expires.After(committed.Horizon) {
		t.Fatalf("token exp %s outlives the committed horizon %s", c.Expires, committed.Horizon)
	}
	if c.LeaseID != l.ID || c.Account != "acme" {
		t.Fatalf("claims %+v", c)
	}
}

// TestNoTokenFromAnUnregisteredKey: a node whose public key is not in the
// JWKS must not hand out tokens nobody can verify.
func TestNoTokenFromAnUnregisteredKey(t *testing.T) {
	e := newEnv(t, 1, 1)
	other, _ := lease.GenerateKey()
	e.svc.signer, _ = lease.NewSigner(other)
	_, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if protocol.CodeOf(err) != protocol.CodeUnavailable {
		t.Fatalf("checkout with an unregistered signing key: %v", err)
	}
}

// TestHeartbeatTouchesRaftOnlyWhenTheHorizonMustMove checks S4.
func TestHeartbeatTouchesRaftOnlyWhenTheHorizonMustMove(t *testing.T) {
	e := newEnv(t, 2, 1)
	l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if err != nil {
		t.Fatal(err)
	}
	hb := protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: l.ID, Feature: "cad"}}}
	before := e.appliedIndex()
	e.clk.add(4 * time.Second) // 6s of the 10s TTL left: no renewal due
	resp, err := e.svc.Heartbeat(e.ctx, e.devs[0], hb)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.appliedIndex(); got != before {
		t.Fatalf("a heartbeat that needed no renewal wrote to Raft (index %d -> %d)", before, got)
	}
	if st := resp.Leases[0]; st.State != protocol.LeaseHeld || st.Token != "" || !st.Expires.Equal(l.Expires) {
		t.Fatalf("no-renewal heartbeat answered %+v", st)
	}
	if resp.Interval.D() != 2*time.Second || resp.ServerTime.IsZero() {
		t.Fatalf("heartbeat response missing interval or server time: %+v", resp)
	}
	e.clk.add(2 * time.Second) // 4s left, under half the TTL: renew
	resp, err = e.svc.Heartbeat(e.ctx, e.devs[0], hb)
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Leases[0]
	if st.State != protocol.LeaseHeld || st.Token == "" || !st.Expires.Equal(e.clk.now().Add(10*time.Second)) {
		t.Fatalf("renewing heartbeat answered %+v", st)
	}
	if _, err := e.keys.Verify(st.Token, lease.Expect{Device: "D000", Now: e.clk.now()}); err != nil {
		t.Fatalf("renewed token: %v", err)
	}
	if e.appliedIndex() == before {
		t.Fatal("renewal did not go through Raft")
	}
}

func TestHeartbeatReportsLostLeases(t *testing.T) {
	e := newEnv(t, 2, 2)
	l, _ := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if _, err := e.svc.Revoke(e.ctx, l.ID, "test"); err != nil {
		t.Fatal(err)
	}
	resp, err := e.svc.Heartbeat(e.ctx, e.devs[0], protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: l.ID}, {ID: 999}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.Leases[0]; s.State != protocol.LeaseLost || s.Error.Code != protocol.CodeLeaseRevoked {
		t.Fatalf("revoked lease: %+v", s)
	}
	if s := resp.Leases[1]; s.State != protocol.LeaseLost || s.Error.Code != protocol.CodeLeaseNotFound {
		t.Fatalf("unknown lease: %+v", s)
	}
	// Another device naming the lease is told it is not the holder.
	l2, _ := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad", User: "u2"}, "")
	resp, _ = e.svc.Heartbeat(e.ctx, e.devs[1], protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: l2.ID}}})
	if s := resp.Leases[0]; s.State != protocol.LeaseLost || s.Error.Code != protocol.CodeNotHolder {
		t.Fatalf("foreign lease: %+v", s)
	}
}

// TestQueueServesWaitersInOrder queues three devices for one seat and frees
// it three times: they are served first come, first served, and a
// newcomer that does not wait cannot jump the queue.
func TestQueueServesWaitersInOrder(t *testing.T) {
	e := newEnv(t, 1, 5)
	holder, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		dev int
		l   protocol.Lease
		err error
	}
	served := make(chan got, 3)
	for i := 1; i <= 3; i++ {
		go func(i int) {
			l, err := e.svc.Checkout(e.ctx, e.devs[i], protocol.CheckoutRequest{Feature: "cad", Wait: protocol.Duration(time.Minute)}, "")
			served <- got{i, l, err}
		}(i)
		// Enqueue one at a time so the order is known.
		deadline := time.Now().Add(10 * time.Second)
		for len(e.svc.Waiting()) < i {
			if time.Now().After(deadline) {
				t.Fatalf("waiter %d never queued", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if ws := e.svc.Waiting(); ws[0].Device != "D001" || ws[2].Device != "D003" || ws[2].Position != 3 {
		t.Fatalf("queue: %+v", ws)
	}
	if _, err := e.svc.Checkout(e.ctx, e.devs[4], protocol.CheckoutRequest{Feature: "cad"}, ""); protocol.CodeOf(err) != protocol.CodeNoSeat {
		t.Fatalf("newcomer while others wait: %v", err)
	}
	prev := holder
	prevDev := 0
	for want := 1; want <= 3; want++ {
		if err := e.svc.Release(e.ctx, e.devs[prevDev], prev.ID, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-served:
			if g.err != nil || g.dev != want {
				t.Fatalf("served device %d (err %v), want device %d", g.dev, g.err, want)
			}
			prev, prevDev = g.l, g.dev
		case <-time.After(10 * time.Second):
			t.Fatalf("waiter %d not served after a release", want)
		}
	}
	if n := len(e.svc.Waiting()); n != 0 {
		t.Fatalf("%d waiters left", n)
	}
}

func TestWaitGivesUpWithNoSeat(t *testing.T) {
	e := newEnv(t, 1, 2)
	if _, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Checkout(e.ctx, e.devs[1], protocol.CheckoutRequest{Feature: "cad", Wait: protocol.Duration(50 * time.Millisecond)}, "")
	if protocol.CodeOf(err) != protocol.CodeNoSeat {
		t.Fatalf("wait ran out: %v", err)
	}
	if n := len(e.svc.Waiting()); n != 0 {
		t.Fatalf("a waiter that gave up is still queued (%d)", n)
	}
}

// TestReaperReclaimsOnlyAfterHorizonPlusSkew runs the real reaper loop.
func TestReaperReclaimsOnlyAfterHorizonPlusSkew(t *testing.T) {
	e := newEnv(t, 1, 1)
	l, _ := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go e.svc.RunReaper(ctx)
	held := func() bool {
		var ok bool
		e.st.Read(func(st *ledger.State) { _, perr := st.Lease(l.ID); ok = perr == nil })
		return ok
	}
	e.clk.add(10*time.Second + 999*time.Millisecond) // horizon passed, skew not
	time.Sleep(100 * time.Millisecond)               // ten reaper rounds
	if !held() {
		t.Fatal("reaper reclaimed a lease before its horizon plus skew")
	}
	e.clk.add(time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for held() {
		if time.Now().After(deadline) {
			t.Fatal("reaper never reclaimed the expired lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkHeartbeatNoRenewal is the hot path of a steady site: a heartbeat
// that finds its horizon far enough away and answers from memory.
func BenchmarkHeartbeatNoRenewal(b *testing.B) {
	e := newEnv(b, 10, 1)
	var refs []protocol.LeaseRef
	for i := 0; i < 10; i++ {
		l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad", User: fmt.Sprint("u", i)}, "")
		if err != nil {
			b.Fatal(err)
		}
		refs = append(refs, protocol.LeaseRef{ID: l.ID, Feature: "cad"})
	}
	req := protocol.HeartbeatRequest{Leases: refs}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.svc.Heartbeat(e.ctx, e.devs[0], req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuickHeartbeat is the datagram heartbeat's read of the ledger
// (QuickHeartbeat) for the same ten leases: what remains of a heartbeat
// once neither QUIC nor JSON carries it.
func BenchmarkQuickHeartbeat(b *testing.B) {
	e := newEnv(b, 10, 1)
	var refs []protocol.LeaseRef
	var ids []uint64
	for i := 0; i < 10; i++ {
		l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
		if err != nil {
			b.Fatal(err)
		}
		refs = append(refs, protocol.LeaseRef{ID: l.ID, Feature: "cad"})
		ids = append(ids, l.ID)
	}
	resp, err := e.svc.Heartbeat(e.ctx, e.devs[0], protocol.HeartbeatRequest{Leases: refs})
	if err != nil {
		b.Fatal(err)
	}
	view := ViewDigest(&resp)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := e.svc.QuickHeartbeat(e.devs[0], ids, view); !ok {
			b.Fatal("not ok")
		}
	}
}

// BenchmarkCheckoutRelease is a grant and a release through Raft, with the
// token signed.
func BenchmarkCheckoutRelease(b *testing.B) {
	e := newEnv(b, 1, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := e.svc.Release(e.ctx, e.devs[0], l.ID, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHeartbeatOnATrailingCopyAsksTheLedger is the regression test for
// what the real-process chaos test found: a heartbeat answered by a node
// whose copy of the ledger trails the leader (a follower that has not
// applied a grant yet, or a node restarting) told the agent its lease was
// lost (lease_not_found), and the agent dropped a lease it held. The
// service now lets only the ledger, through Raft, say a lease is lost.
func TestHeartbeatOnATrailingCopyAsksTheLedger(t *testing.T) {
	leader := newEnv(t, 1, 1)
	trailing := newEnv(t, 1, 1) // the same ledger, minus the grant below
	l, err := leader.svc.Checkout(leader.ctx, leader.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// The trailing node's service reads its own copy and proposes through
	// the leader, as a follower forwards.
	trailing.svc.cfg.Propose = leader.st.Propose
	resp, err := trailing.svc.Heartbeat(trailing.ctx, trailing.devs[0], protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: l.ID, Feature: "cad"}, {ID: 999, Feature: "cad"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.Leases[0]; s.State != protocol.LeaseHeld || s.Token == "" {
		t.Fatalf("a held lease the trailing copy has not seen yet: %+v", s)
	}
	if s := resp.Leases[1]; s.State != protocol.LeaseLost || s.Error == nil || s.Error.Code != protocol.CodeLeaseNotFound {
		t.Fatalf("an unknown lease: %+v", s)
	}
}

// TestSignLeaseWithAClockAheadOfTheLedger is the regression test for what
// the clock-offset chaos runs found: a node whose clock ran ahead of the
// ledger time a lease's horizon was set in failed to sign its token
// ("Expires is not after IssuedAt") and the agent got an internal error for
// a committed grant. The token is now dated at its not-before.
func TestSignLeaseWithAClockAheadOfTheLedger(t *testing.T) {
	e := newEnv(t, 1, 1)
	l, err := e.svc.Checkout(e.ctx, e.devs[0], protocol.CheckoutRequest{Feature: "cad"}, "")
	if err != nil {
		t.Fatal(err)
	}
	var held ledger.Lease
	e.st.Read(func(st *ledger.State) { held, _ = st.Lease(l.ID) })
	e.clk.add(time.Minute) // far past the horizon, by this node's clock
	tok, err := e.svc.SignLease(held)
	if err != nil {
		t.Fatalf("sign with a clock ahead of the ledger: %v", err)
	}
	c, _, err := lease.ParseUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Expires.Equal(held.Horizon.Truncate(time.Second)) || !c.IssuedAt.Before(c.Expires) {
		t.Fatalf("token iat %s exp %s, lease horizon %s", c.IssuedAt, c.Expires, held.Horizon)
	}
}
