package adminapi

import (
	"github.com/tally-licensing/tally/protocol"

	"fmt"
	"net/http"
)

// readyz answers 200 when Raft has a leader and this node has applied
// everything it knows to be committed, so its reads are current; 503
// otherwise, which takes a lagging or partitioned node out of a load
// balancer's rotation.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	st := a.cfg.Store.Status()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var notReady error
	if a.cfg.Ready != nil {
		notReady = a.cfg.Ready()
	}
	switch {
	case notReady != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", notReady)
	case st.LeaderID == "":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: no Raft leader known (this node is %s, term %d)\n", st.State, st.Term)
	case st.AppliedIndex < st.CommitIndex:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: applied index %d is behind commit index %d\n", st.AppliedIndex, st.CommitIndex)
	default:
		fmt.Fprintf(w, "ready: %s, leader %s, term %d, applied %d\n", st.State, st.LeaderID, st.Term, st.AppliedIndex)
	}
}

func (a *api) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Metrics == nil {
		return protocol.Errorf(protocol.CodeNotFound, "this node serves no metrics")
	}
	a.cfg.Metrics.ServeHTTP(w, r)
	return nil
}
