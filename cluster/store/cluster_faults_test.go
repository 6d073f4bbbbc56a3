package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tally-licensing/tally/internal/clustertest/failpoint"
)

// harnessLeaderLease is the LeaderLeaseTimeout the harness gives every node
// (cluster_harness_test.go, open).
const harnessLeaderLease = 100 * time.Millisecond

// TestClusterFaults runs devices checking out, renewing and releasing
// against three nodes while the network misbehaves, in phases:
//
//  1. the leader is cut off from the majority: it must stop acting as
//     leader (and so stop granting) within its leader lease, the majority
//     elects another leader and devices carry on;
//  2. heal, then partition the new leader away the same way;
//  3. heal, then every link drops requests and replies and delays the rest.
//
// Then everything heals and the run is verified as in verifyRun: S1 at every
// log entry and in ledger time, S3/S5 by the log audit, every acknowledged
// grant and release in the log, no lease lost or resurrected, and the client
// history linearizable against the seat model.
func TestClusterFaults(t *testing.T) {
	const nodes, devices, seats = 3, 5, 3
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	seed := chaosSeed(t)
	c := newTestCluster(t, clusterOptions{nodes: nodes, seed: seed})
	c.seed(ctx, clLongSettings, seats, devices)
	w := newWorkload(c, clLongSettings, seats, devices)
	w.OpTimeout = 5 * time.Second
	halt := w.Run(t, seed)
	progress := w.progressCheck(t, ctx, c, 20*time.Second)

	isolateLeader := func(round int) {
		t.Helper()
		old, err := c.waitLeader(ctx, c.all())
		if err != nil {
			t.Fatal(err)
		}
		var majority []int
		for i := 0; i < nodes; i++ {
			if i != old {
				majority = append(majority, i)
			}
		}
		oldStore := c.storeOf(old)
		cut := time.Now()
		c.partition([]int{old}, majority)
		// Raft checks its leader lease every LeaderLeaseTimeout and steps
		// down when a quorum has not answered within one: at most two
		// leases after the cut. The slack is for a loaded, race-detected
		// test machine; the measured time is logged.
		for oldStore.IsLeader() {
			if err := sleepCtx(ctx, time.Millisecond); err != nil {
				t.Fatalf("round %d: the isolated leader n%d never stepped down", round, old)
			}
		}
		stepDown := time.Since(cut)
		t.Logf("round %d: isolated leader n%d stepped down %v after the cut (leader lease %v)", round, old, stepDown, harnessLeaderLease)
		if limit := 2*harnessLeaderLease + time.Second; stepDown > limit {
			t.Errorf("round %d: the isolated leader kept leading for %v (> %v)", round, stepDown, limit)
		}
		// An isolated node cannot confirm leadership, so it cannot serve a
		// current read or renew on a verified leader.
		vctx, vcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if err := oldStore.VerifyLeader(vctx); err == nil {
			t.Errorf("round %d: the isolated node n%d verified its leadership", round, old)
		}
		vcancel()
		nl, err := c.waitLeader(ctx, majority)
		if err != nil {
			t.Fatal(err)
		}
		c.note("round %d: n%d leads the majority", round, nl)
		progress(fmt.Sprintf("round %d: with the old leader cut off", round))
	}

	progress("before any fault")
	isolateLeader(1)
	c.heal()
	progress("after healing")
	isolateLeader(2)
	c.heal()
	progress("after healing again")

	for i := 0; i < nodes; i++ {
		c.setFaults(i, failpoint.Faults{Drop: 0.15, DropReply: 0.1, MaxDelay: 20 * time.Millisecond})
	}
	progress("with lossy, slow links")
	progress("with lossy, slow links (more)")
	for i := 0; i < nodes; i++ {
		c.setFaults(i, failpoint.Faults{})
	}
	progress("after the faults")

	halt()
	logFigures(t, w.verifyRun(t, true))
}
