package ledger

import (
	"fmt"
	"runtime"
	"testing"
)

// Once the audit log is at its cap, every audited command drops its oldest
// record. Dropping used to copy the remaining 100,000 records on each
// apply — quadratic over a 50,000-device release storm, 41 % of tallyd's
// CPU (tally-bench profile) — and must now cost the command alone. Bytes
// allocated, not time: 200 checkout/release pairs at the cap allocated
// about 200 × 2 × 100,000 records before the fix.
func TestPruningAtTheCapCopiesNothing(t *testing.T) {
	f := newFixture(t, 10, 1)
	for len(f.s.audit.records) < maxAuditRecords {
		f.s.audit.records = append(f.s.audit.records, AuditRecord{Time: f.now, Type: CmdSetPool, Account: "acme", Summary: "filler"})
	}
	apply := func() {
		r := f.must(t, Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad"}})
		f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: r.Lease.ID}})
	}
	apply() // the first drop may move the list once
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const pairs = 200
	for i := 0; i < pairs; i++ {
		apply()
	}
	runtime.ReadMemStats(&after)
	// Pruning runs before the command's own record is added: the cap, plus that one.
	if n := len(f.s.audit.records); n != maxAuditRecords+1 {
		t.Fatalf("audit holds %d records; want the cap %d and the newest", n, maxAuditRecords)
	}
	if last := f.s.audit.records[len(f.s.audit.records)-1]; last.Type != CmdRelease {
		t.Errorf("newest audit record %s; want the release", last.Type)
	}
	perPair := (after.TotalAlloc - before.TotalAlloc) / pairs
	// A checkout and a release allocate a few KiB; one copy of the audit
	// log is megabytes. Appends that outgrow the list move it now and then
	// (amortised), which 200 pairs can hit at most once.
	if limit := uint64(2 << 20); perPair > limit {
		t.Errorf("a checkout and release at the audit cap allocated %s per pair; want under %s (the list copied on every drop?)",
			fmt.Sprintf("%d KiB", perPair>>10), fmt.Sprintf("%d KiB", limit>>10))
	}
}
