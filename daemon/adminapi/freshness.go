package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/protocol"
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
