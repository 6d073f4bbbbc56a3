package validate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/internal/clustertest/traffic"
)

// Run is a finished chaos run, after every fault ended and every node
// converged on one ledger.
type Run struct {
	Trace *ApplyTrace
	// Final is the converged ledger's leases and AppliedIndex its applied
	// index.
	Final        []ledger.Lease
	AppliedIndex uint64
	Workload     *traffic.Workload
	// Linearizable runs porcupine over the client history (the seat model
	// knows no time, so runs where leases expire skip it).
	Linearizable bool
	// CheckTimeout bounds porcupine (default a minute); VisualizeDir, when
	// set, receives its visualization of a failing history.
	CheckTimeout time.Duration
	VisualizeDir string
}

// Report is what Check found.
type Report struct {
	Violations []string
	Operations int // client operations checked
	Pending    int // of which the answer was lost
	Summary    string
}

// Check verifies a run:
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
//  5. (if Linearizable) the client history is linearizable against the
//     seat-pool model.
func Check(r Run) Report {
	var rep Report
	errorf := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	w := r.Workload
	acks := w.Acks()
	for _, e := range acks.Errs {
		errorf("client: %s", e)
	}

	// 1.
	conflicts, observed, distinct := r.Trace.Problems()
	for _, cf := range conflicts {
		errorf("applied log diverged: %s", cf)
	}
	log := r.Trace.Log()
	if len(log) == 0 {
		errorf("no applied log entries were observed")
		return rep
	}
	if last := log[len(log)-1].Index; last != r.AppliedIndex {
		errorf("trace ends at index %d, the ledger at %d", last, r.AppliedIndex)
	}

	// 2.
	audit := linearize.Audit(log)
	for _, v := range audit.Violations {
		errorf("audit: %s", v)
	}
	pk := linearize.PoolKey{Account: traffic.Account, Feature: traffic.Feature}
	if audit.Seats[pk] != w.Seats() {
		errorf("audit saw %d seats, want %d", audit.Seats[pk], w.Seats())
	}

	// 3. Leader time only moves forward along the log (the store raises a
	// stamp that would go back), so a lease's interval in ledger time
	// starts no earlier than the entry that granted it, and S1 must hold
	// at every instant.
	if audit.NowInversions > 0 {
		errorf("leader time ran backwards %d times along the log: %v", audit.NowInversions, audit.Inversions)
	}
	if n, at, leases := linearize.MaxHeld(audit.Intervals[pk]); n > w.Seats() {
		errorf("S1 in ledger time: %d leases %v held at %s with %d seats", n, leases, at.Format(time.RFC3339Nano), w.Seats())
	}

	// 4.
	for id, l := range acks.Grants {
		g, ok := audit.Granted[id]
		if !ok {
			errorf("acknowledged grant %+v is not in the applied log", l)
			continue
		}
		if g.Device != l.Device || !g.Since.Equal(l.Since) {
			errorf("acknowledged grant %+v, the log granted %+v", l, g)
		}
	}
	for id, at := range acks.Ends {
		if got, ok := audit.Ended[id]; !ok || !got.Equal(at) {
			errorf("acknowledged release of %d at %s; the log ended it at %v (%v)", id, at, got, ok)
		}
	}
	byID := map[uint64]ledger.Lease{}
	for _, l := range r.Final {
		byID[l.ID] = l
		live, ok := audit.Live[l.ID]
		if !ok {
			errorf("final ledger holds lease %+v that the log ended or never granted", l)
			continue
		}
		if live.Device != l.Device || !live.Since.Equal(l.Since) || !live.Horizon.Equal(l.Horizon) {
			errorf("final ledger lease %+v, the log says %+v", l, live)
		}
	}
	for id, l := range audit.Live {
		if _, ok := byID[id]; !ok {
			errorf("lease %+v is in force per the log but missing from the final ledger", l)
		}
	}
	for d, id := range acks.Holding {
		if id == 0 || acks.Unsure[d] {
			continue
		}
		l, ok := byID[id]
		switch {
		case !ok && w.Expiry:
			// An abandoned or slow lease may have expired and been reclaimed.
			if _, ended := audit.Ended[id]; !ended {
				errorf("d%d holds lease %d, which the final ledger lost", d, id)
			}
		case !ok:
			errorf("d%d holds lease %d, which the final ledger lost", d, id)
		case l.Horizon.Before(acks.Renews[id]):
			errorf("d%d was promised lease %d until %s; the final ledger says %s", d, id, acks.Renews[id], l.Horizon)
		}
	}
	if !w.Expiry {
		for id := range acks.Ends {
			if _, ok := byID[id]; ok {
				errorf("released lease %d is in the final ledger", id)
			}
		}
	}
	if n := len(r.Final); n > w.Seats() {
		errorf("final ledger holds %d leases with %d seats", n, w.Seats())
	}

	// 5.
	ops := w.Recorder().Operations()
	for _, op := range ops {
		if op.Output.(linearize.Output).Outcome == linearize.Unknown {
			rep.Pending++
		}
	}
	rep.Operations = len(ops)
	rep.Summary = fmt.Sprintf("%d operations (%d pending) %v; log: %d entries (%d observations), %d grants, %d releases, %d reclaims, %d no_seat, %d replays, %d Now inversions",
		len(ops), rep.Pending, statsString(w.Recorder().Stats()), distinct, observed, audit.Grants, audit.Releases, audit.Reclaims, audit.NoSeat, audit.Replays, audit.NowInversions)
	if !r.Linearizable {
		return rep
	}
	timeout := r.CheckTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	res, err := linearize.Check(linearize.SeatModel(w.Seats(), w.Devices()), ops, timeout, r.VisualizeDir)
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
	return rep
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
