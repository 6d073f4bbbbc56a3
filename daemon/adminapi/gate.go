package adminapi

import (
	"net/http"
	"strings"
)

// alwaysServed are the paths a node answers before it is ready: probes, and
// the node-to-node status a restarting peer asks the leader for.
func alwaysServed(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/internal/v1/status":
		return true
	}
	// Commands forwarded by other nodes go straight into Raft and are
	// validated when applied, never against this node's ledger.
	return strings.HasPrefix(path, "/internal/")
}

// gate refuses every request that reads or decides on this node's ledger
// while the node is not ready (see Config.Ready): 503, code unavailable,
// with the reason, and a Retry-After so clients come back.
func (a *api) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Ready != nil && !alwaysServed(r.URL.Path) {
			if err := a.cfg.Ready(); err != nil {
				w.Header().Set("Retry-After", "1")
				writeError(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
