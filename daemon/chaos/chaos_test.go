package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/internal/clustertest/validate"
	"github.com/tally-licensing/tally/internal/e2eframework"
)

// A process fault schedule is generated from its seed before the run: the
// same seed gives the same steps, targets, durations and clock offsets.
type procStep struct {
	Kind   string        // kill (SIGKILL, then restart), stop (SIGSTOP, then SIGCONT), clock
	Node   int           // target; -1 is whichever node leads when the step runs
	Offset time.Duration // clock: the node's new offset from true time
	Down   time.Duration // kill/stop: how long the process stays down/frozen
	Hold   time.Duration // then the cluster runs this long before the next step
}

func (s procStep) String() string {
	target := fmt.Sprint("node", s.Node+1)
	if s.Node < 0 {
		target = "leader"
	}
	switch s.Kind {
	case "clock":
		return fmt.Sprintf("clock %s %+v, hold %v", target, s.Offset, s.Hold)
	}
	return fmt.Sprintf("%s %s for %v, hold %v", s.Kind, target, s.Down, s.Hold)
}

// genProcSchedule draws a schedule. In-contract schedules keep every
// node's clock within max-skew ahead of true time (and up to 2s behind);
// out-of-contract ones (beyond) also set clocks further ahead than that.
func genProcSchedule(seed uint64, nodes, steps int, beyond bool) []procStep {
	rng := rand.New(rand.NewPCG(seed, 0x9e0c))
	var out []procStep
	// Every schedule has each kind of fault at least once, in a seeded
	// order, so that even the one schedule of make test covers them all.
	must := []int{10, 50, 90} // kill, stop, clock
	rng.Shuffle(len(must), func(i, j int) { must[i], must[j] = must[j], must[i] })
	for len(out) < steps {
		st := procStep{Node: rng.IntN(nodes), Hold: time.Duration(300+rng.IntN(700)) * time.Millisecond}
		if rng.IntN(2) == 0 {
			st.Node = -1
		}
		p := rng.IntN(100)
		if len(out) < len(must) {
			p = must[len(out)]
		}
		switch {
		case p < 35:
			st.Kind = "kill"
			st.Down = time.Duration(200+rng.IntN(1500)) * time.Millisecond
		case p < 65:
			// Longer than a lease: the holders' seats would expire if the
			// frozen leader's view still counted.
			st.Kind, st.Node = "stop", -1
			st.Down = leaseTTL + time.Duration(500+rng.IntN(1500))*time.Millisecond
		default:
			st.Kind = "clock"
			// Within the contract: at most max-skew ahead (a little less,
			// for the offset file's refresh), anything up to 2s behind.
			st.Offset = time.Duration(rng.Int64N(int64(2*time.Second+maxSkew*9/10))) - 2*time.Second
			if beyond && rng.IntN(2) == 0 {
				st.Offset = maxSkew + time.Duration(rng.Int64N(int64(3*time.Second)))
			}
		}
		out = append(out, st)
	}
	return out
}

func procSchedules(t *testing.T) (count int, base uint64) {
	t.Helper()
	count = 1
	if s := os.Getenv("TALLY_CHAOS_PROC_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TALLY_CHAOS_PROC_SCHEDULES=%q: want a positive number", s)
		}
		count = n
	}
	base = uint64(time.Now().UnixNano()) % 1e9 * 1000
	if s := os.Getenv("TALLY_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TALLY_CHAOS_SEED=%q: %v", s, err)
		}
		base, count = v, 1
	}
	return count, base
}

