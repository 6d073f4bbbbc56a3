package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/protocol"
)

// workload drives simulated devices against the cluster through
// testCluster.propose and records what each learned.
type workload struct {
	c         *testCluster
	rec       *linearize.Recorder
	seats     int
	devices   int
	opTimeout time.Duration
	// expiry: devices sometimes abandon a lease (stop renewing it and go
	// quiet for longer than TTL+skew), so that seats come back by expiry.
	expiry    bool
	settings  ledger.Settings
	completed atomic.Int64 // operations with a definite answer

	mu      sync.Mutex
	seen    []uint64                // every lease ID a device was granted
	grants  map[uint64]ledger.Lease // acknowledged grants
	renews  map[uint64]time.Time    // latest acknowledged horizon per lease
	ends    map[uint64]time.Time    // acknowledged releases: lease → release time
	holding map[int]uint64          // at the end: lease each device knows it holds
	unsure  map[int]bool            // at the end: devices whose last answer was lost
	errs    []string
}

func newWorkload(c *testCluster, settings ledger.Settings, seats, devices int) *workload {
	return &workload{
		c: c, rec: linearize.NewRecorder(), seats: seats, devices: devices, settings: settings,
		opTimeout: 10 * time.Second,
		grants:    map[uint64]ledger.Lease{}, renews: map[uint64]time.Time{}, ends: map[uint64]time.Time{},
		holding: map[int]uint64{}, unsure: map[int]bool{},
	}
}

func (w *workload) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

// run starts the devices and returns halt, which stops them and waits for
// them; it is safe to call twice, and the test's cleanup calls it too, so
// a failing test does not leave devices running.
func (w *workload) run(t *testing.T, seed uint64) (halt func()) {
	stop := make(chan struct{})
	wait := w.start(stop, seed)
	var once sync.Once
	halt = func() { once.Do(func() { close(stop); wait() }) }
	t.Cleanup(halt)
	return halt
}

// progressCheck returns a function that fails the test, with the cluster's
// event log, unless the workload completes a few more operations within
// limit.
func (w *workload) progressCheck(t *testing.T, ctx context.Context, c *testCluster, limit time.Duration) func(what string) {
	return func(what string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		if err := w.waitProgress(pctx, 5); err != nil {
			c.dumpEvents()
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// start runs one goroutine per device until stop is closed; the returned
// function waits for them. A device finishes the operation it is in (with
// its own deadline) before it stops.
func (w *workload) start(stop <-chan struct{}, seed uint64) (wait func()) {
	var wg sync.WaitGroup
	for d := 0; d < w.devices; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			w.device(stop, d, rand.New(rand.NewPCG(seed, 1000+uint64(d))))
		}(d)
	}
	return wg.Wait
}

// waitProgress polls until n more operations have completed since it was
// called.
func (w *workload) waitProgress(ctx context.Context, n int64) error {
	target := w.completed.Load() + n
	for w.completed.Load() < target {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("%d operations completed, waiting for %d: %w", w.completed.Load(), target, err)
		}
	}
	return nil
}

// device is one simulated device. It holds at most one lease of the pool.
// After an operation whose answer was lost it does not know whether it
// holds a lease, and asks again with a checkout (a device asking again
// gets the lease it holds).
func (w *workload) device(stop <-chan struct{}, d int, rng *rand.Rand) {
	var held uint64
	unsure := false
	defer func() {
		w.mu.Lock()
		w.holding[d], w.unsure[d] = held, unsure
		w.mu.Unlock()
	}()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		reqID := fmt.Sprintf("d%d-op%d", d, n)
		var in linearize.Input
		var cmd ledger.Command
		p := rng.Float64()
		switch {
		case held == 0 || unsure || p < 0.1:
			in = linearize.Input{Kind: linearize.Checkout, Device: d}
			cmd = checkoutCmd(reqID, d)
		case w.expiry && p < 0.2:
			// Abandon the lease: go quiet until its seat is reusable.
			held = 0
			quiet := w.settings.LeaseTTL + w.settings.MaxSkew + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
			select {
			case <-stop:
				return
			case <-time.After(quiet):
			}
			continue
		case p < 0.45:
			in = linearize.Input{Kind: linearize.Renew, Device: d, Lease: held}
			cmd = renewCmd(reqID, d, held, 0)
		case p < 0.85:
			in = linearize.Input{Kind: linearize.Release, Device: d, Lease: held}
			cmd = releaseCmd(reqID, d, held)
		default:
			// A stale or foreign fencing ID must be refused (S5).
			stale := w.randomSeen(rng, held)
			if stale == 0 {
				continue
			}
			in = linearize.Input{Kind: linearize.Release, Device: d, Lease: stale}
			cmd = releaseCmd(reqID, d, stale)
		}
		call := w.rec.Now()
		ctx, cancel := context.WithTimeout(context.Background(), w.opTimeout)
		res, err := w.c.propose(ctx, cmd)
		cancel()
		out := w.outcome(d, in, res, err)
		w.rec.Record(d, in, call, out)
		if out.Outcome != linearize.Unknown {
			w.completed.Add(1)
		}
		switch {
		case in.Kind == linearize.Checkout && out.Outcome == linearize.OK:
			held, unsure = out.Lease, false
		case in.Kind == linearize.Checkout && out.Outcome == linearize.Refused:
			held, unsure = 0, false
		case in.Kind == linearize.Checkout:
			unsure = true
		case in.Kind == linearize.Release && in.Lease == held && out.Outcome == linearize.OK:
			held = 0
		case in.Kind == linearize.Release && in.Lease == held:
			unsure = true // lost answer, or (a bug) our own release refused
		case in.Kind == linearize.Renew && out.Outcome == linearize.Refused:
			// Refused renewal of our own lease: a bug unless it expired
			// because we were too slow; find out with a checkout.
			unsure = true
		}
	}
}

