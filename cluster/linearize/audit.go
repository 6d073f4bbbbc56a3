package linearize

import (
	"fmt"
	"sort"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// Entry is one applied log entry: the command as the ledger applied it
// (with the leader's Now stamped in) and the result it returned.
type Entry struct {
	Index uint64
	Cmd   ledger.Command
	Res   ledger.Result
}

// PoolKey names a pool.
type PoolKey struct{ Account, Feature string }

// Report is what Audit found.
type Report struct {
	// Violations are broken rules, each with the log index where it broke.
	Violations []string
	// Intervals hold every lease's seat in ledger time, per pool.
	Intervals map[PoolKey][]Interval
	// Seats is each pool's seat count at the end of the log.
	Seats map[PoolKey]int
	// Live are the leases the log leaves in force, by ID.
	Live map[uint64]ledger.Lease
	// Granted holds every lease as its checkout granted it, by ID.
	Granted map[uint64]ledger.Lease
	// Ended maps every ended lease to the Now of the command that ended it.
	Ended map[uint64]time.Time

	Grants, Releases, Reclaims, NoSeat, Replays int
	// NowInversions counts commands whose Now is earlier than the Now of
	// the command applied before them. Leader time is meant to move
	// forward along the log; where it does not, ledger-time intervals can
	// overlap although the log order never over-granted.
	NowInversions int
	// Inversions gives the first few inversions as text.
	Inversions []string
}

// Audit replays an applied log, in index order, and checks at every command:
//
//   - S1: the leases in force in a pool never outnumber its seats;
//   - no_seat is only answered when every seat is held by a lease whose
//     horizon plus skew has not passed;
//   - S3: a lease ends as expired or revoked only at or after its latest
//     committed horizon plus the maximum skew;
//   - S5: a release only ends a lease the releasing device holds;
//   - fencing IDs of new leases only grow, and a renewal never moves a
//     horizon back.
//
// Pool sizes and the skew are read from the log itself (set_pool,
// bootstrap, set_settings), so the log must start at the beginning.
func Audit(entries []Entry) Report {
	a := &auditor{
		r: Report{
			Intervals: map[PoolKey][]Interval{},
			Seats:     map[PoolKey]int{},
			Live:      map[uint64]ledger.Lease{},
			Granted:   map[uint64]ledger.Lease{},
			Ended:     map[uint64]time.Time{},
		},
		skew: ledger.DefaultSettings().MaxSkew,
	}
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Index < sorted[j].Index })
	for _, e := range sorted {
		a.entry(e.Index, &e.Cmd, e.Res)
	}
	for id, l := range a.r.Live {
		pk := PoolKey{l.Account, l.Feature}
		a.r.Intervals[pk] = append(a.r.Intervals[pk], Interval{Lease: id, Device: l.Device, Start: l.Since, End: l.Horizon.Add(a.skew)})
	}
	return a.r
}

type auditor struct {
	r            Report
	skew         time.Duration
	bootstrapped bool
	maxID        uint64
	prevNow      time.Time
	prevIdx      uint64
}

func (a *auditor) fail(idx uint64, format string, args ...any) {
	a.r.Violations = append(a.r.Violations, fmt.Sprintf("log index %d: ", idx)+fmt.Sprintf(format, args...))
}

func (a *auditor) inUse(pk PoolKey) int {
	n := 0
	for _, l := range a.r.Live {
		if l.Account == pk.Account && l.Feature == pk.Feature {
			n++
		}
	}
	return n
}

