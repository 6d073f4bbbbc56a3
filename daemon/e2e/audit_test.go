package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// rawGet fetches an admin API path and returns the status and body as is.
func (s *server) rawGet(path string) (int, string) {
	s.t.Helper()
	return s.do(s.token, http.MethodGet, path, "")
}

func ndjsonRecords(t *testing.T, out string) []ledger.AuditRecord {
	t.Helper()
	var recs []ledger.AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r ledger.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestAuditAndUsageReport drives grants, a denial, a release, a revocation
// and its reclaim through real agents and reads them back through tallyctl
// audit (also --follow), the CSV export and the usage report.
func TestAuditAndUsageReport(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	s.setupAccount("other", "cad", 1)
	a1, a2 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok)

	follow := startProc(t, "tallyctl audit --follow", s.env(), bin("tallyctl"), "audit", "--follow", "--json", "--account", "acme", "--interval", "200ms")

	a1.mustCheckout("cad")
	if r := a2.checkout("cad"); r.code == 0 {
		t.Fatal("second checkout of a one-seat pool succeeded")
	}
	if r := a1.cli("release", "cad"); r.code != 0 {
		t.Fatalf("release: %s", r.stderr)
	}
	a2.mustCheckout("cad")
	ls := s.leases()
	if len(ls) != 1 {
		t.Fatalf("leases %+v", ls)
	}
	s.mustCtl("revoke", fmt.Sprint(ls[0].ID))

	var recs []ledger.AuditRecord
	eventually(t, 30*time.Second, "the revoked lease is reclaimed and audited", func() error {
		recs = ndjsonRecords(t, s.mustCtl("audit", "--json", "--account", "acme"))
		for _, r := range recs {
			if r.Type == ledger.CmdReclaim && len(r.Ended) == 1 && r.Ended[0].ID == ls[0].ID {
				return nil
			}
		}
		return fmt.Errorf("no reclaim of lease %d yet", ls[0].ID)
	})
	count := map[string]int{}
	for _, r := range recs {
		count[string(r.Type)+"/"+r.Outcome]++
		if r.Account != "acme" {
			t.Fatalf("account filter let through %+v", r)
		}
		switch r.Type {
		case ledger.CmdSetPool, ledger.CmdRevoke, ledger.CmdCreateAccount:
			if !strings.HasPrefix(r.Actor, "admin-token:") {
				t.Fatalf("administrative record without the admin token as actor: %+v", r)
			}
		case ledger.CmdCheckout, ledger.CmdRelease:
			if !strings.HasPrefix(r.Actor, "device:acme/") {
				t.Fatalf("device record with actor %q", r.Actor)
			}
		}
	}
	for k, want := range map[string]int{"create_account/ok": 1, "set_pool/ok": 1, "checkout/ok": 2, "checkout/denied": 1, "release/ok": 1, "revoke/ok": 1, "reclaim/ok": 1} {
		if count[k] != want {
			t.Fatalf("%s: %d records, want %d (all: %v)", k, count[k], want, count)
		}
	}
	for _, r := range recs {
		if r.Outcome == ledger.OutcomeDenied && r.Code != "no_seat" {
			t.Fatalf("denial with code %q", r.Code)
		}
	}

	// --follow printed the same records as they came.
	eventually(t, 10*time.Second, "tallyctl audit --follow shows the reclaim", func() error {
		got := ndjsonRecords(t, follow.out.String())
		if len(got) != len(recs) || got[len(got)-1].Seq != recs[len(recs)-1].Seq {
			return fmt.Errorf("follow printed %d records, want %d", len(got), len(recs))
		}
		return nil
	})

	// Paging: pages of 2 cover the same records without overlap.
	var paged []ledger.AuditRecord
	for after := uint64(0); ; {
		var p adminapi.AuditPage
		if err := s.api(http.MethodGet, fmt.Sprintf("/v1/audit?account=acme&limit=2&after=%d", after), nil, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Records) > 2 {
			t.Fatalf("page of %d records with limit=2", len(p.Records))
		}
		paged = append(paged, p.Records...)
		after = p.Next
		if !p.More {
			break
		}
	}
	if len(paged) != len(recs) {
		t.Fatalf("paging returned %d records, want %d", len(paged), len(recs))
	}

	// CSV and NDJSON exports.
	code, body := s.rawGet("/v1/audit?account=acme&format=csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != len(recs)+1 || rows[0][0] != "seq" {
		t.Fatalf("CSV export: %d %v, %d rows", code, err, len(rows))
	}
	code, body = s.rawGet("/v1/audit?account=acme&format=ndjson")
	if code != 200 || len(ndjsonRecords(t, body)) != len(recs) {
		t.Fatalf("NDJSON export: %d\n%s", code, body)
	}
	// The other account's log holds none of acme's lease events.
	for _, r := range ndjsonRecords(t, s.mustCtl("audit", "--json", "--account", "other")) {
		if r.Type == ledger.CmdCheckout || r.Type == ledger.CmdReclaim || r.Type == ledger.CmdRevoke {
			t.Fatalf("other account's log shows %+v", r)
		}
	}
	// Bad filters are refused with the parameter named.
	if r := s.ctl("audit", "--since", "yesterday"); r.code == 0 || !strings.Contains(r.stderr, "since") {
		t.Fatalf("bad --since: exit %d: %s", r.code, r.stderr)
	}
	if code, body := s.rawGet("/v1/audit?limit=0"); code != 400 || !strings.Contains(body, "limit") {
		t.Fatalf("limit=0: %d %s", code, body)
	}

	// Usage: two leases held the one seat one after the other.
	day := time.Now().UTC()
	var rep adminapi.UsageReport
	mustJSON(t, s.mustCtl("report", "usage", "--json", "--from", day.AddDate(0, 0, -1).Format(time.DateOnly), "--to", day.AddDate(0, 0, 2).Format(time.DateOnly)), &rep)
	var acme *ledger.PoolSeatDays
	for i := range rep.Pools {
		if rep.Pools[i].Account == "acme" {
			acme = &rep.Pools[i]
		}
	}
	if acme == nil || acme.Leases != 2 || acme.PeakSeats != 1 || acme.SeatDays <= 0 || acme.SeatDays > 0.01 {
		t.Fatalf("usage report %+v", rep.Pools)
	}
	if out := s.mustCtl("report", "usage", "--from", "2026-01-01", "--to", "2099-01-01"); !strings.Contains(out, "acme") {
		t.Fatalf("usage table:\n%s", out)
	}
	if r := s.ctl("report", "usage", "--from", "2026-02-01", "--to", "2026-01-01"); r.code == 0 || !strings.Contains(r.stderr, "after") {
		t.Fatalf("reversed period: exit %d: %s", r.code, r.stderr)
	}
}