func (w *workload) randomSeen(rng *rand.Rand, not uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return 0
	}
	id := w.seen[rng.IntN(len(w.seen))]
	if id == not {
		return 0
	}
	return id
}

// outcome classifies a result and keeps what the device acknowledged.
func (w *workload) outcome(d int, in linearize.Input, res ledger.Result, err error) linearize.Output {
	if err != nil {
		return linearize.Output{Outcome: linearize.Unknown}
	}
	dev := fmt.Sprint("d", d)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch in.Kind {
	case linearize.Checkout:
		switch {
		case res.Error == nil && res.Lease != nil:
			l := *res.Lease
			if l.Device != dev {
				w.errs = append(w.errs, fmt.Sprintf("checkout by %s returned lease %+v", dev, l))
			}
			if _, ok := w.grants[l.ID]; !ok {
				w.grants[l.ID] = l
				w.seen = append(w.seen, l.ID)
			}
			if l.Horizon.After(w.renews[l.ID]) {
				w.renews[l.ID] = l.Horizon
			}
			return linearize.Output{Outcome: linearize.OK, Lease: l.ID}
		case res.Error != nil && res.Error.Code == protocol.CodeNoSeat:
			return linearize.Output{Outcome: linearize.Refused, Code: string(res.Error.Code)}
		}
		w.errs = append(w.errs, fmt.Sprintf("checkout by %s: unexpected result %+v", dev, res))
	case linearize.Renew:
		if len(res.Renewed) != 1 {
			w.errs = append(w.errs, fmt.Sprintf("renew by %s: unexpected result %+v", dev, res))
			break
		}
		rr := res.Renewed[0]
		if rr.Lease != nil {
			if rr.Lease.Horizon.After(w.renews[rr.ID]) {
				w.renews[rr.ID] = rr.Lease.Horizon
			}
			return linearize.Output{Outcome: linearize.OK}
		}
		if refusal(rr.Error) {
			return linearize.Output{Outcome: linearize.Refused, Code: string(rr.Error.Code)}
		}
		w.errs = append(w.errs, fmt.Sprintf("renew by %s: unexpected result %+v", dev, rr))
	case linearize.Release:
		if res.Error == nil {
			if len(res.Ended) != 1 || res.Ended[0].ID != in.Lease {
				w.errs = append(w.errs, fmt.Sprintf("release of %d by %s ended %+v", in.Lease, dev, res.Ended))
			} else {
				w.ends[in.Lease] = res.Ended[0].At
			}
			return linearize.Output{Outcome: linearize.OK}
		}
		if refusal(res.Error) {
			return linearize.Output{Outcome: linearize.Refused, Code: string(res.Error.Code)}
		}
		w.errs = append(w.errs, fmt.Sprintf("release of %d by %s: unexpected result %+v", in.Lease, dev, res))
	}
	return linearize.Output{Outcome: linearize.Unknown}
}

// refusal reports whether a renew or release was refused for a reason a
// stale or foreign lease ID explains.
func refusal(e *protocol.Error) bool {
	if e == nil {
		return false
	}
	switch e.Code {
	case protocol.CodeNotHolder, protocol.CodeLeaseNotFound, protocol.CodeLeaseExpired, protocol.CodeLeaseRevoked:
		return true
	}
	return false
}

