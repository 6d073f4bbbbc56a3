package ledger

import (
	"fmt"
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Idempotent admin writes. An administrator's write carries an
// Idempotency-Key; the admin API claims the key in the ledger before it
// makes the change (begin) and records the answer it gave after (end). A
// retry of the same request (same caller, key and body) while the first is
// running waits for it, and afterwards gets the recorded answer: the change
// is made once however often the client retries a request whose answer it
// lost. Keys are per caller, so one caller cannot replay another's answer,
// and a key reused for a different request is refused.

// CmdAdminRequest claims or completes an idempotency key.
const CmdAdminRequest CommandType = "admin_request"

const (
	// AdminRequestMemory is how long an answer is kept for retries.
	AdminRequestMemory = 24 * time.Hour
	// AdminRequestStale is how long a claimed key without an answer (its
	// node died mid-request) blocks retries; after it, a retry runs the
	// request again. The first attempt may or may not have made its
	// change: this is the one case a change can happen twice.
	AdminRequestStale = 2 * time.Minute
	// MaxAdminReplayBody is the largest answer kept; a larger one is
	// replayed as its status with a note instead of its body.
	MaxAdminReplayBody = 256 << 10
)

// Admin request operations.
const (
	AdminRequestBegin = "begin"
	AdminRequestEnd   = "end"
	// AdminRequestRelease gives up a claim whose request failed without
	// an answer worth keeping (the cluster was unavailable): a retry runs
	// it again.
	AdminRequestRelease = "release"
)

// AdminRequest is the payload of CmdAdminRequest.
type AdminRequest struct {
	Op string `json:"op"`
	// Caller is the authenticated caller (admin-token:ID, member:A/E).
	Caller string `json:"caller"`
	Key    string `json:"key"`
	// Digest identifies the request: method, path and body.
	Digest string `json:"digest"`
	// Status and Body are the answer (end).
	Status int    `json:"status,omitempty"`
	Body   []byte `json:"body,omitempty"`
	// Truncated: the answer was too large to keep (Body is empty).
	Truncated bool `json:"truncated,omitempty"`
}

// AdminRequestRecord is a claimed key and, once done, its answer.
type AdminRequestRecord struct {
	Caller string    `json:"caller"`
	Key    string    `json:"key"`
	Digest string    `json:"digest"`
	Began  time.Time `json:"began"`
	Done   bool      `json:"done,omitempty"`
	Status int       `json:"status,omitempty"`
	Body   []byte    `json:"body,omitempty"`
	// Truncated: the answer was larger than MaxAdminReplayBody.
	Truncated bool `json:"truncated,omitempty"`
	// Claimed is set in the result of a begin that this request won; it
	// is not stored.
	Claimed bool `json:"claimed,omitempty"`
}

func adminRequestKey(caller, key string) string { return caller + "\x00" + key }

func (s *State) adminRequest(now time.Time, a *AdminRequest) Result {
	if a.Caller == "" || a.Key == "" || a.Digest == "" {
		return fail(protocol.CodeInvalidArgument, "an admin request record needs a caller, a key and a digest")
	}
	if len(a.Key) > 200 {
		return fail(protocol.CodeInvalidArgument, "Idempotency-Key is %d characters; at most 200", len(a.Key))
	}
	k := adminRequestKey(a.Caller, a.Key)
	rec, ok := s.adminReqs[k]
	if ok && rec.Digest != a.Digest {
		return fail(protocol.CodeInvalidArgument, "Idempotency-Key %q was already used by this caller for a different request; use a new key for a new request", a.Key)
	}
	switch a.Op {
	case AdminRequestBegin:
		if ok && (rec.Done || now.Sub(rec.Began) < AdminRequestStale) {
			out := *rec
			return Result{AdminRequest: &out}
		}
		if !ok {
			rec = &AdminRequestRecord{Caller: a.Caller, Key: a.Key, Digest: a.Digest}
			s.adminReqs[k] = rec
			s.adminReqOrder = append(s.adminReqOrder, k)
		}
		rec.Began = now
		out := *rec
		out.Claimed = true
		return Result{AdminRequest: &out}
	case AdminRequestRelease:
		if ok && !rec.Done {
			delete(s.adminReqs, k) // its order entry is dropped when pruned
		}
		return Result{}
	case AdminRequestEnd:
		if !ok {
			return fail(protocol.CodeNotFound, "Idempotency-Key %q of %s was not claimed", a.Key, a.Caller)
		}
		if rec.Done {
			out := *rec
			return Result{AdminRequest: &out}
		}
		rec.Done, rec.Status = true, a.Status
		if a.Truncated || len(a.Body) > MaxAdminReplayBody {
			rec.Truncated = true
		} else {
			rec.Body = append([]byte(nil), a.Body...)
		}
		out := *rec
		return Result{AdminRequest: &out}
	}
	return fail(protocol.CodeInvalidArgument, "unknown admin request op %q", a.Op)
}

// AdminRequest returns the record of caller's key.
func (s *State) AdminRequest(caller, key string) (AdminRequestRecord, bool) {
	rec, ok := s.adminReqs[adminRequestKey(caller, key)]
	if !ok {
		return AdminRequestRecord{}, false
	}
	return *rec, true
}

// pruneAdminRequests forgets records older than AdminRequestMemory; the
// order slice is by claim, which is close enough to by age.
func (s *State) pruneAdminRequests(now time.Time) {
	cut := now.Add(-AdminRequestMemory)
	n := 0
	for n < len(s.adminReqOrder) {
		rec, ok := s.adminReqs[s.adminReqOrder[n]]
		if ok && !rec.Began.Before(cut) {
			break
		}
		delete(s.adminReqs, s.adminReqOrder[n])
		n++
	}
	if n > 0 {
		s.adminReqOrder = dropFront(s.adminReqOrder, n)
	}
}

// adminRequestsSnapshot lists the records in claim order.
func (s *State) adminRequestsSnapshot() []AdminRequestRecord {
	out := make([]AdminRequestRecord, 0, len(s.adminReqOrder))
	for _, k := range s.adminReqOrder {
		if rec, ok := s.adminReqs[k]; ok {
			out = append(out, *rec)
		}
	}
	return out
}

func (s *State) restoreAdminRequests(recs []AdminRequestRecord) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Began.Before(recs[j].Began) })
	for i := range recs {
		r := recs[i]
		k := adminRequestKey(r.Caller, r.Key)
		s.adminReqs[k] = &r
		s.adminReqOrder = append(s.adminReqOrder, k)
	}
}

func (a *AdminRequest) describe() (string, string) {
	return "", fmt.Sprintf("%s idempotency key %s of %s", a.Op, a.Key, a.Caller)
}
