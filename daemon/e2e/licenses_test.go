package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// TestLicensesImportAndAddOnClaims walks the administrator's side of named
// licenses with real tallyd, tallyctl and tally-agent processes: a product
// catalogue, a CSV import refused for a broken row (nothing applied, the
// line named), the fixed file applied, search, export round trip, a real
// agent checkout whose token carries the user's add-ons, and termination
// by UUID.
func TestLicensesImportAndAddOnClaims(t *testing.T) {
	s := startServer(t)
	enroll := s.setupAccount("acme", "phone", 5)
	s.addMembers("acme", "ann@acme.test", "bob@acme.test", "cid@acme.test", "dan@acme.test", "x@acme.test")
	s.mustCtl("products", "set", "acme", "phone_system", "3", "--name", "Phone System", "--feature", "phone", "--extension")
	s.mustCtl("products", "set", "acme", "call_recording", "2", "--addon")
	s.mustCtl("products", "set", "acme", "team_chat", "3", "--addon")

	sample := s.mustCtl("import", "sample")
	if !strings.HasPrefix(sample, "Ext Key,Number,User,Addon license 1") {
		t.Fatalf("sample:\n%s", sample)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "assignments.csv")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Ext Key,Number,User,Addon license 1,Addon license 2\n" +
		"101,+1 555 010 0101,ann@acme.test,call_recording,team_chat\n" +
		"102,+15550100102,bob@acme.test,fax_machine\n" + // line 3: unknown add-on
		"103,555-CALL,cid@acme.test,team_chat\n") // line 4: malformed number
	r := s.ctl("import", "assignments", "acme", file)
	if r.code != 1 || !strings.Contains(r.stderr, "line 3: unknown add-on code \"fax_machine\"") || !strings.Contains(r.stderr, "line 4: malformed number") || !strings.Contains(r.stderr, "nothing was applied") {
		t.Fatalf("broken import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var assigned []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "acme", "--status", "assigned", "--json"), &assigned)
	if len(assigned) != 0 {
		t.Fatalf("a refused import assigned %d licenses", len(assigned))
	}

	write("Ext Key,Number,User,Addon license 1,Addon license 2\n" +
		"101,+1 555 010 0101,ann@acme.test,call_recording,team_chat\n" +
		"102,+15550100102,bob@acme.test,call_recording\n" +
		"103,+15550100103,cid@acme.test,team_chat\n")
	var rep ledger.ImportReport
	mustJSON(t, s.mustCtl("import", "assignments", "acme", file, "--dry-run", "--json"), &rep)
	if rep.Applied || rep.Created != 3 {
		t.Fatalf("dry run: %+v", rep)
	}
	if out := s.mustCtl("import", "assignments", "acme", file); !strings.Contains(out, "applied 3 rows to acme/phone_system: 3 assigned") {
		t.Fatalf("import: %s", out)
	}

	// Search by type, user and extension number.
	var ann []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "acme", "--type", "phone_system", "--user", "ann@acme.test", "--json"), &ann)
	if len(ann) != 1 || ann[0].ExtKey != "101" || ann[0].Number != "+15550100101" || !reflect.DeepEqual(ann[0].AddOnCodes, []string{"call_recording", "team_chat"}) {
		t.Fatalf("ann's license: %+v", ann)
	}
	var byExt []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--type", "phone_system", "--ext", "+15550100103", "--json"), &byExt)
	if len(byExt) != 1 || byExt[0].User != "cid@acme.test" {
		t.Fatalf("by number: %+v", byExt)
	}
	if out := s.mustCtl("licenses", "list", "--account", "acme", "--ext", "102"); !strings.Contains(out, "bob@acme.test") {
		t.Fatalf("table by extension:\n%s", out)
	}

	// Export, then importing the export changes nothing.
	exported := filepath.Join(dir, "export.csv")
	s.mustCtl("export", "assignments", "acme", "-o", exported)
	mustJSON(t, s.mustCtl("import", "assignments", "acme", exported, "--dry-run", "--json"), &rep)
	if rep.Unchanged != 3 || rep.Created+rep.Updated != 0 || len(rep.Errors) != 0 {
		t.Fatalf("re-import of the export: %+v", rep)
	}

	// Ann signs in on a real agent and checks the feature out: the token
	// carries her license's add-on codes.
	s.mustCtl("users", "set-password", "acme", "ann@acme.test", "--password", passwordOf("ann@acme.test"))
	ag := startAgent(t, s, "agent1", enroll)
	ag.mustLogin(nil, "ann@acme.test", passwordOf("ann@acme.test"))
	r = ag.checkout("phone")
	if r.code != 0 {
		t.Fatalf("checkout: %s", r.stderr)
	}
	c := claimsOf(t, strings.TrimSpace(r.stdout))
	if c.User != "ann@acme.test" || !reflect.DeepEqual(c.AddOns, ann[0].AddOnCodes) {
		t.Fatalf("token claims: user %q add-ons %v, want ann's %v", c.User, c.AddOns, ann[0].AddOnCodes)
	}
	if l, ok := leaseByID(s.leases(), c.LeaseID); !ok || l.License != ann[0].ID || !reflect.DeepEqual(l.AddOns, c.AddOns) {
		t.Fatalf("the lease as administrators see it: %+v", l)
	}

	// Terminate Ann's call_recording add-on by UUID: it leaves her license
	// and the purchased count.
	rec := ann[0].AddOns[0]
	if r := s.ctl("licenses", "terminate", rec); r.code == 0 || !strings.Contains(r.stderr, "confirmation_required") || !strings.Contains(r.stderr, "ann@acme.test") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("terminate an assigned add-on without --force: exit %d %s", r.code, r.stderr)
	}
	if out := s.mustCtl("licenses", "terminate", rec, "--force"); !strings.Contains(out, "terminated call_recording license "+rec) {
		t.Fatalf("terminate: %s", out)
	}
	var products []ledger.ProductUsage
	mustJSON(t, s.mustCtl("products", "list", "acme", "--json"), &products)
	for _, p := range products {
		if p.Code == "call_recording" && (p.Quantity != 1 || p.Assigned != 1) {
			t.Fatalf("call_recording after termination: %+v", p)
		}
	}
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "acme", "--type", "phone_system", "--user", "ann@acme.test", "--json"), &ann)
	if !reflect.DeepEqual(ann[0].AddOnCodes, []string{"team_chat"}) {
		t.Fatalf("ann's add-ons after termination: %v", ann[0].AddOnCodes)
	}
	if r := s.ctl("licenses", "terminate", rec); r.code == 0 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("terminating twice: exit %d %s", r.code, r.stderr)
	}

	// Single-license operations through tallyctl.
	bob := ledger.LicenseView{}
	mustJSON(t, s.mustCtl("licenses", "list", "--type", "phone_system", "--user", "bob@acme.test", "--json"), &[]*ledger.LicenseView{&bob})
	s.mustCtl("licenses", "reassign", bob.ID, "dan@acme.test")
	s.mustCtl("licenses", "attach", bob.ID, "team_chat")
	s.mustCtl("licenses", "detach", bob.ID, "call_recording")
	s.mustCtl("licenses", "set-extension", bob.ID, "104", "--number", "+15550100104")
	var dan ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "show", bob.ID, "--json"), &dan)
	if dan.User != "dan@acme.test" || dan.ExtKey != "104" || !reflect.DeepEqual(dan.AddOnCodes, []string{"team_chat"}) {
		t.Fatalf("after reassign/attach/detach/set-extension: %+v", dan)
	}
	if r := s.ctl("licenses", "set-extension", bob.ID, "103"); r.code == 0 || !strings.Contains(r.stderr, "extension 103 is already assigned to cid@acme.test") {
		t.Fatalf("duplicate extension: exit %d %s", r.code, r.stderr)
	}
	s.mustCtl("licenses", "unassign", bob.ID)
	if r := s.ctl("products", "set", "acme", "phone_system", "1"); r.code == 0 || !strings.Contains(r.stderr, "2 of 3 are assigned") {
		t.Fatalf("lowering below assigned: exit %d %s", r.code, r.stderr)
	}

	// Bad requests to the admin API name the problem and change nothing.
	before := s.mustCtl("licenses", "list", "--account", "acme", "--json")
	for _, tc := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"GET", "/v1/accounts/nope/licenses", nil, "unknown_account"},
		{"GET", "/v1/accounts/acme/licenses?status=lost", nil, "invalid_argument"},
		{"GET", "/v1/licenses/00000000-0000-4000-8000-000000000000", nil, "not_found"},
		{"POST", "/v1/licenses/00000000-0000-4000-8000-000000000000/terminate", nil, "not_found"},
		{"POST", "/v1/accounts/acme/licenses/assign", map[string]any{"product": "phone_system", "user": "x@acme.test", "ext_key": "101"}, "already_exists"},
		{"POST", "/v1/accounts/acme/licenses/assign", map[string]any{"product": "nope", "user": "x@acme.test"}, "not_found"},
		{"PUT", "/v1/accounts/acme/products/team_chat", map[string]any{"quantity": -1}, "invalid_argument"},
		{"POST", "/v1/accounts/acme/assignments/import", map[string]any{"rows": "not rows"}, "bad_request"},
		{"POST", "/v1/accounts/acme/assignments/import", map[string]any{"product": "team_chat", "rows": []any{}}, "invalid_argument"},
		{"GET", "/v1/accounts/acme/assignments?product=nope", nil, ""},
	} {
		err := s.api(tc.method, tc.path, tc.body, nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tc.method, tc.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: got %v, want %s", tc.method, tc.path, err, tc.want)
		}
	}
	if after := s.mustCtl("licenses", "list", "--account", "acme", "--json"); after != before {
		t.Fatal("refused admin calls changed the licenses")
	}
}

