package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// idempotentWait bounds how long a retry waits for the first request with
// its key to finish.
const idempotentWait = 30 * time.Second

// idempotent runs serve for a write that carries an Idempotency-Key at most
// once per (caller, key): it claims the key in the ledger first, records
// the answer after, and answers a retry with the recorded answer (waiting
// for it when the first attempt is still running). A key reused with a
// different request (method, path, body) is refused. Requests without a
// key, and reads, are served as they are.
func (a *api) idempotent(w http.ResponseWriter, r *http.Request, caller string, serve func(http.ResponseWriter, *http.Request)) {
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
		serve(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*MaxImportBytes+1))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "read the request body: %v", err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	io.WriteString(sum, r.Method+"\n"+r.URL.RequestURI()+"\n")
	sum.Write(body)
	req := ledger.AdminRequest{Caller: caller, Key: key, Digest: hex.EncodeToString(sum.Sum(nil))}

	rec, err := a.adminRequest(r.Context(), req, ledger.AdminRequestBegin)
	if err != nil {
		writeError(w, err)
		return
	}
	if !rec.Claimed {
		a.replay(w, r, rec)
		return
	}
	// This node holds the claim and records the answer; a leader this
	// request is proxied to (leader-only routes) must not claim it again
	// and wait for itself.
	r.Header.Del(HeaderIdempotencyKey)
	out := &recorder{ResponseWriter: w}
	serve(out, r)
	// Record the answer even if the client is gone: its retry wants it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	op := ledger.AdminRequestEnd
	if out.status >= 500 || out.status == 0 {
		// The cluster could not serve it (unavailable, not leader): let a
		// retry run it again rather than replay the failure.
		op = ledger.AdminRequestRelease
	}
	req.Status, req.Body, req.Truncated = out.status, out.buf.Bytes(), out.over
	if out.over {
		req.Body = nil
	}
	if _, err := a.adminRequest(ctx, req, op); err != nil {
		a.log.Error("cannot record the answer of an idempotent write; a retry may repeat it", "key", key, "caller", caller, "err", err)
	}
}

// adminRequest proposes one step of an idempotency record.
func (a *api) adminRequest(ctx context.Context, req ledger.AdminRequest, op string) (ledger.AdminRequestRecord, error) {
	req.Op = op
	if op == ledger.AdminRequestBegin {
		req.Status, req.Body = 0, nil
	}
	res, err := a.cfg.Propose(ctx, ledger.Command{Type: ledger.CmdAdminRequest, Actor: req.Caller, Payload: &req})
	if err != nil {
		return ledger.AdminRequestRecord{}, err
	}
	if res.Error != nil {
		return ledger.AdminRequestRecord{}, res.Error
	}
	if res.AdminRequest == nil {
		return ledger.AdminRequestRecord{}, nil
	}
	return *res.AdminRequest, nil
}

// replay answers with the recorded outcome of the first request with this
// key, waiting for it if that request is still running.
func (a *api) replay(w http.ResponseWriter, r *http.Request, rec ledger.AdminRequestRecord) {
	deadline := time.Now().Add(idempotentWait)
	for !rec.Done {
		if time.Now().After(deadline) {
			w.Header().Set("Retry-After", "2")
			writeError(w, protocol.Errorf(protocol.CodeUnavailable, "the first request with Idempotency-Key %q is still running; retry to get its outcome", rec.Key))
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		var ok bool
		a.cfg.Store.Read(func(st *ledger.State) { rec, ok = st.AdminRequest(rec.Caller, rec.Key) })
		if !ok {
			// Released (the first attempt failed): this retry runs it.
			writeError(w, protocol.Errorf(protocol.CodeUnavailable, "the first request with Idempotency-Key %q failed without a change; retry it", rec.Key))
			return
		}
	}
	a.log.Info("replayed an idempotent write", "key", rec.Key, "caller", rec.Caller, "status", rec.Status)
	h := w.Header()
	h.Set(HeaderIdempotentReplay, "true")
	if rec.Truncated {
		writeJSON(w, rec.Status, map[string]any{"replayed": true, "note": "the original answer was too large to keep; the request was applied once"})
		return
	}
	if len(rec.Body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(rec.Status)
	w.Write(rec.Body)
}

// recorder passes an answer through and keeps a copy of its status and
// body (up to the size the ledger keeps).
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	over   bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.over {
		if r.buf.Len()+len(b) > ledger.MaxAdminReplayBody {
			r.over = true
		} else {
			r.buf.Write(b)
		}
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
