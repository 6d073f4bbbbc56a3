package store_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"

	"github.com/tally-licensing/tally/internal/clustertest/failpoint"
)

// chaosSeed is TALLY_CHAOS_SEED when set, else a fresh seed. It is logged,
// and printed again with the command to repeat the run when the test fails.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TALLY_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TALLY_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("repeat with: TALLY_CHAOS_SEED=%d go test -race -run '^%s$' ./cluster/store/", seed, t.Name())
		}
	})
	return seed
}

// chaosDuration is how long the nemesis runs: TALLY_CHAOS_DURATION (a Go
// duration) when set, else def.
func chaosDuration(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	if s := os.Getenv("TALLY_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TALLY_CHAOS_DURATION=%q: %v", s, err)
		}
		return d
	}
	return def
}

// TestClusterChaos runs devices checking out, renewing and releasing while a
// nemesis, driven by the seed, kills and restarts nodes, pauses them,
// partitions the cluster at random and makes links drop and delay messages.
// The nemesis may take the majority down for a while: operations then time
// out and are recorded as pending (they may or may not have happened), which
// is what the linearizability checker is for. The history is checked for S1
// and linearizable checkout/renew/release (porcupine), and the applied log
// is audited (verifyRun).
//
// Short by default (a few seconds, three nodes); TALLY_CHAOS=1 (make chaos)
// uses five nodes and more devices, TALLY_CHAOS_DURATION sets the length.
func TestClusterChaos(t *testing.T) {
	runChaos(t, clLongSettings, false, false, 4*time.Second)
}

// TestClusterChaosOverTLS is TestClusterChaos with Raft on Tally's own
// transport: mutual TLS over loopback TCP with node certificates from a
// cluster CA, the stream layer tallyd uses. Killed nodes close their
// listeners and come back on the same address; partitions and pauses
// refuse RPCs in the fault layer above the real connections.
func TestClusterChaosOverTLS(t *testing.T) {
	runChaos(t, clLongSettings, false, true, 3*time.Second)
}

// clShortSettings let leases expire within the run, so that seats come back
// by reclaim as well as by release.
var clShortSettings = ledger.Settings{LeaseTTL: time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxSkew: 200 * time.Millisecond}

// TestClusterChaosExpiry is TestClusterChaos with one-second leases, which
// devices sometimes abandon and which expire while faults slow renewals
// down: seats are reclaimed by whichever node leads at the time, so S3 (no
// reclaim before horizon + skew, by a new leader too) is exercised across
// leader changes. The seat model knows no time, so this run is checked by
// the log audit (S1 at every entry, S3 for every reclaim, S5) and the
// ledger-time interval check, not by porcupine.
func TestClusterChaosExpiry(t *testing.T) {
	runChaos(t, clShortSettings, true, false, 3*time.Second)
}

func runChaos(t *testing.T, settings ledger.Settings, expiry, overTLS bool, def time.Duration) {
	nodes, devices, seats := 3, 5, 3
	dur := chaosDuration(t, def)
	if chaosEnabled() {
		nodes, devices, seats = 5, 8, 4
		dur = chaosDuration(t, 60*time.Second)
	}
	seed := chaosSeed(t)
	t.Logf("%d nodes, %d devices, %d seats, nemesis for %v", nodes, devices, seats, dur)
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	c := newTestCluster(t, clusterOptions{nodes: nodes, snapshotThreshold: 32, seed: seed, tls: overTLS})
	c.seed(ctx, settings, seats, devices)
	w := newWorkload(c, settings, seats, devices)
	w.Expiry = expiry
	w.OpTimeout = 3 * time.Second
	halt := w.Run(t, seed)

	rng := rand.New(rand.NewPCG(seed, 7))
	actions := map[string]int{}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		act := nemesisStep(c, rng)
		actions[act]++
		// Let the cluster (and devices) live with the fault for a while.
		hold := time.Duration(100+rng.IntN(400)) * time.Millisecond
		if err := sleepCtx(ctx, hold); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("nemesis: %v", actions)

	// Every fault ends; the cluster must serve again.
	for i := range c.nodes {
		c.setFaults(i, failpoint.Faults{})
		if c.storeOf(i) == nil {
			c.restart(i)
		}
	}
	c.heal()
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	err := w.WaitProgress(pctx, int64(devices))
	pcancel()
	if err != nil {
		c.dumpEvents()
		t.Fatalf("no progress once the faults ended: %v", err)
	}
	halt()
	logFigures(t, w.verifyRun(t, !expiry))
}

// nemesisStep injects one fault, chosen at random, and names it.
func nemesisStep(c *testCluster, rng *rand.Rand) string {
	n := len(c.nodes)
	running := c.running()
	switch p := rng.IntN(100); {
	case p < 15 && len(running) > 0:
		// kill: prefer the leader half the time.
		victim := running[rng.IntN(len(running))]
		if li, _ := c.leader(); li >= 0 && rng.IntN(2) == 0 {
			victim = li
		}
		c.stop(victim)
		return "kill"
	case p < 35 && len(running) < n:
		for i := 0; i < n; i++ {
			if c.storeOf(i) == nil {
				c.restart(i)
				return "restart"
			}
		}
	case p < 45 && len(running) > 0:
		c.pause(running[rng.IntN(len(running))], time.Duration(100+rng.IntN(700))*time.Millisecond)
		return "pause"
	case p < 65:
		// A random split into two sides; sometimes the leader alone.
		perm := rng.Perm(n)
		k := 1 + rng.IntN(n-1)
		if li, _ := c.leader(); li >= 0 && rng.IntN(2) == 0 {
			for i, v := range perm {
				if v == li {
					perm[0], perm[i] = perm[i], perm[0]
				}
			}
			k = 1
		}
		c.partition(perm[:k], perm[k:])
		return "partition"
	case p < 80:
		i := rng.IntN(n)
		c.setFaults(i, failpoint.Faults{Drop: rng.Float64() * 0.3, DropReply: rng.Float64() * 0.2, MaxDelay: time.Duration(rng.IntN(40)) * time.Millisecond})
		return "lossy-link"
	case p < 90:
		for i := 0; i < n; i++ {
			c.setFaults(i, failpoint.Faults{})
		}
		return "clear-faults"
	}
	c.heal()
	return "heal"
}

