package leasing

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
)

type poolKey struct{ account, feature string }

// Waiter is a queued checkout as administrators see it.
// The wire type lives in protocol/api.
type Waiter = api.Waiter

type waiter struct {
	cmd      ledger.Command
	priority int
	since    time.Time
	deadline time.Time
	// claimed is set while the drain loop is proposing this waiter's
	// checkout; a waiter that times out while claimed waits for the outcome
	// instead of walking away from a seat granted in its name.
	claimed bool
	// gaveUp is set when the caller stopped waiting while claimed; the
	// drain loop then answers it instead of queueing it again.
	gaveUp bool
	done   chan outcome
}

type outcome struct {
	res ledger.Result
	err error
}

// poolQueue is a FIFO of checkouts waiting for a seat of one pool.
type poolQueue struct {
	waiters  []*waiter
	draining bool
	// kicks counts wake-ups, so a seat freed while a drain attempt is in
	// flight is not missed.
	kicks uint64
}

type queues struct {
	svc   *Service
	mu    sync.Mutex
	pools map[poolKey]*poolQueue
}

func newQueues(s *Service) *queues { return &queues{svc: s, pools: map[poolKey]*poolQueue{}} }

func (q *queues) pool(k poolKey) *poolQueue {
	p := q.pools[k]
	if p == nil {
		p = &poolQueue{}
		q.pools[k] = p
	}
	return p
}

// tryNow proposes a checkout that does not wait. When devices are already
// queued for the pool it is refused, so a newcomer cannot overtake them.
func (q *queues) tryNow(ctx context.Context, k poolKey, cmd ledger.Command) (ledger.Result, error) {
	q.mu.Lock()
	n := 0
	if p := q.pools[k]; p != nil {
		n = len(p.waiters)
	}
	q.mu.Unlock()
	if n > 0 && !q.holds(k, cmd) {
		return ledger.Result{Error: protocol.Errorf(protocol.CodeNoSeat, "no seat of %s is free and %d devices are queued for one", k.feature, n)}, nil
	}
	return q.svc.propose(ctx, cmd)
}

// holds reports whether the device already holds a lease for the feature, in
// which case the ledger returns it and the queue is irrelevant.
func (q *queues) holds(k poolKey, cmd ledger.Command) bool {
	held := false
	q.svc.store.Read(func(st *ledger.State) {
		for _, l := range st.DeviceLeases(ledger.DeviceRef{Account: k.account, Code: ledger.PayloadOf[ledger.Checkout](&cmd).Device}) {
			if l.Feature == k.feature && l.User == ledger.PayloadOf[ledger.Checkout](&cmd).User && !l.Revoked {
				held = true
			}
		}
	})
	return held
}

// wait tries at once and, failing for want of a seat, queues the checkout
// until a seat frees (first come, first served) or the deadline passes.
func (q *queues) wait(ctx context.Context, k poolKey, cmd ledger.Command, wait time.Duration, prio int) (ledger.Result, error) {
	res, err := q.tryNow(ctx, k, cmd)
	if err != nil || res.Error == nil || res.Error.Code != protocol.CodeNoSeat {
		return res, err
	}
	now := q.svc.now()
	w := &waiter{cmd: cmd, since: now, deadline: now.Add(wait), priority: prio, done: make(chan outcome, 1)}
	q.mu.Lock()
	p := q.pool(k)
	// FIFO within priority: the newcomer goes behind every waiter of its
	// priority or higher.
	at := len(p.waiters)
	for i, o := range p.waiters {
		if o.priority < prio {
			at = i
			break
		}
	}
	p.waiters = slices.Insert(p.waiters, at, w)
	q.mu.Unlock()
	// A seat may have freed between the refusal and the enqueue.
	q.kick(k)

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case o := <-w.done:
		return o.res, o.err
	case <-timer.C:
	case <-ctx.Done():
	}
	q.mu.Lock()
	if !w.claimed {
		q.remove(k, w)
		q.mu.Unlock()
		if ctx.Err() != nil {
			return ledger.Result{}, protocol.Errorf(protocol.CodeTimeout, "checkout of %s abandoned while waiting: %v", k.feature, ctx.Err())
		}
		return ledger.Result{Error: protocol.Errorf(protocol.CodeNoSeat, "no seat of %s became free within the wait", k.feature)}, nil
	}
	w.gaveUp = true
	q.mu.Unlock()
	o := <-w.done
	return o.res, o.err
}

func (q *queues) remove(k poolKey, w *waiter) {
	p := q.pools[k]
	if p == nil {
		return
	}
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
	if len(p.waiters) == 0 && !p.draining {
		delete(q.pools, k)
	}
}

// kick wakes a pool's queue. It never blocks: it runs on Raft's apply
// goroutine.
func (q *queues) kick(k poolKey) {
	q.mu.Lock()
	p := q.pools[k]
	if p == nil || len(p.waiters) == 0 {
		q.mu.Unlock()
		return
	}
	p.kicks++
	if p.draining {
		q.mu.Unlock()
		return
	}
	p.draining = true
	q.mu.Unlock()
	go q.drain(k)
}

// drain serves a pool's waiters in order until one is refused for want of a
// seat.
func (q *queues) drain(k poolKey) {
	for {
		q.mu.Lock()
		p := q.pools[k]
		if len(p.waiters) == 0 {
			p.draining = false
			delete(q.pools, k)
			q.mu.Unlock()
			return
		}
		w := p.waiters[0]
		w.claimed = true
		kicks := p.kicks
		q.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := q.svc.propose(ctx, w.cmd)
		cancel()

		q.mu.Lock()
		noSeat := err == nil && res.Error != nil && res.Error.Code == protocol.CodeNoSeat
		if noSeat && !w.gaveUp && q.svc.now().Before(w.deadline) {
			w.claimed = false
			if p.kicks != kicks {
				// Someone freed a seat while we were asking: try again.
				q.mu.Unlock()
				continue
			}
			p.draining = false
			q.mu.Unlock()
			return
		}
		p.waiters = p.waiters[1:]
		q.mu.Unlock()
		w.done <- outcome{res: res, err: err}
	}
}

func (q *queues) list() []Waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Waiter
	for k, p := range q.pools {
		for i, w := range p.waiters {
			out = append(out, Waiter{Account: k.account, Feature: k.feature, Device: ledger.PayloadOf[ledger.Checkout](&w.cmd).Device, User: ledger.PayloadOf[ledger.Checkout](&w.cmd).User, Since: w.since, Deadline: w.deadline, Position: i + 1, Priority: w.priority})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Feature != b.Feature {
			return a.Feature < b.Feature
		}
		return a.Position < b.Position
	})
	return out
}