// TestChaosProcesses runs three real tallyd processes and real QUIC devices
// through seeded fault schedules of SIGKILL (mid-write, then restart on the
// same data dir), SIGSTOP of the leader for longer than the lease TTL (then
// SIGCONT), and clock offsets and jumps per process, forward and back. It
// checks:
//
//   - the token ledger: at no instant of the run (true time, the test
//     machine's clock) did more leases hold valid tokens than the pool has
//     seats. This is promised while no node's clock runs ahead of true time
//     by more than max-skew (and verifiers' clocks are right): in-contract
//     schedules must pass it; for out-of-contract schedules (a clock further
//     ahead) an overlap is reported as the documented limit, not a failure;
//   - every grant and release a device was told about is in the log
//     (nothing acknowledged is lost across SIGKILL and restarts);
//   - every node's Raft log, replayed from its raft.db after the run,
//     agrees index by index with the others, and the audit S1–S5 holds at
//     every entry (in ledger time, which never runs backwards, under any
//     clock error);
//   - the devices' history of checkout, renew and release is linearizable
//     against the seat model (porcupine), when no lease expired during the
//     run (the model knows no time).
//
// make test runs one schedule; make chaos runs TALLY_CHAOS_PROC_SCHEDULES.
// TALLY_CHAOS_SEED=n replays schedule n.
func TestChaosProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	count, base := procSchedules(t)
	var ops, violations, failed, tokens, outOfContract int
	start := time.Now()
	for k := 0; k < count; k++ {
		seed := base + uint64(k)
		var r procReport
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r = runProcSchedule(t, seed)
			if t.Failed() {
				t.Logf("repeat with: TALLY_CHAOS_SEED=%d go test -run '^TestChaosProcesses$' ./daemon/chaos/", seed)
			}
		})
		ops += r.operations
		violations += r.violations
		tokens += r.tokens
		outOfContract += r.outOfContract
		if !ok {
			failed++
			if r.violations == 0 {
				violations++
			}
		}
	}
	t.Logf("chaos-figures: harness=processes schedules=%d operations=%d tokens=%d violations=%d failed=%d out-of-contract-overlaps=%d duration=%s",
		count, ops, tokens, violations, failed, outOfContract, time.Since(start).Round(time.Second))
}

type procReport struct {
	operations, tokens, violations, outOfContract int
}

