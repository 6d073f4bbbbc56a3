package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/internal/clustertest/failpoint"
)

// A fault schedule is a short list of steps generated from a seed before
// the run starts: the same seed gives the same schedule (the steps, their
// targets, their parameters and how long each fault is held), so a failing
// seed replays with TALLY_CHAOS_SEED. What the devices do meanwhile is
// seeded too; only the interleaving with real goroutines and timers varies.
type faultStep struct {
	Kind   string // kill, restart, pause, partition, lossy, clear, heal, disk
	Node   int    // the target; -1 is whichever node leads when the step runs
	Side   []int  // partition: the nodes cut off from the rest
	Faults failpoint.Faults
	Disk   failpoint.DiskFault
	Pause  time.Duration
	Hold   time.Duration // how long the cluster lives with the fault before the next step
}

func (s faultStep) String() string {
	target := fmt.Sprint("n", s.Node)
	if s.Node < 0 {
		target = "leader"
	}
	switch s.Kind {
	case "partition":
		return fmt.Sprintf("partition %v/%s hold %v", s.Side, target, s.Hold)
	case "lossy":
		return fmt.Sprintf("lossy %s %s hold %v", target, s.Faults, s.Hold)
	case "pause":
		return fmt.Sprintf("pause %s %v hold %v", target, s.Pause, s.Hold)
	case "disk":
		return fmt.Sprintf("disk %s %s hold %v", target, s.Disk, s.Hold)
	}
	return fmt.Sprintf("%s %s hold %v", s.Kind, target, s.Hold)
}

// genSchedule draws steps steps for a cluster of nodes from seed.
func genSchedule(seed uint64, nodes, steps int, disks bool) []faultStep {
	rng := rand.New(rand.NewPCG(seed, 0x5c4ed))
	var out []faultStep
	pick := func() int {
		if rng.IntN(2) == 0 {
			return -1
		}
		return rng.IntN(nodes)
	}
	for len(out) < steps {
		st := faultStep{Node: pick(), Hold: time.Duration(50+rng.IntN(250)) * time.Millisecond}
		switch p := rng.IntN(100); {
		case p < 15:
			st.Kind = "kill"
		case p < 30:
			st.Kind = "restart"
		case p < 40:
			st.Kind = "pause"
			st.Pause = time.Duration(100+rng.IntN(600)) * time.Millisecond
		case p < 58:
			st.Kind = "partition"
			perm := rng.Perm(nodes)
			st.Side = perm[:1+rng.IntN(nodes-1)]
		case p < 72:
			st.Kind = "lossy"
			st.Faults = failpoint.Faults{Drop: rng.Float64() * 0.3, DropReply: rng.Float64() * 0.2, MaxDelay: time.Duration(rng.IntN(40)) * time.Millisecond}
		case p < 80:
			st.Kind = "clear"
		case p < 92 && disks:
			st.Kind = "disk"
			st.Disk = failpoint.DiskFaults[rng.IntN(len(failpoint.DiskFaults))]
		default:
			st.Kind = "heal"
		}
		out = append(out, st)
	}
	return out
}

// applyStep injects one step's fault.
func applyStep(c *testCluster, st faultStep) {
	target := st.Node
	if target < 0 {
		if li, _ := c.leader(); li >= 0 {
			target = li
		} else {
			target = 0
		}
	}
	switch st.Kind {
	case "kill":
		c.stop(target)
	case "restart":
		// Restart the target if it is down, else the first node that is.
		for k := range c.nodes {
			i := (target + k) % len(c.nodes)
			if c.storeOf(i) == nil {
				c.restart(i)
				break
			}
		}
	case "pause":
		c.pause(target, st.Pause)
	case "partition":
		side := st.Side
		if st.Node < 0 {
			side = []int{target}
		}
		in := map[int]bool{}
		for _, i := range side {
			in[i] = true
		}
		var rest []int
		for i := range c.nodes {
			if !in[i] {
				rest = append(rest, i)
			}
		}
		if len(rest) > 0 {
			c.partition(side, rest)
		}
	case "lossy":
		c.setFaults(target, st.Faults)
	case "clear":
		for i := range c.nodes {
			c.setFaults(i, failpoint.Faults{})
		}
	case "disk":
		c.failDisk(target, st.Disk)
	case "heal":
		c.heal()
	}
}

