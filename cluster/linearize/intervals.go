package linearize

import (
	"sort"
	"time"
)

// Interval is the stretch of ledger time during which one lease held its
// seat: from Start (the granting command's Now) until End (the releasing
// command's Now, or Horizon+MaxSkew if that came first). A zero End means
// the seat is held for ever.
type Interval struct {
	Lease  uint64
	Device string
	Start  time.Time
	End    time.Time
}

// MaxHeld returns the largest number of intervals that overlap at one
// instant, the first instant at which it is reached and the leases held
// then. Intervals are half-open: a seat released at t may be granted again
// at t.
func MaxHeld(ivs []Interval) (n int, at time.Time, leases []uint64) {
	type ev struct {
		t     time.Time
		start bool
		id    uint64
	}
	evs := make([]ev, 0, 2*len(ivs))
	for _, iv := range ivs {
		if !iv.End.IsZero() && !iv.End.After(iv.Start) {
			continue // empty
		}
		evs = append(evs, ev{iv.Start, true, iv.Lease})
		if !iv.End.IsZero() {
			evs = append(evs, ev{iv.End, false, iv.Lease})
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].t.Equal(evs[j].t) {
			return evs[i].t.Before(evs[j].t)
		}
		if evs[i].start != evs[j].start {
			return !evs[i].start // ends first
		}
		return evs[i].id < evs[j].id
	})
	held := map[uint64]bool{}
	for _, e := range evs {
		if !e.start {
			delete(held, e.id)
			continue
		}
		held[e.id] = true
		if len(held) > n {
			n, at = len(held), e.t
			leases = leases[:0]
			for id := range held {
				leases = append(leases, id)
			}
		}
	}
	sort.Slice(leases, func(i, j int) bool { return leases[i] < leases[j] })
	return n, at, leases
}
