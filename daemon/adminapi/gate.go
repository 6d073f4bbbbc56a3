package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tally-licensing/tally/protocol"
)

// alwaysServed are the paths a node answers before it is ready: probes, and
// the node-to-node status a restarting peer asks the leader for.
func alwaysServed(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/internal/v1/status":
		return true
	case "/metrics":
		// Monitoring must see a node that cannot get ready (no quorum
		// after a restart): tally_raft_has_leader says why.
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
		iw := &indexWriter{ResponseWriter: w, a: a, write: r.Method != http.MethodGet && r.Method != http.MethodHead}
		if alwaysServed(r.URL.Path) || a.cfg.Store == nil {
			next.ServeHTTP(w, r)
			return
		}
		if a.cfg.Ready != nil {
			if err := a.cfg.Ready(); err != nil {
				iw.Header().Set("Retry-After", "1")
				writeError(iw, err)
				return
			}
		}
		if v := r.Header.Get(HeaderMinIndex); v != "" {
			min, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeError(iw, protocol.Errorf(protocol.CodeBadRequest, "%s %q is not a Raft index", HeaderMinIndex, v))
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), MinIndexWait)
			err = a.cfg.Store.WaitApplied(ctx, min)
			cancel()
			if err != nil {
				iw.Header().Set("Retry-After", "1")
				writeError(iw, err)
				return
			}
		}
		next.ServeHTTP(iw, r)
	})
}

// indexWriter stamps every answer of this node with the Raft index it had
// applied (HeaderAppliedIndex). A read keeps the index stamped when it
// started (serveFreshness), which its answer reflects at least; a write is
// stamped when it answers, after its command was applied here, so a client
// that sends the index back (HeaderMinIndex) reads its write at any node.
// Answers proxied from the leader keep the leader's stamp.
type indexWriter struct {
	http.ResponseWriter
	a       *api
	write   bool
	stamped bool
}

func (w *indexWriter) stamp() {
	if w.stamped {
		return
	}
	w.stamped = true
	h := w.Header()
	if node := h.Get(HeaderNode); node != "" && node != w.a.cfg.Store.NodeID() {
		return // another node's answer
	}
	if w.write || h.Get(HeaderAppliedIndex) == "" {
		h.Set(HeaderAppliedIndex, strconv.FormatUint(w.a.cfg.Store.AppliedIndex(), 10))
	}
}

func (w *indexWriter) WriteHeader(code int) {
	w.stamp()
	w.ResponseWriter.WriteHeader(code)
}

func (w *indexWriter) Write(b []byte) (int, error) {
	w.stamp()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and the reverse proxy's flushes)
// reach the connection.
func (w *indexWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *indexWriter) Flush() {
	w.stamp()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
