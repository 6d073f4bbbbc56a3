package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// TestImportByDisplayNameSemicolonsAndBOM imports the kind of file a phone
// system's documentation shows, through tallyctl and a real node: a UTF-8
// byte-order mark, ';' between fields, and people's names in the User
// column. A name one member has resolves to that member; a name two members
// share is refused, naming both; the refusal counts rows, not errors.
func TestImportByDisplayNameSemicolonsAndBOM(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "phone", 5)
	s.addMembers("acme", "ann@acme.test", "spare1@acme.test", "spare2@acme.test", "spare3@acme.test")
	s.mustCtl("users", "delete", "acme", "spare1@acme.test")
	s.mustCtl("users", "delete", "acme", "spare2@acme.test")
	s.mustCtl("users", "delete", "acme", "spare3@acme.test")
	s.mustCtl("users", "add", "acme", "john.smith@acme.test", "--name", "John Smith")
	s.mustCtl("users", "add", "acme", "jo.a@acme.test", "--name", "Jo")
	s.mustCtl("users", "add", "acme", "jo.b@acme.test", "--name", "jo")
	s.mustCtl("products", "set", "acme", "phone_system", "3", "--extension")
	s.mustCtl("products", "set", "acme", "call_recording", "3", "--addon")

	file := filepath.Join(t.TempDir(), "phones.csv")
	write := func(body string) {
		if err := os.WriteFile(file, []byte("\ufeff"+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Line 3 names two members; line 4 has two errors (unknown user and
	// unknown add-on) but is one invalid row.
	write("Ext Key;Number;User;Addon license 1\n" +
		"101;+15550100101;john smith;call_recording\n" +
		"102;+15550100102;Jo;\n" +
		"103;+15550100103;Nobody;fax_machine\n")
	r := s.ctl("import", "assignments", "acme", file)
	if r.code != 1 {
		t.Fatalf("import with an ambiguous name: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"2 of 3 rows are invalid",
		`line 3: "Jo" is the display name of 2 members (jo.a@acme.test, jo.b@acme.test)`,
		"line 4: unknown user Nobody",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "line 2") {
		t.Errorf("line 2 names one member by display name and should pass:\n%s", r.stderr)
	}

	write("Ext Key;Number;User;Addon license 1\n" +
		"101;+15550100101;john smith;call_recording\n" +
		"102;+15550100102;ann@acme.test;\n")
	if out := s.mustCtl("import", "assignments", "acme", file); !strings.Contains(out, "applied 2 rows to acme/phone_system: 2 assigned") {
		t.Fatalf("import: %s", out)
	}
	var john []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "acme", "--type", "phone_system", "--user", "john.smith@acme.test", "--json"), &john)
	if len(john) != 1 || john[0].ExtKey != "101" || len(john[0].AddOnCodes) != 1 {
		t.Fatalf("John Smith's license (named by display name, ';' file with a BOM): %+v", john)
	}
}
