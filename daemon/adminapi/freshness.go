package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Any node answers reads from its own copy of the ledger, which trails the
// leader by the replication delay (milliseconds when healthy, unbounded when
// the node is cut off). So that nobody mistakes a stale answer for the
// truth, every answer says who gave it and how fresh it is, and a caller
// that needs the leader's current view asks for it with
// "X-Tally-Consistency: leader" (tallyctl --consistent).
const (
	// HeaderNode names the node whose ledger answered.
	HeaderNode = "X-Tally-Node"
	// HeaderRaftState is that node's Raft state: Leader, Follower, Candidate.
	HeaderRaftState = "X-Tally-Raft-State"
	// HeaderLeader is the leader's ID as that node knows it ("" if none).
	HeaderLeader = "X-Tally-Leader"
	// HeaderAppliedIndex is the Raft index the node had applied when the
	// request arrived: the answer reflects at least every entry up to it.
	HeaderAppliedIndex = "X-Tally-Applied-Index"
	// HeaderLastContact is, on a follower, how many milliseconds ago it last
	// heard from the leader; absent on the leader.
	HeaderLastContact = "X-Tally-Last-Contact-Ms"
	// HeaderConsistency: on a request, "leader" asks for a linearizable
	// read; on the answer, "leader" or "local" says which one was served.
	HeaderConsistency = "X-Tally-Consistency"
	// ConsistencyLeader and ConsistencyLocal are HeaderConsistency's values.
	ConsistencyLeader = "leader"
	ConsistencyLocal  = "local"
	// HeaderMinIndex, on a request, is the lowest Raft index the answering
	// node must have applied first: the highest HeaderAppliedIndex the
	// client has seen, so that it reads its own writes at any node. The
	// node waits up to MinIndexWait, then answers 503 unavailable.
	HeaderMinIndex = "X-Tally-Min-Index"
)

// MinIndexWait bounds how long a request's X-Tally-Min-Index is waited for.
const MinIndexWait = 5 * time.Second

// wantsLeaderRead reports whether the caller asked for the leader's view.
func wantsLeaderRead(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(r.Header.Get(HeaderConsistency) == ConsistencyLeader || r.URL.Query().Get("consistent") == "true")
}

// serveFreshness prepares a read: for a leader read on a follower it proxies
// the request to the leader and reports served=false; otherwise it makes
// sure the answer will be current (leader reads) and stamps the freshness
// headers.
func (a *api) serveFreshness(w http.ResponseWriter, r *http.Request) (served bool, err error) {
	consistency := ConsistencyLocal
	if wantsLeaderRead(r) {
		if !a.cfg.Store.IsLeader() {
			if r.Header.Get("X-Tally-Forwarded") != "" || a.cfg.Cluster.ForwardToLeader == nil {
				return false, protocol.Errorf(protocol.CodeNotLeader, "this node is not the leader and cannot forward a consistent read")
			}
			a.cfg.Cluster.ForwardToLeader(w, r)
			return false, nil
		}
		if err := a.readIndex(r.Context()); err != nil {
			return false, err
		}
		consistency = ConsistencyLeader
	}
	st := a.cfg.Store.Status()
	h := w.Header()
	h.Set(HeaderNode, st.NodeID)
	h.Set(HeaderRaftState, st.State)
	h.Set(HeaderLeader, st.LeaderID)
	h.Set(HeaderAppliedIndex, strconv.FormatUint(a.cfg.Store.AppliedIndex(), 10))
	h.Set(HeaderConsistency, consistency)
	if st.State != "Leader" && !st.LastContact.IsZero() {
		h.Set(HeaderLastContact, strconv.FormatInt(time.Since(st.LastContact).Milliseconds(), 10))
	}
	return true, nil
}

// readIndex is Raft's read-index protocol on the leader: note the commit
// index, confirm with a quorum that this node still leads (so no newer
// leader can have committed anything), then wait until the state machine
// has applied up to the noted index. A read after it sees every write that
// completed before the request arrived, without a log entry of its own.
func (a *api) readIndex(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	commit := a.cfg.Store.Raft().CommitIndex()
	if err := a.cfg.Store.VerifyLeader(ctx); err != nil {
		return protocol.Errorf(protocol.CodeNotLeader, "cannot confirm leadership for a consistent read: %v", err)
	}
	if err := a.cfg.Store.WaitApplied(ctx, commit); err != nil {
		return protocol.Errorf(protocol.CodeUnavailable, "consistent read: this node has not applied index %d yet", commit)
	}
	return nil
}

// ClearFreshness removes this node's freshness headers from an answer that
// another node (the leader, through a proxy) is about to give instead.
func ClearFreshness(h http.Header) {
	for _, k := range []string{HeaderNode, HeaderRaftState, HeaderLeader, HeaderAppliedIndex, HeaderLastContact, HeaderConsistency} {
		h.Del(k)
	}
}

// HeaderIdempotencyKey, on a write, names the request so that a retry of it
// (the client never saw the answer) returns the first attempt's outcome
// instead of changing anything again (idempotency.go).
const HeaderIdempotencyKey = "Idempotency-Key"
