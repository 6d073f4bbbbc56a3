package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// readiness is the gate in front of everything a node serves from its
// ledger. A restarted node's FSM starts empty (or at its last snapshot) and
// replays the log only once Raft knows what is committed; answering in that
// window would tell an enrolled device it is not enrolled, and an
// administrator that its token is unknown. So agents and the admin API are
// refused with a retryable "unavailable" until the node has applied every
// entry it held on disk at start and, knowing a leader, everything the
// leader had committed when asked. Once open the gate stays open: later lag
// is reported by the freshness headers and /readyz, not by refusing.
type readiness struct {
	open   atomic.Bool
	done   chan struct{}
	once   sync.Once
	reason atomic.Value // string: why the gate is still shut
}

func newReadiness() *readiness {
	r := &readiness{done: make(chan struct{})}
	r.reason.Store("this node is starting")
	return r
}

func (r *readiness) set(reason string) { r.reason.Store(reason) }

func (r *readiness) openGate() {
	r.once.Do(func() {
		r.open.Store(true)
		close(r.done)
	})
}

// Ready is nil once the node serves, and otherwise an unavailable error
// saying what it waits for.
func (n *Node) Ready() error {
	if n.ready.open.Load() {
		return nil
	}
	return protocol.Errorf(protocol.CodeUnavailable, "this node is not ready yet: %s; retry shortly", n.ready.reason.Load().(string))
}

// WaitReady blocks until the node serves, or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the node to be ready (%s): %w", n.ready.reason.Load().(string), ctx.Err())
	}
}

// watchReadiness checks the conditions until they hold, then opens the gate.
func (n *Node) watchReadiness(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	logged := time.Now()
	for {
		reason, ok := n.checkReady(ctx)
		if ok {
			n.ready.openGate()
			n.log.Info("node ready: its ledger has applied everything it held at start and the leader's commit index",
				"applied_index", n.Store.AppliedIndex(), "start_index", n.Store.StartIndex(), "waited", time.Since(n.Store.OpenedAt()).Round(time.Millisecond))
			return
		}
		n.ready.set(reason)
		if time.Since(logged) > 5*time.Second {
			n.log.Warn("node not ready yet", "reason", reason)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkReady reports whether the node may serve, or why not.
func (n *Node) checkReady(ctx context.Context) (string, bool) {
	st := n.Store.Status()
	if st.LeaderID == "" {
		return fmt.Sprintf("no Raft leader known yet (this node is %s)", st.State), false
	}
	// Entries on disk at start, unless a new leader has since cut the log
	// back below them (uncommitted entries of an old term).
	need := min(n.Store.StartIndex(), n.Store.LastIndex())
	if !n.Store.HasApplied(need) {
		return fmt.Sprintf("replaying its Raft log after a restart (applied index %d of %d held on disk)", n.Store.AppliedIndex(), need), false
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n.Store.IsLeader() {
		// A barrier commits an entry of this term and waits for the FSM:
		// everything any earlier leader committed is then applied here.
		if err := n.Store.Barrier(cctx); err != nil {
			return fmt.Sprintf("the leader is applying its log (%v)", err), false
		}
		return "", true
	}
	if st.LastContact.Before(n.Store.OpenedAt()) {
		return fmt.Sprintf("no contact with the leader %s since this node started", st.LeaderID), false
	}
	commit := st.CommitIndex
	if lc, ok := n.leaderCommitIndex(cctx, st.LeaderID); ok && lc > commit {
		commit = lc
	}
	if !n.Store.HasApplied(commit) {
		return fmt.Sprintf("catching up with the leader %s (applied index %d, leader's commit index %d)", st.LeaderID, n.Store.AppliedIndex(), commit), false
	}
	return "", true
}

// leaderCommitIndex asks the leader for its commit index, over the nodes'
// mutually authenticated admin connection.
func (n *Node) leaderCommitIndex(ctx context.Context, leaderID string) (uint64, bool) {
	var leader ledger.Node
	n.Store.Read(func(st *ledger.State) {
		for _, x := range st.Nodes() {
			if x.ID == leaderID {
				leader = x
			}
		}
	})
	if leader.AdminAddr == "" {
		return 0, false
	}
	st, err := n.fwd.nodeStatus(ctx, leader)
	if err != nil || st.NodeID != leaderID {
		return 0, false
	}
	return st.CommitIndex, true
}

// catchUpWait bounds how long a follower waits to apply what the leader had
// committed, before answering a retryable unavailable.
const catchUpWait = 5 * time.Second

// CatchUp makes this node's ledger at least as new as the leader's commit
// index at the time of the call (Raft's read index, asked over the nodes'
// admin connection): what a follower decides from its ledger after it is
// what the leader would decide. Followers call it before validating a write
// (admin writes, enrollment) or trusting the absence of a record (a token
// created a moment ago through another node).
func (n *Node) CatchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	if n.Store.IsLeader() {
		return n.Store.WaitApplied(ctx, n.Store.Raft().CommitIndex())
	}
	_, id := n.Store.Leader()
	if id == "" {
		return protocol.Errorf(protocol.CodeUnavailable, "no leader is known right now; the cluster may be electing one")
	}
	commit, ok := n.leaderCommitIndex(ctx, id)
	if !ok {
		return protocol.Errorf(protocol.CodeUnavailable, "cannot ask the leader %s how far the log is committed", id)
	}
	return n.Store.WaitApplied(ctx, commit)
}
