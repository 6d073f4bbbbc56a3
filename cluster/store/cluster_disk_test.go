package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tally-licensing/tally/internal/clustertest/failpoint"
)

// TestClusterDiskFaults fails the Raft log disk under nodes of a three-node
// cluster, once per kind of fault (fsync error, short write, full disk):
//
//   - the leader's disk: its next write fails, so the checkout it was
//     writing is not acknowledged (Propose returns an error, never a
//     result), and the node fail-stops (store.Config.FailStop) rather than
//     go on from a log it could not write; the others elect a leader and
//     carry on;
//   - both followers' disks: nothing can be made durable on a majority, so
//     nothing is acknowledged, and both followers fail-stop; once they
//     restart on repaired disks the cluster commits again;
//
// and every node's applied log agrees index by index throughout (a node with
// a failed disk stops, it does not diverge), checked with the acknowledged
// results by verifyRun at the end.
func TestClusterDiskFaults(t *testing.T) {
	for _, f := range failpoint.DiskFaults {
		t.Run(f.String(), func(t *testing.T) { testDiskFault(t, f) })
	}
}

func testDiskFault(t *testing.T, fault failpoint.DiskFault) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const nodes, devices, seats = 3, 4, 2
	c := newTestCluster(t, clusterOptions{nodes: nodes, seed: 1, disks: true})
	c.seed(ctx, clLongSettings, seats, devices)
	w := newWorkload(c, clLongSettings, seats, devices)
	w.OpTimeout = 3 * time.Second
	halt := w.Run(t, 1)
	progress := w.progressCheck(t, ctx, c, 20*time.Second)
	progress("before any fault")

	// The leader's disk.
	li, err := c.waitLeader(ctx, c.all())
	if err != nil {
		t.Fatal(err)
	}
	ls := c.storeOf(li)
	c.failDisk(li, fault)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	res, err := ls.Propose(pctx, checkoutCmd("on-broken-leader", 0))
	pcancel()
	if err == nil {
		t.Fatalf("%s: the leader acknowledged a checkout it could not write: %+v", fault, res)
	}
	t.Logf("%s on the leader n%d: %v", fault, li, err)
	waitFailStop(ctx, t, c, li)
	var others []int
	for i := range nodes {
		if i != li {
			others = append(others, i)
		}
	}
	if _, err := c.waitLeader(ctx, others); err != nil {
		t.Fatalf("no leader among the healthy nodes: %v", err)
	}
	progress("with the old leader's disk failed")
	c.repairDisks()

	// Both followers' disks: no majority can make anything durable.
	li, err = c.waitLeader(ctx, c.all())
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		if i != li {
			c.failDisk(i, fault)
		}
	}
	for k := range 3 {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		res, err := c.storeOf(li).Propose(pctx, checkoutCmd(fmt.Sprint("no-majority-", k), 1+k%3))
		pcancel()
		if err == nil {
			t.Fatalf("%s on both followers: a checkout was acknowledged without a durable majority: %+v", fault, res)
		}
		if errors.Is(err, failpoint.ErrDiskFault) {
			t.Fatalf("the leader's own disk is healthy, yet: %v", err)
		}
	}
	for i := range nodes {
		if i != li {
			waitFailStop(ctx, t, c, i)
		}
	}
	c.repairDisks()
	progress("after repairing the followers' disks")
	halt()
	logFigures(t, w.verifyRun(t, true))
}

// waitFailStop waits until node i has fail-stopped on its failed disk.
func waitFailStop(ctx context.Context, t *testing.T, c *testCluster, i int) {
	t.Helper()
	for c.failStops(i) == 0 {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			c.dumpEvents()
			t.Fatalf("n%d never stopped after its disk failed: %v", i, err)
		}
	}
}