func (a *auditor) entry(idx uint64, c *ledger.Command, res ledger.Result) {
	// A batch's own Now is its last member's; only members count.
	if !c.Now.IsZero() && c.Type != ledger.CmdBatch {
		if c.Now.Before(a.prevNow) {
			a.r.NowInversions++
			if len(a.r.Inversions) < 5 {
				a.r.Inversions = append(a.r.Inversions, fmt.Sprintf("index %d %s at %s follows index %d at %s (%v earlier)",
					idx, c.Type, c.Now.Format(time.RFC3339Nano), a.prevIdx, a.prevNow.Format(time.RFC3339Nano), a.prevNow.Sub(c.Now)))
			}
		}
		a.prevNow, a.prevIdx = c.Now, idx
	}
	if c.Type == ledger.CmdBatch {
		if len(res.Batch) != len(c.Batch) {
			a.fail(idx, "batch of %d commands has %d results", len(c.Batch), len(res.Batch))
			return
		}
		for i := range c.Batch {
			a.entry(idx, &c.Batch[i], res.Batch[i])
		}
		return
	}
	if res.Replayed {
		a.r.Replays++
		return
	}
	// Leases the command ended come first: a checkout reclaims before it
	// grants.
	for _, e := range res.Ended {
		a.end(idx, c, e)
	}
	switch c.Type {
	case ledger.CmdBootstrap:
		if res.Error == nil && ledger.PayloadOf[ledger.Bootstrap](c) != nil && !a.bootstrapped {
			a.bootstrapped = true
			a.skew = ledger.PayloadOf[ledger.Bootstrap](c).Settings.MaxSkew
		}
	case ledger.CmdSetSettings:
		if res.Error == nil && ledger.PayloadOf[ledger.Settings](c) != nil {
			a.skew = ledger.PayloadOf[ledger.Settings](c).MaxSkew
		}
	case ledger.CmdSetPool:
		if res.Error == nil && ledger.PayloadOf[ledger.SetPool](c) != nil {
			a.r.Seats[PoolKey{ledger.PayloadOf[ledger.SetPool](c).Account, ledger.PayloadOf[ledger.SetPool](c).Feature}] = ledger.PayloadOf[ledger.SetPool](c).Seats
		}
	case ledger.CmdCheckout:
		a.checkout(idx, c, res)
	case ledger.CmdRenew:
		for _, rr := range res.Renewed {
			if rr.Lease != nil {
				a.extend(idx, *rr.Lease)
			}
		}
	case ledger.CmdRelease:
		if res.Error == nil {
			a.r.Releases++
			if len(res.Ended) != 1 || ledger.PayloadOf[ledger.Release](c) == nil || res.Ended[0].ID != ledger.PayloadOf[ledger.Release](c).LeaseID {
				a.fail(idx, "successful release did not end exactly the requested lease: %+v", res.Ended)
			}
		} else if len(res.Ended) > 0 {
			a.fail(idx, "refused release (%v) ended leases %+v", res.Error, res.Ended)
		}
	}
}

