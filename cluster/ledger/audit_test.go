package ledger

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func TestAuditRecordsGrantsDenialsEndsAndAdminChanges(t *testing.T) {
	f := newFixture(t, 1, 2)
	f.must(t, Command{Type: CmdSetPool, Actor: "admin-token:alice", RequestID: "r-pool", Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 1}})
	g := f.checkout("d1")
	if g.Error != nil {
		t.Fatal(g.Error)
	}
	wantCode(t, f.checkout("d2"), protocol.CodeNoSeat)
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: g.Lease.ID}})
	// A heartbeat that ends nothing is not audited.
	g2 := f.checkout("d2")
	f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d2", Leases: []uint64{g2.Lease.ID}}})
	// A replayed request is not audited twice.
	f.apply(Command{Type: CmdSetPool, Actor: "admin-token:alice", RequestID: "r-pool", Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 1}})

	recs, more := f.s.Audit(AuditFilter{Account: "acme"})
	if more {
		t.Fatal("more without a limit")
	}
	var types []CommandType
	for _, r := range recs {
		types = append(types, r.Type)
	}
	want := []CommandType{CmdCreateAccount, CmdSetPool, CmdCreateEnrollToken, CmdEnrollDevice, CmdEnrollDevice, CmdSetPool, CmdCheckout, CmdCheckout, CmdRelease, CmdCheckout}
	if len(types) != len(want) {
		t.Fatalf("audited %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("audited %v, want %v", types, want)
		}
	}
	if r := recs[5]; r.Actor != "admin-token:alice" || r.RequestID != "r-pool" || r.Outcome != OutcomeOK {
		t.Fatalf("admin record %+v", r)
	}
	if r := recs[6]; r.Lease != g.Lease.ID || r.Actor != "device:acme/d1" || r.Feature != "cad" {
		t.Fatalf("grant record %+v", r)
	}
	if r := recs[7]; r.Outcome != OutcomeDenied || r.Code != string(protocol.CodeNoSeat) {
		t.Fatalf("denial record %+v", r)
	}
	if r := recs[8]; len(r.Ended) != 1 || r.Ended[0].ID != g.Lease.ID {
		t.Fatalf("release record %+v", r)
	}
	// Filters and paging.
	den, _ := f.s.Audit(AuditFilter{Type: CmdCheckout, Actor: "device:acme/d2"})
	if len(den) != 2 {
		t.Fatalf("d2's checkouts: %+v", den)
	}
	page, more := f.s.Audit(AuditFilter{Limit: 3})
	if len(page) != 3 || !more {
		t.Fatalf("page of 3: %d more=%v", len(page), more)
	}
	next, _ := f.s.Audit(AuditFilter{After: page[2].Seq, Limit: 1})
	if len(next) != 1 || next[0].Seq != page[2].Seq+1 {
		t.Fatalf("next page %+v", next)
	}
	if none, _ := f.s.Audit(AuditFilter{Account: "other"}); len(none) != 0 {
		t.Fatalf("other account sees %+v", none)
	}
}

// A reclaim ending leases of two accounts shows each account only its own.
func TestAuditReclaimAcrossAccountsIsSplit(t *testing.T) {
	f := newFixture(t, 1, 1)
	f.must(t, Command{Type: CmdCreateAccount, Payload: &CreateAccount{ID: "beta"}})
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "beta", Feature: "cad", Seats: 1}})
	f.must(t, Command{Type: CmdCreateEnrollToken, Payload: &EnrollToken{ID: "et2", Account: "beta", Hash: "h", Expires: t0.Add(time.Hour)}})
	f.must(t, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "beta", TokenID: "et2", Code: "b1", KeyFingerprint: "fpb"}})
	a := f.checkout("d1")
	b := f.must(t, Command{Type: CmdCheckout, Payload: &Checkout{Account: "beta", Device: "b1", Feature: "cad"}})
	f.now = f.now.Add(time.Minute)
	r := f.must(t, Command{Type: CmdReclaim, Payload: &Reclaim{Leases: []uint64{a.Lease.ID, b.Lease.ID}}})
	if len(r.Ended) != 2 {
		t.Fatalf("reclaim ended %+v", r.Ended)
	}
	recs, _ := f.s.Audit(AuditFilter{Account: "beta", Type: CmdReclaim})
	if len(recs) != 1 || len(recs[0].Ended) != 1 || recs[0].Ended[0].Account != "beta" || recs[0].Summary != "reclaim 1 expired lease(s)" {
		t.Fatalf("beta's reclaim record %+v", recs)
	}
	all, _ := f.s.Audit(AuditFilter{Type: CmdReclaim})
	if len(all) != 1 || len(all[0].Ended) != 2 {
		t.Fatalf("cluster-wide reclaim record %+v", all)
	}
}