// TestImport10kRowsThroughTallyctl sends a 10,000-row file through tallyctl
// and the admin API into one Raft entry.
func TestImport10kRowsThroughTallyctl(t *testing.T) {
	if testing.Short() {
		t.Skip("10k-row import in -short mode")
	}
	s := startServer(t)
	s.mustCtl("accounts", "create", "big")
	s.addMembers("big", bigUsers()...)
	s.mustCtl("products", "set", "big", "phone_system", "10000", "--extension")
	s.mustCtl("products", "set", "big", "team_chat", "10000", "--addon")
	var b strings.Builder
	b.WriteString("Ext Key,Number,User,Addon license 1\n")
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&b, "%d,+1555%07d,user%d@big.test,team_chat\n", 10000+i, i, i)
	}
	file := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var rep ledger.ImportReport
	mustJSON(t, s.mustCtl("import", "assignments", "big", file, "--json"), &rep)
	if !rep.Applied || rep.Created != 10_000 {
		t.Fatalf("10k import: %+v", rep)
	}
	var free []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "big", "--type", "phone_system", "--status", "free", "--json"), &free)
	if len(free) != 0 {
		t.Fatalf("%d licenses still free", len(free))
	}
	out := s.mustCtl("export", "assignments", "big")
	if n := strings.Count(out, "\n"); n != 10_001 {
		t.Fatalf("export has %d lines", n)
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// TestImport10kRowsThroughFollower: a follower forwards the 10k-row import
// (about 1 MB) to the leader as one command, and every node applies it.
func TestImport10kRowsThroughFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("10k-row import through a cluster in -short mode")
	}
	nodes := startCluster(t, 3)
	f := nodes[2]
	f.mustCtl("accounts", "create", "big")
	f.addMembers("big", bigUsers()...)
	f.mustCtl("products", "set", "big", "phone_system", "10000", "--extension")
	var b strings.Builder
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&b, "%d,+1555%07d,user%d@big.test\n", 10000+i, i, i)
	}
	file := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var rep ledger.ImportReport
	mustJSON(t, f.mustCtl("import", "assignments", "big", file, "--json"), &rep)
	if !rep.Applied || rep.Created != 10_000 {
		t.Fatalf("10k import through a follower: %+v", rep)
	}
	for _, s := range nodes {
		eventually(t, 20*time.Second, s.adminAddr+" applies the import", func() error {
			var ls []ledger.LicenseView
			if err := json.Unmarshal([]byte(s.mustCtl("licenses", "list", "--account", "big", "--ext", "19999", "--json")), &ls); err != nil {
				return err
			}
			if len(ls) != 1 || ls[0].User != "user9999@big.test" {
				return fmt.Errorf("extension 19999: %+v", ls)
			}
			return nil
		})
	}
}