func (a *auditor) checkout(idx uint64, c *ledger.Command, res ledger.Result) {
	if ledger.PayloadOf[ledger.Checkout](c) == nil {
		return
	}
	pk := PoolKey{ledger.PayloadOf[ledger.Checkout](c).Account, ledger.PayloadOf[ledger.Checkout](c).Feature}
	switch {
	case res.Error == nil && res.Lease != nil:
		l := *res.Lease
		if old, ok := a.r.Live[l.ID]; ok {
			// The device asked again and got the lease it holds.
			if old.Device != ledger.PayloadOf[ledger.Checkout](c).Device || old.Device != l.Device {
				a.fail(idx, "checkout by %s returned lease %d of %s", ledger.PayloadOf[ledger.Checkout](c).Device, l.ID, old.Device)
			}
			a.extend(idx, l)
			return
		}
		a.r.Grants++
		if _, ended := a.r.Ended[l.ID]; ended || l.ID <= a.maxID {
			a.fail(idx, "new lease %d does not have a fresh fencing ID (highest so far %d)", l.ID, a.maxID)
		}
		a.maxID = max(a.maxID, l.ID)
		if l.Device != ledger.PayloadOf[ledger.Checkout](c).Device || l.Account != pk.Account || l.Feature != pk.Feature {
			a.fail(idx, "checkout by %s/%s for %s granted lease %+v", pk.Account, ledger.PayloadOf[ledger.Checkout](c).Device, pk.Feature, l)
		}
		if !l.Since.Equal(c.Now) {
			a.fail(idx, "lease %d Since %s is not the command time %s", l.ID, l.Since, c.Now)
		}
		for _, o := range a.r.Live {
			if o.Account == l.Account && o.Device == l.Device && o.Feature == l.Feature && o.User == l.User && !o.Revoked && !o.Reusable(c.Now, a.skew) {
				a.fail(idx, "device %s got lease %d while it still holds lease %d of the same feature", l.Device, l.ID, o.ID)
			}
		}
		a.r.Live[l.ID] = l
		a.r.Granted[l.ID] = l
		if n, seats := a.inUse(pk), a.r.Seats[pk]; n > seats {
			a.fail(idx, "S1: lease %d makes %d leases of %s/%s in force with %d seats", l.ID, n, pk.Account, pk.Feature, seats)
		}
	case res.Error != nil && res.Error.Code == protocol.CodeNoSeat:
		a.r.NoSeat++
		n, seats := a.inUse(pk), a.r.Seats[pk]
		if n < seats {
			a.fail(idx, "no_seat for %s with %d of %d seats of %s/%s in force", ledger.PayloadOf[ledger.Checkout](c).Device, n, seats, pk.Account, pk.Feature)
		}
		for _, l := range a.r.Live {
			if l.Account == pk.Account && l.Feature == pk.Feature && l.Reusable(c.Now, a.skew) {
				a.fail(idx, "no_seat for %s at %s while lease %d (horizon %s) was reusable", ledger.PayloadOf[ledger.Checkout](c).Device, c.Now.Format(time.RFC3339Nano), l.ID, l.Horizon.Format(time.RFC3339Nano))
			}
		}
	}
}

// extend records a lease's new horizon, which must not move back.
func (a *auditor) extend(idx uint64, l ledger.Lease) {
	old, ok := a.r.Live[l.ID]
	if !ok {
		a.fail(idx, "lease %d was renewed or returned but is not in force", l.ID)
		return
	}
	if l.Horizon.Before(old.Horizon) {
		a.fail(idx, "lease %d horizon moved back from %s to %s", l.ID, old.Horizon, l.Horizon)
		return
	}
	old.Horizon = l.Horizon
	a.r.Live[l.ID] = old
}

func (a *auditor) end(idx uint64, c *ledger.Command, e ledger.EndedLease) {
	l, ok := a.r.Live[e.ID]
	if !ok {
		a.fail(idx, "%s ended lease %d, which is not in force", c.Type, e.ID)
		return
	}
	if !e.At.Equal(c.Now) {
		a.fail(idx, "lease %d ended at %s, not at the command time %s", e.ID, e.At, c.Now)
	}
	switch e.Reason {
	case ledger.EndReleased:
		if c.Type != ledger.CmdRelease || ledger.PayloadOf[ledger.Release](c) == nil || ledger.PayloadOf[ledger.Release](c).Device != l.Device || ledger.PayloadOf[ledger.Release](c).Account != l.Account {
			a.fail(idx, "S5: lease %d of %s released by %s command %+v", e.ID, l.Device, c.Type, ledger.PayloadOf[ledger.Release](c))
		}
	case ledger.EndExpired, ledger.EndRevoked:
		a.r.Reclaims++
		if !l.Reusable(c.Now, a.skew) {
			a.fail(idx, "S3: lease %d reclaimed at %s before its horizon %s + skew %v", e.ID, c.Now.Format(time.RFC3339Nano), l.Horizon.Format(time.RFC3339Nano), a.skew)
		}
	}
	end := l.Horizon.Add(a.skew)
	if e.At.Before(end) {
		end = e.At
	}
	pk := PoolKey{l.Account, l.Feature}
	a.r.Intervals[pk] = append(a.r.Intervals[pk], Interval{Lease: e.ID, Device: l.Device, Start: l.Since, End: end})
	delete(a.r.Live, e.ID)
	a.r.Ended[e.ID] = e.At
}
