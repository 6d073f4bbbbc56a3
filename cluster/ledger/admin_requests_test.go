package ledger

import (
	"bytes"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func adminReq(s *State, idx uint64, now time.Time, op, caller, key, digest string, status int, body string) Result {
	return s.Apply(idx, &Command{Type: CmdAdminRequest, Now: now, Payload: &AdminRequest{Op: op, Caller: caller, Key: key, Digest: digest, Status: status, Body: []byte(body)}})
}

func TestAdminRequestClaimReplayAndScope(t *testing.T) {
	s := New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := adminReq(s, 1, t0, AdminRequestBegin, "admin-token:a", "k", "d1", 0, "")
	if r.Error != nil || r.AdminRequest == nil || !r.AdminRequest.Claimed {
		t.Fatalf("first begin: %+v", r)
	}
	// A retry while the first runs: not claimed, not done (the API waits).
	r = adminReq(s, 2, t0.Add(time.Second), AdminRequestBegin, "admin-token:a", "k", "d1", 0, "")
	if r.Error != nil || r.AdminRequest.Claimed || r.AdminRequest.Done {
		t.Fatalf("concurrent retry: %+v", r.AdminRequest)
	}
	// Another body under the same key is refused.
	if r = adminReq(s, 3, t0.Add(time.Second), AdminRequestBegin, "admin-token:a", "k", "d2", 0, ""); r.Error == nil || r.Error.Code != protocol.CodeInvalidArgument {
		t.Fatalf("reused key, other request: %+v", r)
	}
	// Another caller's key is its own.
	if r = adminReq(s, 4, t0.Add(time.Second), AdminRequestBegin, "admin-token:b", "k", "d2", 0, ""); r.Error != nil || !r.AdminRequest.Claimed {
		t.Fatalf("other caller, same key: %+v", r)
	}
	adminReq(s, 5, t0.Add(2*time.Second), AdminRequestEnd, "admin-token:a", "k", "d1", 201, `{"id":"x"}`)
	r = adminReq(s, 6, t0.Add(time.Hour), AdminRequestBegin, "admin-token:a", "k", "d1", 0, "")
	if r.AdminRequest.Claimed || !r.AdminRequest.Done || r.AdminRequest.Status != 201 || string(r.AdminRequest.Body) != `{"id":"x"}` {
		t.Fatalf("retry after the answer: %+v", r.AdminRequest)
	}
	// The record survives a snapshot.
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	n := New()
	if err := n.ReadSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if rec, ok := n.AdminRequest("admin-token:a", "k"); !ok || rec.Status != 201 {
		t.Fatalf("after a snapshot: %+v %v", rec, ok)
	}
	// Forgotten after AdminRequestMemory.
	adminReq(s, 7, t0.Add(AdminRequestMemory+time.Hour), AdminRequestBegin, "admin-token:c", "z", "d", 0, "")
	if _, ok := s.AdminRequest("admin-token:a", "k"); ok {
		t.Fatal("an answer outlived AdminRequestMemory")
	}
}

func TestAdminRequestStaleClaimAndRelease(t *testing.T) {
	s := New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	adminReq(s, 1, t0, AdminRequestBegin, "c", "k", "d", 0, "")
	// Its node died mid-request: after AdminRequestStale a retry runs it.
	if r := adminReq(s, 2, t0.Add(AdminRequestStale+time.Second), AdminRequestBegin, "c", "k", "d", 0, ""); !r.AdminRequest.Claimed {
		t.Fatalf("retry of a stale claim: %+v", r.AdminRequest)
	}
	// A release (the request failed unavailable) lets the next try run.
	adminReq(s, 3, t0.Add(AdminRequestStale+2*time.Second), AdminRequestRelease, "c", "k", "d", 0, "")
	if r := adminReq(s, 4, t0.Add(AdminRequestStale+3*time.Second), AdminRequestBegin, "c", "k", "d", 0, ""); !r.AdminRequest.Claimed {
		t.Fatalf("retry after a release: %+v", r.AdminRequest)
	}
	// Bookkeeping does not enter the audit log.
	recs, _ := s.Audit(AuditFilter{})
	for _, rec := range recs {
		if rec.Type == CmdAdminRequest {
			t.Fatalf("audit record for idempotency bookkeeping: %+v", rec)
		}
	}
}