// chaosSchedules is how many seeded schedules TestChaosSchedules runs:
// TALLY_CHAOS_SCHEDULES, else def.
func chaosSchedules(t *testing.T, def int) int {
	t.Helper()
	if s := os.Getenv("TALLY_CHAOS_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TALLY_CHAOS_SCHEDULES=%q: want a positive number", s)
		}
		return n
	}
	return def
}

// TestChaosSchedules runs many short fault schedules, each generated from
// its own seed, each against a fresh three-node cluster (every fourth over
// the real TLS transport) with devices checking out, renewing and releasing:
// kills and restarts, pauses, partitions (often of the leader), lossy
// links and disk faults under the Raft log (fsync error, short write, full
// disk; the node fail-stops and is restarted on a repaired disk at the
// end). After each schedule every fault ends, the devices must make
// progress, and the run is verified (verifyRun: one log on every node, the
// audit S1–S5 at every entry, S1 in ledger time, every acknowledgement in
// the log and the final ledger, porcupine linearizability of checkout,
// renew and release; schedules whose leases expire skip porcupine, whose
// model has no time).
//
// make test runs a few schedules; make chaos runs TALLY_CHAOS_SCHEDULES of
// them. TALLY_CHAOS_SEED=n runs schedule n alone (a failing schedule prints
// its seed). The figures line counts schedules, operations and violations.
func TestChaosSchedules(t *testing.T) {
	count := chaosSchedules(t, 3)
	base := uint64(time.Now().UnixNano()) % 1e9 * 1000
	if s := os.Getenv("TALLY_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TALLY_CHAOS_SEED=%q: %v", s, err)
		}
		base, count = v, 1
	}
	var ops, violations, failed, pending int
	kinds := map[string]int{}
	start := time.Now()
	for k := 0; k < count; k++ {
		seed := base + uint64(k)
		var rep scheduleReport
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rep = runSchedule(t, seed)
			if t.Failed() {
				t.Logf("repeat with: TALLY_CHAOS_SEED=%d go test -run '^TestChaosSchedules$' ./cluster/store/", seed)
			}
		})
		ops += rep.operations
		pending += rep.pending
		violations += rep.violations
		for _, st := range rep.steps {
			kinds[st.Kind]++
		}
		if !ok {
			failed++
			if rep.violations == 0 {
				violations++ // a failure without a report (no progress, no convergence)
			}
		}
	}
	t.Logf("chaos-figures: harness=in-process schedules=%d operations=%d pending=%d violations=%d failed=%d duration=%s steps=%v",
		count, ops, pending, violations, failed, time.Since(start).Round(time.Second), kinds)
}

type scheduleReport struct {
	steps                           []faultStep
	operations, pending, violations int
}

func runSchedule(t *testing.T, seed uint64) scheduleReport {
	const nodes, devices, seats = 3, 4, 2
	settings, expiry := clLongSettings, false
	if seed%3 == 2 {
		settings, expiry = clShortSettings, true
	}
	overTLS := seed%4 == 0
	steps := genSchedule(seed, nodes, 6, true)
	var desc []string
	for _, st := range steps {
		desc = append(desc, st.String())
	}
	t.Logf("seed %d: tls=%v expiry=%v schedule: %s", seed, overTLS, expiry, strings.Join(desc, "; "))
	rep := scheduleReport{steps: steps}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newTestCluster(t, clusterOptions{nodes: nodes, seed: seed, tls: overTLS, disks: true, snapshotThreshold: 64})
	c.seed(ctx, settings, seats, devices)
	w := newWorkload(c, settings, seats, devices)
	w.Expiry = expiry
	w.OpTimeout = 2 * time.Second
	halt := w.Run(t, seed)
	for _, st := range steps {
		applyStep(c, st)
		if err := sleepCtx(ctx, st.Hold); err != nil {
			t.Fatal(err)
		}
	}
	// Every fault ends (disks repaired, nodes restarted): devices must
	// make progress again.
	c.repairDisks()
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
	vr := w.verifyRun(t, !expiry)
	rep.operations, rep.pending, rep.violations = vr.Operations, vr.Pending, len(vr.Violations)
	return rep
}