// verifyRun checks a finished run against the converged ledger (final, the
// snapshot every node agreed on) and against the applied-log trace:
//
//  1. every node applied the same command with the same result at each
//     index (the trace saw no conflict);
//  2. Audit over the applied log: S1 at every entry, S3 for every reclaim,
//     S5 for every release, growing fencing IDs, justified no_seat;
//  3. S1 in ledger time: leases held from Since until their release or
//     horizon+skew never outnumber the seats at any instant;
//  4. every acknowledged grant and release is in the log as acknowledged,
//     and the final ledger holds exactly the leases the log leaves in force
//     (nothing lost, nothing resurrected) — in particular every lease a
//     device knows it holds, with at least the horizon it was last told;
//  5. (if linearizable) the client history is linearizable against the
//     seat-pool model.
func (w *workload) verifyRun(t *testing.T, linearizable bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, li := w.c.converge(ctx)
	leader := w.c.storeOf(li)
	final := leasesOf(leader)
	failed := false
	errorf := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf(format, args...)
	}
	defer func() {
		if failed {
			w.c.dumpEvents()
		}
	}()

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.errs {
		errorf("client: %s", e)
	}

	// 1.
	conflicts, observed, distinct := w.c.trace.problems()
	for _, cf := range conflicts {
		errorf("applied log diverged: %s", cf)
	}
	if last := appliedIndex(leader); w.c.trace.log()[distinct-1].Index != last {
		errorf("trace ends at index %d, the ledger at %d", w.c.trace.log()[distinct-1].Index, last)
	}

	// 2.
	rep := linearize.Audit(w.c.trace.log())
	for _, v := range rep.Violations {
		errorf("audit: %s", v)
	}
	pk := linearize.PoolKey{Account: clAccount, Feature: clFeature}
	if rep.Seats[pk] != w.seats {
		errorf("audit saw %d seats, want %d", rep.Seats[pk], w.seats)
	}

	// 3. Leader time only moves forward along the log (the store raises a
	// stamp that would go back, see Store.monotonicNow), so a lease's
	// interval in ledger time starts no earlier than the entry that granted
	// it, and S1 must hold at every instant.
	if rep.NowInversions > 0 {
		errorf("leader time ran backwards %d times along the log: %v", rep.NowInversions, rep.Inversions)
	}
	if n, at, leases := linearize.MaxHeld(rep.Intervals[pk]); n > w.seats {
		errorf("S1 in ledger time: %d leases %v held at %s with %d seats", n, leases, at.Format(time.RFC3339Nano), w.seats)
	}

	// 4.
	for id, l := range w.grants {
		g, ok := rep.Granted[id]
		if !ok {
			errorf("acknowledged grant %+v is not in the applied log", l)
			continue
		}
		if g.Device != l.Device || !g.Since.Equal(l.Since) {
			errorf("acknowledged grant %+v, the log granted %+v", l, g)
		}
	}
	for id, at := range w.ends {
		if got, ok := rep.Ended[id]; !ok || !got.Equal(at) {
			errorf("acknowledged release of %d at %s; the log ended it at %v (%v)", id, at, got, ok)
		}
	}
	byID := map[uint64]ledger.Lease{}
	for _, l := range final {
		byID[l.ID] = l
		live, ok := rep.Live[l.ID]
		if !ok {
			errorf("final ledger holds lease %+v that the log ended or never granted", l)
			continue
		}
		if live.Device != l.Device || !live.Since.Equal(l.Since) || !live.Horizon.Equal(l.Horizon) {
			errorf("final ledger lease %+v, the log says %+v", l, live)
		}
	}
	for id, l := range rep.Live {
		if _, ok := byID[id]; !ok {
			errorf("lease %+v is in force per the log but missing from the final ledger", l)
		}
	}
	for d, id := range w.holding {
		if id == 0 || w.unsure[d] {
			continue
		}
		l, ok := byID[id]
		switch {
		case !ok && w.expiry:
			// An abandoned or slow lease may have expired and been reclaimed.
			if _, ended := rep.Ended[id]; !ended {
				errorf("d%d holds lease %d, which the final ledger lost", d, id)
			}
		case !ok:
			errorf("d%d holds lease %d, which the final ledger lost", d, id)
		case l.Horizon.Before(w.renews[id]):
			errorf("d%d was promised lease %d until %s; the final ledger says %s", d, id, w.renews[id], l.Horizon)
		}
	}
	if !w.expiry {
		for id := range w.ends {
			if _, ok := byID[id]; ok {
				errorf("released lease %d is in the final ledger", id)
			}
		}
	}
	if n := len(final); n > w.seats {
		errorf("final ledger holds %d leases with %d seats", n, w.seats)
	}

	// 5.
	ops := w.rec.Operations()
	pending := 0
	for _, op := range ops {
		if op.Output.(linearize.Output).Outcome == linearize.Unknown {
			pending++
		}
	}
	t.Logf("%d operations (%d pending) %v; log: %d entries (%d observations), %d grants, %d releases, %d reclaims, %d no_seat, %d replays, %d Now inversions",
		len(ops), pending, statsString(w.rec.Stats()), distinct, observed, rep.Grants, rep.Releases, rep.Reclaims, rep.NoSeat, rep.Replays, rep.NowInversions)
	if !linearizable {
		return
	}
	res, err := linearize.Check(linearize.SeatModel(w.seats, w.devices), ops, time.Minute, t.TempDir())
	if err != nil {
		errorf("linearizability check: %v", err)
	}
	switch res.Result {
	case porcupine.Ok:
	case porcupine.Unknown:
		errorf("linearizability check timed out on %d operations (visualization: %s)", len(ops), res.Visualization)
	default:
		errorf("history is not linearizable; visualization: %s", res.Visualization)
	}
}

func statsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