func runProcSchedule(t *testing.T, seed uint64) procReport {
	const nodes, devices, seats = 3, 4, 2
	const account, feature = "acme", "cad"
	beyond := seed%3 == 0
	steps := genProcSchedule(seed, nodes, 5, beyond)
	var desc []string
	for _, st := range steps {
		desc = append(desc, st.String())
	}
	t.Logf("seed %d: beyond max-skew=%v schedule: %s", seed, beyond, strings.Join(desc, "; "))
	var rep procReport

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startProcCluster(t, ctx, nodes)
	tok := c.setup(ctx, account, feature, seats)
	if err := e2eframework.Poll(ctx, 30*time.Second, func() error { return c.allCaughtUp(ctx) }); err != nil {
		t.Fatal(err)
	}
	rec := linearize.NewRecorder()
	tokens := validate.NewTokenLedger()
	var done atomic.Int64
	codes := &codeCount{}
	devs, err := enrollDevices(ctx, c, tok, devices, seed, rec, tokens, &done, codes)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, d := range devs {
			d.c.Close()
		}
	}()
	stop := make(chan struct{})
	wait := runDevices(devs, stop, seed, feature)
	halted := false
	halt := func() {
		if !halted {
			halted = true
			close(stop)
			wait()
		}
	}
	defer halt()

	for _, st := range steps {
		target := st.Node
		if target < 0 {
			if target = c.leader(ctx); target < 0 {
				target = 0
			}
		}
		nd := c.nodes[target]
		switch st.Kind {
		case "kill":
			c.note("SIGKILL %s", nd.id)
			nd.proc.Kill9()
			time.Sleep(st.Down)
			c.launch(ctx, target)
			c.note("restarted %s", nd.id)
		case "stop":
			c.note("SIGSTOP %s for %v", nd.id, st.Down)
			if err := nd.proc.Stop(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(st.Down)
			if err := nd.proc.Cont(); err != nil {
				t.Fatal(err)
			}
			c.note("SIGCONT %s", nd.id)
		case "clock":
			c.setOffset(target, st.Offset)
		}
		time.Sleep(st.Hold)
	}
	// Every fault ends: clocks right, every node up; devices must make
	// progress, then every node must hold the same log.
	for i, nd := range c.nodes {
		c.setOffset(i, 0)
		if nd.proc.Exited() {
			c.launch(ctx, i)
		}
	}
	before := done.Load()
	if err := e2eframework.Poll(ctx, 60*time.Second, func() error {
		if n := done.Load(); n < before+int64(devices) {
			return fmt.Errorf("%d operations since the faults ended", n-before)
		}
		return nil
	}); err != nil {
		t.Fatalf("no progress once the faults ended: %v", err)
	}
	halt()
	if err := e2eframework.Poll(ctx, 60*time.Second, func() error { return c.allCaughtUp(ctx) }); err != nil {
		t.Fatalf("nodes never converged: %v", err)
	}

	errorf := func(format string, args ...any) {
		t.Helper()
		rep.violations++
		t.Errorf(format, args...)
	}
	// The token ledger, in true time.
	rep.tokens = tokens.Tokens()
	overlaps := tokens.Check(map[string]int{validate.PoolOf(account, feature): seats})
	for _, v := range overlaps {
		if beyond {
			rep.outOfContract++
			t.Logf("out of contract (a clock ran more than max-skew ahead): %s", v)
			continue
		}
		errorf("%s", v)
	}

	// Stop the processes and replay their logs.
	for _, nd := range c.nodes {
		nd.proc.Kill9()
	}
	var logs [][]linearize.Entry
	for _, nd := range c.nodes {
		entries, err := validate.ReplayLog(filepath.Join(nd.dir, "raft", "raft.db"))
		if err != nil {
			t.Fatalf("%s: %v", nd.id, err)
		}
		logs = append(logs, entries)
	}
	longest := logs[0]
	for i := 1; i < len(logs); i++ {
		n := min(len(logs[i]), len(logs[0]))
		for k := 0; k < n; k++ {
			a, b := logs[0][k], logs[i][k]
			if a.Index != b.Index || a.Cmd.RequestID != b.Cmd.RequestID || a.Cmd.Type != b.Cmd.Type || !a.Cmd.Now.Equal(b.Cmd.Now) {
				errorf("%s and %s differ at log entry %d: %s %s / %s %s", c.nodes[0].id, c.nodes[i].id, a.Index, a.Cmd.Type, a.Cmd.RequestID, b.Cmd.Type, b.Cmd.RequestID)
				break
			}
		}
		if len(logs[i]) > len(longest) {
			longest = logs[i]
		}
	}
	audit := linearize.Audit(longest)
	for _, v := range audit.Violations {
		errorf("audit: %s", v)
	}
	if audit.NowInversions > 0 {
		errorf("ledger time ran backwards %d times: %v", audit.NowInversions, audit.Inversions)
	}
	pk := linearize.PoolKey{Account: account, Feature: feature}
	if n, at, ids := linearize.MaxHeld(audit.Intervals[pk]); n > seats {
		errorf("S1 in ledger time: %d leases %v at %s", n, ids, at)
	}

	ops := rec.Operations()
	rep.operations = len(ops)
	// Nothing acknowledged is lost across the kills: every grant and
	// release a device was told about is in the log.
	for _, op := range ops {
		in, out := op.Input.(linearize.Input), op.Output.(linearize.Output)
		if out.Outcome != linearize.OK {
			continue
		}
		switch in.Kind {
		case linearize.Checkout:
			if _, ok := audit.Granted[out.Lease]; !ok {
				errorf("d%d was granted lease %d, which no node's log holds", in.Device, out.Lease)
			}
		case linearize.Release:
			if _, ok := audit.Ended[in.Lease]; !ok {
				errorf("d%d's release of lease %d was acknowledged; the log never ended it", in.Device, in.Lease)
			}
		}
	}
	t.Logf("%d operations %v; refusals %v; %d tokens; log: %d entries, %d grants, %d releases, %d reclaims, %d no_seat",
		len(ops), rec.Stats(), codes, rep.tokens, len(longest), audit.Grants, audit.Releases, audit.Reclaims, audit.NoSeat)
	if audit.Reclaims > 0 {
		t.Logf("porcupine skipped: %d leases expired during the run (the seat model knows no time)", audit.Reclaims)
		return rep
	}
	res, err := linearize.Check(linearize.SeatModel(seats, devices), ops, time.Minute, t.TempDir())
	if err != nil {
		errorf("linearizability check: %v", err)
	}
	if res.Result != porcupine.Ok {
		errorf("history is %v against the seat model; visualization: %s", res.Result, res.Visualization)
	}
	return rep
}
