package validate

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

// TokenLedger records every signed lease token any client received, and
// when its holder gave it up, and checks that at no instant more leases of
// a pool had a valid token than the pool has seats (plus declared overage).
//
// A token is valid, for this check, from the moment its holder received it
// until the earlier of its exp (as a verifier with a correct clock and no
// leeway accepts it) and the moment its holder gave the lease up (a release
// request sent: the holder discards the token first). Tokens of the same
// lease count once. A token whose lease was refused at renewal stays valid
// until its exp: nothing stops its holder from using it until then.
// Instants are the test machine's clock, which is the true time of a run
// whose nodes' clocks are offset.
type TokenLedger struct {
	mu      sync.Mutex
	tokens  []tokenRecord
	discard map[uint64][]time.Time // lease → times its holder gave it up
	bad     []string
}

type tokenRecord struct {
	pool     string
	lease    uint64
	received time.Time
	expires  time.Time
	via      string
}

// NewTokenLedger returns an empty ledger.
func NewTokenLedger() *TokenLedger { return &TokenLedger{discard: map[uint64][]time.Time{}} }

// PoolOf names a pool as the ledger keys it.
func PoolOf(account, feature string) string { return account + "/" + feature }

// Received records a token a client received at at, from the node via.
func (l *TokenLedger) Received(token string, at time.Time, via string) {
	c, _, err := lease.ParseUnverified(token)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.bad = append(l.bad, fmt.Sprintf("undecodable token from %s: %v", via, err))
		return
	}
	l.tokens = append(l.tokens, tokenRecord{pool: PoolOf(c.Account, c.Feature), lease: c.LeaseID, received: at, expires: c.Expires, via: via})
}

// Discarded records that the holder of lease gave it up at at.
func (l *TokenLedger) Discarded(leaseID uint64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.discard[leaseID] = append(l.discard[leaseID], at)
}

// Tokens counts the tokens recorded.
func (l *TokenLedger) Tokens() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tokens)
}

// Check returns one violation per pool and instant at which more leases
// held valid tokens than limit[pool] allows (limit: seats plus overage).
func (l *TokenLedger) Check(limit map[string]int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.bad...)
	type event struct {
		at    time.Time
		delta int
		lease uint64
	}
	byPool := map[string][]event{}
	for _, t := range l.tokens {
		end := t.expires
		for _, d := range l.discard[t.lease] {
			if !d.Before(t.received) && d.Before(end) {
				end = d
			}
		}
		if !end.After(t.received) {
			continue // expired (or given up) before it arrived
		}
		byPool[t.pool] = append(byPool[t.pool], event{t.received, +1, t.lease}, event{end, -1, t.lease})
	}
	for pool, evs := range byPool {
		// Ends before starts at the same instant: a token that expires as
		// another arrives does not overlap it.
		sort.Slice(evs, func(i, j int) bool {
			if !evs[i].at.Equal(evs[j].at) {
				return evs[i].at.Before(evs[j].at)
			}
			return evs[i].delta < evs[j].delta
		})
		active := map[uint64]int{}
		reported := 0
		for _, e := range evs {
			active[e.lease] += e.delta
			if active[e.lease] == 0 {
				delete(active, e.lease)
			}
			if e.delta > 0 && len(active) > limit[pool] && reported < 5 {
				reported++
				ids := make([]uint64, 0, len(active))
				for id := range active {
					ids = append(ids, id)
				}
				sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
				out = append(out, fmt.Sprintf("token ledger: %d leases %v of %s held valid tokens at %s (limit %d)",
					len(active), ids, pool, e.at.Format(time.RFC3339Nano), limit[pool]))
			}
		}
	}
	return out
}