func TestAuditRetentionPrunesByCommandTime(t *testing.T) {
	f := newFixture(t, 1, 1)
	st := f.s.Settings()
	st.AuditRetention = time.Hour
	f.must(t, Command{Type: CmdSetSettings, Payload: &st})
	before, _ := f.s.Audit(AuditFilter{})
	f.now = f.now.Add(2 * time.Hour)
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 2}})
	after, _ := f.s.Audit(AuditFilter{})
	if len(after) != 1 || after[0].Type != CmdSetPool || after[0].Seq <= before[len(before)-1].Seq {
		t.Fatalf("after pruning: %+v", after)
	}
}

func TestAuditInSnapshotAndUsageReport(t *testing.T) {
	f := newFixture(t, 2, 2)
	start := f.now
	g1 := f.checkout("d1")
	f.now = f.now.Add(12 * time.Hour)
	g2 := f.checkout("d2")
	f.now = f.now.Add(12 * time.Hour)
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: g1.Lease.ID}})
	// d2 keeps renewing; it is still active at the end.
	f.now = f.now.Add(6 * time.Hour)
	f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d2", Leases: []uint64{g2.Lease.ID}}})

	rep := f.s.UsageReport("acme", start, start.Add(48*time.Hour))
	// d1: 24h, d2: 18h so far = 1.75 seat-days.
	if len(rep) != 1 || math.Abs(rep[0].SeatDays-1.75) > 1e-9 || rep[0].Leases != 2 || rep[0].PeakSeats != 2 {
		t.Fatalf("usage %+v", rep)
	}
	// A window over the second half only.
	rep = f.s.UsageReport("", start.Add(12*time.Hour), start.Add(24*time.Hour))
	if len(rep) != 1 || math.Abs(rep[0].SeatDays-1.0) > 1e-9 {
		t.Fatalf("windowed usage %+v", rep)
	}

	var buf bytes.Buffer
	if err := f.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	n := New()
	if err := n.ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, n), buf.Bytes()) {
		t.Fatal("restored snapshot differs")
	}
	a, _ := f.s.Audit(AuditFilter{})
	b, _ := n.Audit(AuditFilter{})
	if len(a) == 0 || len(a) != len(b) || a[len(a)-1].Seq != b[len(b)-1].Seq {
		t.Fatalf("audit after restore: %d vs %d records", len(a), len(b))
	}
	// The sequence continues after restore.
	n.Apply(1000, &Command{Type: CmdSetPool, Now: f.now, Payload: &SetPool{Account: "acme", Feature: "x", Seats: 1}})
	c, _ := n.Audit(AuditFilter{After: b[len(b)-1].Seq})
	if len(c) != 1 || c[0].Seq != b[len(b)-1].Seq+1 {
		t.Fatalf("after restore: %+v", c)
	}
}

func TestDailyPeaks(t *testing.T) {
	f := newFixture(t, 2, 2)
	day0 := f.now.UTC().Truncate(24 * time.Hour)
	f.now = day0.Add(25 * time.Hour) // day 1, 01:00
	g1 := f.checkout("d1")
	f.now = f.now.Add(time.Hour)
	f.checkout("d2")
	f.now = f.now.Add(time.Hour)
	f.must(t, Command{Type: CmdRelease, Payload: &Release{Account: "acme", Device: "d1", LeaseID: g1.Lease.ID}})
	f.now = day0.Add(53 * time.Hour) // day 2: d2 still holds its seat
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 2}})

	got := f.s.DailyPeaks("acme", day0, 5)
	want := []DayPeak{{day0.Format(time.DateOnly), 0}, {day0.AddDate(0, 0, 1).Format(time.DateOnly), 2}, {day0.AddDate(0, 0, 2).Format(time.DateOnly), 1}}
	if len(got) != len(want) {
		t.Fatalf("peaks %+v, want %+v (days after the ledger's time left out)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peaks %+v, want %+v", got, want)
		}
	}
	if other := f.s.DailyPeaks("other", day0, 3); len(other) != 3 || other[1].Peak != 0 {
		t.Fatalf("another account's peaks: %+v", other)
	}
}
