package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/protocol"
)

// TestClusterLeaderPartition cuts the leader (with one follower, in a
// five-node cluster) away from the majority and checks that:
//
//   - the deposed leader cannot commit a grant: Propose on it fails, and
//     after healing the grant is nowhere (its request ID was never applied);
//   - the majority elects a new leader that holds every lease granted
//     before, with the same fencing IDs and committed horizons (S3: a new
//     leader inherits every horizon from the log), and keeps granting;
//   - after healing every node converges to the same ledger.
func TestClusterLeaderPartition(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", nodes), func(t *testing.T) { testLeaderPartition(t, nodes, false) })
	}
	t.Run("3-nodes-over-TLS", func(t *testing.T) { testLeaderPartition(t, 3, true) })
}

func testLeaderPartition(t *testing.T, nodes int, overTLS bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newTestCluster(t, clusterOptions{nodes: nodes, seed: 1, tls: overTLS})
	defer func() {
		if t.Failed() {
			c.dumpEvents()
		}
	}()
	const seats = 3
	c.seed(ctx, clLongSettings, seats, 4)

	// Two grants, one renewed to a later horizon, before the partition.
	g0 := c.mustPropose(ctx, checkoutCmd("grant-d0", 0)).Lease
	g1 := c.mustPropose(ctx, checkoutCmd("grant-d1", 1)).Lease
	r := c.mustPropose(ctx, renewCmd("renew-d0", 0, g0.ID, 2*time.Hour))
	if len(r.Renewed) != 1 || r.Renewed[0].Lease == nil || !r.Renewed[0].Lease.Horizon.After(g0.Horizon) {
		t.Fatalf("renew: %+v", r)
	}
	g0.Horizon = r.Renewed[0].Lease.Horizon
	before := map[uint64]ledger.Lease{g0.ID: *g0, g1.ID: *g1}

	old, err := c.waitLeader(ctx, c.all())
	if err != nil {
		t.Fatal(err)
	}
	minority := []int{old}
	var majority []int
	for i := range nodes {
		if i == old {
			continue
		}
		if len(minority) < (nodes-1)/2 {
			minority = append(minority, i)
		} else {
			majority = append(majority, i)
		}
	}
	c.partition(minority, majority)

	// The deposed leader may still believe it leads for a moment, but it
	// cannot commit: whatever it answers, it is not a grant.
	oldStore := c.storeOf(old)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	res, err := oldStore.Propose(pctx, checkoutCmd("stale-grant-d2", 2))
	pcancel()
	var notLeader *store.ErrNotLeader
	switch {
	case err == nil:
		t.Fatalf("the partitioned leader committed a checkout without a majority: %+v", res)
	case errors.As(err, &notLeader), protocol.CodeOf(err) == protocol.CodeNotLeader, errors.Is(err, context.DeadlineExceeded):
		t.Logf("partitioned leader refused the grant: %v", err)
	default:
		t.Fatalf("unexpected error from the partitioned leader: %v", err)
	}

	// The majority elects a new leader, which inherited every lease.
	nl, err := c.waitLeader(ctx, majority)
	if err != nil {
		t.Fatal(err)
	}
	if nl == old {
		t.Fatalf("node %d is still the leader", old)
	}
	checkLeases := func(s *store.Store, want map[uint64]ledger.Lease, who string) {
		t.Helper()
		got := map[uint64]ledger.Lease{}
		for _, l := range leasesOf(s) {
			got[l.ID] = l
		}
		if len(got) != len(want) {
			t.Errorf("%s holds %d leases, want %d: %+v", who, len(got), len(want), got)
		}
		for id, w := range want {
			g, ok := got[id]
			switch {
			case !ok:
				t.Errorf("%s lost lease %d (%s)", who, id, w.Device)
			case g.Device != w.Device || !g.Since.Equal(w.Since) || !g.Horizon.Equal(w.Horizon):
				t.Errorf("%s has lease %+v, was granted %+v", who, g, w)
			}
		}
	}
	checkLeases(c.storeOf(nl), before, "new leader")

	// The old leader steps down once its leader lease runs out.
	for oldStore.IsLeader() {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			t.Fatalf("the partitioned leader never stepped down: %v", err)
		}
	}

	// The majority keeps granting; the pool is now full.
	g3 := c.mustPropose(ctx, checkoutCmd("grant-d3", 3)).Lease
	after := map[uint64]ledger.Lease{g0.ID: *g0, g1.ID: *g1, g3.ID: *g3}
	if g3.ID <= g1.ID {
		t.Errorf("fencing ID %d after %d", g3.ID, g1.ID)
	}

	// Heal: everyone converges on the majority's ledger.
	c.heal()
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	_, li := c.converge(cctx)
	for i := range nodes {
		checkLeases(c.storeOf(i), after, fmt.Sprintf("node %d after healing", i))
		var d2 []ledger.Lease
		c.storeOf(i).Read(func(st *ledger.State) { d2 = st.DeviceLeases(ledger.DeviceRef{Account: clAccount, Code: "d2"}) })
		if len(d2) != 0 {
			t.Errorf("node %d holds the deposed leader's grant %+v", i, d2)
		}
	}

	// Proposing the deposed leader's request again is not a replay: it was
	// never applied. The pool is full, so it is refused.
	res, err = c.storeOf(li).Propose(ctx, checkoutCmd("stale-grant-d2", 2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed || res.Error == nil || res.Error.Code != protocol.CodeNoSeat {
		t.Fatalf("retried stale request: %+v (want a fresh no_seat)", res)
	}
	if conflicts, _, _ := c.trace.Problems(); len(conflicts) > 0 {
		t.Fatalf("applied log diverged: %v", conflicts)
	}
}

// TestClusterRollingRestart stops and restarts every node in turn, the
// leader first, while devices keep checking out, renewing and releasing.
// With a node down the cluster keeps serving; a restarted node rebuilds its
// ledger from its raft-boltdb files and snapshots (taken often here) and
// catches up. At the end no acknowledged lease is lost, nothing released
// comes back, the invariants hold and the history is linearizable.
func TestClusterRollingRestart(t *testing.T) {
	nodes, rounds, devices, seats := 3, 1, 4, 3
	if chaosEnabled() {
		nodes, rounds, devices, seats = 5, 3, 8, 5
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+15*rounds*nodes)*time.Second)
	defer cancel()
	seed := chaosSeed(t)
	c := newTestCluster(t, clusterOptions{nodes: nodes, snapshotThreshold: 16, seed: seed})
	c.seed(ctx, clLongSettings, seats, devices)
	w := newWorkload(c, clLongSettings, seats, devices)
	halt := w.Run(t, seed)

	progress := w.progressCheck(t, ctx, c, 15*time.Second)
	leaderStops := 0
	for round := 0; round < rounds; round++ {
		done := map[int]bool{}
		for len(done) < nodes {
			progress("before a restart")
			// The leader goes first if it has not been restarted this round.
			victim := -1
			if li, _ := c.leader(); li >= 0 && !done[li] {
				victim = li
				leaderStops++
			} else {
				for i := 0; i < nodes && victim < 0; i++ {
					if !done[i] {
						victim = i
					}
				}
			}
			done[victim] = true
			c.stop(victim)
			progress(fmt.Sprintf("with %s down", c.nodes[victim].id))
			c.restart(victim)
			cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
			err := c.waitCaughtUp(cctx, victim)
			ccancel()
			if err != nil {
				c.dumpEvents()
				t.Fatal(err)
			}
		}
	}
	progress("after the restarts")
	halt()
	if leaderStops == 0 {
		t.Errorf("no leader was stopped")
	}
	w.verifyRun(t, true)
}
