package agentsrv

import (
	"fmt"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// The table keeps one session per device and at most max: re-issuing
// replaces, and a full table evicts the session issued longest ago.
func TestSessionsReplaceAndEvictOldest(t *testing.T) {
	tab := newSessions(3)
	now := time.Unix(1_800_000_000, 0)
	dev := func(i int) ledger.DeviceRef { return ledger.DeviceRef{Account: "acme", Code: fmt.Sprint("D", i)} }
	issue := func(i int) [8]byte {
		t.Helper()
		hs, err := tab.issue(peer{}, dev(i), "", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		var id [8]byte
		copy(id[:], hs.KeyID)
		return id
	}
	first := issue(1)
	second := issue(1) // the same device again: replaces
	if tab.lookup(first, now) != nil || tab.lookup(second, now) == nil || tab.len() != 1 {
		t.Fatalf("re-issue: old live %v, new live %v, %d sessions", tab.lookup(first, now) != nil, tab.lookup(second, now) != nil, tab.len())
	}
	d2, d3 := issue(2), issue(3)
	d4 := issue(4) // full: evicts device 1's, the oldest
	if tab.lookup(second, now) != nil || tab.lookup(d2, now) == nil || tab.lookup(d3, now) == nil || tab.lookup(d4, now) == nil || tab.len() != 3 {
		t.Fatalf("eviction kept the wrong sessions (%d live)", tab.len())
	}
	// Expired sessions are gone at lookup.
	if tab.lookup(d4, now.Add(SessionLifetime)) != nil {
		t.Fatal("a session outlived SessionLifetime")
	}
	// Counters only go up.
	s := tab.lookup(d2, now)
	if !tab.accept(s, 5) || tab.accept(s, 5) || tab.accept(s, 4) || !tab.fresh(s, 6) || tab.fresh(s, 5) {
		t.Fatal("counter rule broken")
	}
}

// BenchmarkIssueSession reports what one session costs in memory (B/op:
// the key schedule, the AEAD and the table entries).
func BenchmarkIssueSession(b *testing.B) {
	tab := newSessions(b.N + 1)
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := tab.issue(peer{}, ledger.DeviceRef{Account: "acme", Code: "D"}, "", 0, now); err != nil {
			b.Fatal(err)
		}
	}
}