// TestChaosCheckerCatchesOverGrant proves that the checks the chaos tests
// rely on can fail: a real, clean history recorded against a one-seat pool
// passes them, and the same history with one forged extra grant (a device
// told it got a seat while another device held the only one, and the log
// entry that would have granted it) is refused by porcupine, by the log
// audit (S1) and by the ledger-time interval check.
func TestChaosCheckerCatchesOverGrant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const devices, seats = 3, 1
	c := newTestCluster(t, clusterOptions{nodes: 3, seed: 1})
	c.seed(ctx, clLongSettings, seats, devices)

	rec := linearize.NewRecorder()
	// d0 takes the only seat; d1 is refused; d0 releases; d1 takes it.
	do := func(dev int, in linearize.Input, cmd ledger.Command) ledger.Result {
		call := rec.Now()
		res := c.mustProposeAny(ctx, cmd)
		out := linearize.Output{Outcome: linearize.OK}
		switch {
		case res.Error != nil:
			out = linearize.Output{Outcome: linearize.Refused, Code: string(res.Error.Code)}
		case res.Lease != nil:
			out.Lease = res.Lease.ID
		}
		rec.Record(dev, in, call, out)
		return res
	}
	g := do(0, linearize.Input{Kind: linearize.Checkout, Device: 0}, checkoutCmd("self-co-0", 0))
	do(1, linearize.Input{Kind: linearize.Checkout, Device: 1}, checkoutCmd("self-co-1", 1))
	do(0, linearize.Input{Kind: linearize.Release, Device: 0, Lease: g.Lease.ID}, releaseCmd("self-rel-0", 0, g.Lease.ID))
	g1 := do(1, linearize.Input{Kind: linearize.Checkout, Device: 1}, checkoutCmd("self-co-1b", 1))
	model := linearize.SeatModel(seats, devices)
	pk := linearize.PoolKey{Account: clAccount, Feature: clFeature}

	clean := rec.Operations()
	if res, err := linearize.Check(model, clean, 10*time.Second, ""); err != nil || res.Result != porcupine.Ok {
		t.Fatalf("clean history: %v %v", res.Result, err)
	}
	rep := linearize.Audit(c.trace.Log())
	if len(rep.Violations) != 0 {
		t.Fatalf("clean log: %v", rep.Violations)
	}
	if n, _, _ := linearize.MaxHeld(rep.Intervals[pk]); n != seats {
		t.Fatalf("clean log holds %d seats at most, want %d", n, seats)
	}

	// Forge: d2 is told it got lease 99 while d1 holds the only seat.
	call := rec.Now()
	rec.Record(2, linearize.Input{Kind: linearize.Checkout, Device: 2}, call, linearize.Output{Outcome: linearize.OK, Lease: 99})
	res, err := linearize.Check(model, rec.Operations(), 10*time.Second, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != porcupine.Illegal {
		t.Fatalf("porcupine accepted an over-granting history: %v", res.Result)
	}
	t.Logf("porcupine refused the forged history; visualization %s", res.Visualization)

	entries := c.trace.Log()
	last := entries[len(entries)-1]
	now := g1.Lease.Since.Add(time.Second)
	forged := linearize.Entry{
		Index: last.Index + 1,
		Cmd:   ledger.Command{Type: ledger.CmdCheckout, Now: now, RequestID: "forged", Payload: &ledger.Checkout{Account: clAccount, Device: "d2", Feature: clFeature}},
		Res:   ledger.Result{Lease: &ledger.Lease{ID: 99, Account: clAccount, Feature: clFeature, Device: "d2", Kind: ledger.KindFloating, Since: now, Horizon: now.Add(time.Hour)}},
	}
	rep = linearize.Audit(append(entries, forged))
	if !hasS1(rep.Violations) {
		t.Fatalf("the audit missed the forged grant: %v", rep.Violations)
	}
	if n, _, _ := linearize.MaxHeld(rep.Intervals[pk]); n <= seats {
		t.Fatalf("interval check: %d leases at most, want more than %d", n, seats)
	}
	t.Logf("audit: %v", rep.Violations)
}

func hasS1(vs []string) bool {
	for _, v := range vs {
		if strings.Contains(v, "S1:") {
			return true
		}
	}
	return false
}

// mustProposeAny proposes and fails the test on a replication error; the
// ledger's own refusals are returned.
func (c *testCluster) mustProposeAny(ctx context.Context, cmd ledger.Command) ledger.Result {
	c.t.Helper()
	res, err := c.propose(ctx, cmd)
	if err != nil {
		c.t.Fatalf("propose %s: %v", cmd.Type, err)
	}
	return res
}
