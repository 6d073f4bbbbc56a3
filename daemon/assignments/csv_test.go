package assignments

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// account builds a ledger with account "acme": base licenses phone_system
// (extension-based), add-ons call_recording, device_mobile_app,
// device_desktop_app and team_chat.
func account(t testing.TB, base, addons int) (*ledger.State, func(ledger.Command) ledger.Result) {
	s := ledger.New()
	var idx uint64
	apply := func(c ledger.Command) ledger.Result {
		idx++
		c.Now = t0
		return s.Apply(idx, &c)
	}
	must := func(c ledger.Command) {
		t.Helper()
		if r := apply(c); r.Error != nil {
			t.Fatalf("%s: %v", c.Type, r.Error)
		}
	}
	must(ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme"}})
	must(ledger.Command{Type: ledger.CmdSetProduct, Payload: &ledger.SetProduct{Account: "acme", Code: "phone_system", Name: "Phone System", Extension: true, Quantity: base, Seed: "b"}})
	for _, c := range []string{"call_recording", "device_mobile_app", "device_desktop_app", "team_chat"} {
		must(ledger.Command{Type: ledger.CmdSetProduct, Payload: &ledger.SetProduct{Account: "acme", Code: c, Kind: ledger.ProductAddOn, Quantity: addons, Seed: c}})
	}
	// Licenses go to members only: the users these tests name.
	users := []string{"ann@example.com", "bob@example.com"}
	for _, n := range strings.Fields("a b c d ann bob cid dan eve fay gus hal ida old") {
		users = append(users, n+"@acme.test")
	}
	for i := 0; i < 10_000; i++ {
		users = append(users, fmt.Sprintf("user%d@acme.test", i))
	}
	must(ledger.Command{Type: ledger.CmdSetSeats, Payload: &ledger.SetSeats{Account: "acme", Seats: len(users)}})
	must(ledger.Command{Type: ledger.CmdAddUsers, Payload: &ledger.AddUsers{Account: "acme", Emails: users}})
	return s, apply
}

func TestSampleParsesAndImports(t *testing.T) {
	rows, bad, err := Parse(bytes.NewReader(Sample()), nil)
	if err != nil || len(bad) != 0 || len(rows) != 2 {
		t.Fatalf("sample: %v %v %+v", err, bad, rows)
	}
	if rows[0].Line != 2 || rows[0].User != "ann@example.com" || !reflect.DeepEqual(rows[0].AddOns, []string{"call_recording", "device_mobile_app", "team_chat"}) {
		t.Fatalf("first sample row: %+v", rows[0])
	}
	s, _ := account(t, 2, 2)
	rep, perr := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows})
	if perr != nil || len(rep.Errors) != 0 || rep.Created != 2 {
		t.Fatalf("the sample should import into a fresh account: %+v %v", rep, perr)
	}
}

func TestParseLinesHeaderAndMalformedRows(t *testing.T) {
	in := "Ext Key,Number,User,Addon license 1\n" +
		"101,+15550101,ann@acme.test,team_chat\n" +
		"\n" +
		"102,+15550102\n" + // line 4: too few columns
		"103,\"+1 555 0103\",\"cid@acme.test\",,call_recording,\n" +
		",,,\n"
	rows, bad, err := Parse(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Line != 4 || bad[0].Kind != ledger.RowMalformed {
		t.Fatalf("malformed rows: %+v", bad)
	}
	want := []ledger.AssignmentRow{
		{Line: 2, ExtKey: "101", Number: "+15550101", User: "ann@acme.test", AddOns: []string{"team_chat"}},
		{Line: 5, ExtKey: "103", Number: "+1 555 0103", User: "cid@acme.test", AddOns: []string{"call_recording"}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows:\n got %+v\nwant %+v", rows, want)
	}
	// Without a header the first row is data.
	rows, _, _ = Parse(strings.NewReader("101,,ann@acme.test\n"), nil)
	if len(rows) != 1 || rows[0].Line != 1 {
		t.Fatalf("headerless: %+v", rows)
	}
	// A file that is not CSV names the line where it breaks.
	_, _, err = Parse(strings.NewReader("Ext Key,Number,User\n101,,ann@acme.test\n102,\"unclosed,bob@acme.test\n"), nil)
	var pe *ParseError
	if err == nil || !asParseError(err, &pe) || pe.Line != 3 {
		t.Fatalf("want a parse error at line 3, got %v", err)
	}
}

func asParseError(err error, pe **ParseError) bool {
	p, ok := err.(*ParseError)
	*pe = p
	return ok
}

// TestValidationErrorsNameLines runs a sample-like file with one broken row
// of every kind through Parse and the ledger's validation.
func TestValidationErrorsNameLines(t *testing.T) {
	s, apply := account(t, 4, 1)
	if r := apply(ledger.Command{Type: ledger.CmdAssignLicense, Payload: &ledger.AssignLicense{Account: "acme", Product: "phone_system", User: "old@acme.test", ExtKey: "900", Number: "+15550900"}}); r.Error != nil {
		t.Fatal(r.Error)
	}
	file := `Ext Key,Number,User,Addon license 1,Addon license 2
101,+15550101,ann@acme.test,call_recording,team_chat
102,+15550102,not-a-user
103,+15550103,bob@acme.test,fax_machine
101,+15550104,cid@acme.test
104,+15550101,dan@acme.test
105,555-CALL,eve@acme.test
900,,fay@acme.test
106,,gus@acme.test,call_recording
107,,hal@acme.test
108,,ida@acme.test
109
`
	rows, bad, err := Parse(strings.NewReader(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, perr := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows})
	if perr != nil {
		t.Fatal(perr)
	}
	all := append(bad, rep.Errors...)
	got := map[int]string{}
	for _, e := range all {
		got[e.Line] = e.Kind
	}
	want := map[int]string{
		3:  ledger.RowUnknownUser,
		4:  ledger.RowUnknownAddOn,
		5:  ledger.RowDuplicateExt,
		6:  ledger.RowDuplicateNumber,
		7:  ledger.RowMalformedNumber,
		8:  ledger.RowDuplicateExt,
		9:  ledger.RowNoSeat, // the one call_recording goes to line 2
		12: ledger.RowMalformed,
	}
	// Lines 10 and 11 are fine: with old@ holding one of the four licenses,
	// lines 2, 10 and 11 take the other three.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors by line:\n got %v\nwant %v\n%v", got, want, all)
	}
	msg := ledger.ImportError(ledger.ImportReport{Rows: len(rows), Errors: rep.Errors}).Message
	for _, l := range []string{"line 3: unknown user not-a-user", "line 5: extension 101 is also on line 2", "line 8: extension 900 is already assigned to old@acme.test"} {
		if !strings.Contains(msg, l) {
			t.Errorf("error message lacks %q:\n%s", l, msg)
		}
	}
}

func TestMoreAssignmentsThanSeats(t *testing.T) {
	s, _ := account(t, 2, 0)
	rows, _, _ := Parse(strings.NewReader("1,,a@acme.test\n2,,b@acme.test\n3,,c@acme.test\n4,,d@acme.test\n"), nil)
	rep, _ := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows})
	if len(rep.Errors) != 2 || rep.Errors[0].Line != 3 || rep.Errors[1].Line != 4 || rep.Errors[0].Kind != ledger.RowNoSeat {
		t.Fatalf("seats: %+v", rep.Errors)
	}
	if !strings.Contains(rep.Errors[0].Reason, "2 purchased") {
		t.Fatalf("the reason should give the purchased count: %s", rep.Errors[0].Reason)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	s, apply := account(t, 3, 3)
	rows, _, _ := Parse(strings.NewReader("101,+1 555 0101,ann@acme.test,team_chat,call_recording\n102,,bob@acme.test\n103,5550103,cid@acme.test,device_mobile_app\n"), nil)
	if r := apply(ledger.Command{Type: ledger.CmdImportAssignments, Payload: &ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows}}); r.Error != nil {
		t.Fatal(r.Error)
	}
	var out bytes.Buffer
	if err := Write(&out, s.Assignments("acme", "phone_system")); err != nil {
		t.Fatal(err)
	}
	wantCSV := "Ext Key,Number,User,Addon license 1,Addon license 2\n" +
		"101,+15550101,ann@acme.test,call_recording,team_chat\n" +
		"102,,bob@acme.test,,\n" +
		"103,5550103,cid@acme.test,device_mobile_app,\n"
	if out.String() != wantCSV {
		t.Fatalf("export:\n%s\nwant:\n%s", out.String(), wantCSV)
	}
	back, bad, err := Parse(&out, nil)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	rep, perr := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: back})
	if perr != nil || rep.Unchanged != 3 || rep.Created != 0 || rep.Updated != 0 || len(rep.Errors) != 0 {
		t.Fatalf("re-importing the export should change nothing: %+v %v", rep, perr)
	}
}

// bigCSV is an n-row file with add-ons in up to three columns.
func bigCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Ext Key,Number,User,Addon license 1,Addon license 2,Addon license 3\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d,+1555%07d,user%d@acme.test", 10000+i, i, i)
		if i%2 == 0 {
			b.WriteString(",call_recording")
		}
		if i%3 == 0 {
			b.WriteString(",team_chat")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func TestImport10kRowFile(t *testing.T) {
	file := bigCSV(10_000)
	var calls int
	rows, bad, err := Parse(bytes.NewReader(file), func(int) { calls++ })
	if err != nil || len(bad) != 0 || len(rows) != 10_000 {
		t.Fatalf("parse: %v %v %d", err, bad, len(rows))
	}
	if calls < 10 {
		t.Fatalf("progress was reported %d times for 10k rows", calls)
	}
	if rows[9999].Line != 10_001 {
		t.Fatalf("last row's line: %d", rows[9999].Line)
	}
	s, apply := account(t, 10_000, 10_000)
	cmd := ledger.Command{Type: ledger.CmdImportAssignments, Payload: &ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows}}
	enc, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a 10k-row import is a %d-byte command", len(enc))
	r := apply(cmd)
	if r.Error != nil || r.Import.Created != 10_000 {
		t.Fatalf("apply: %v %+v", r.Error, r.Import)
	}
	var out bytes.Buffer
	if err := Write(&out, s.Assignments("acme", "phone_system")); err != nil {
		t.Fatal(err)
	}
	back, _, _ := Parse(&out, nil)
	rep, _ := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: back})
	if rep.Unchanged != 10_000 {
		t.Fatalf("round trip of 10k rows: %+v", rep)
	}
}

func BenchmarkParseAndValidate10k(b *testing.B) {
	file := bigCSV(10_000)
	s, _ := account(b, 10_000, 10_000)
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows, _, err := Parse(bytes.NewReader(file), nil)
		if err != nil {
			b.Fatal(err)
		}
		if rep, _ := s.PlanImport(&ledger.ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows}); len(rep.Errors) != 0 {
			b.Fatal(rep.Errors[0])
		}
	}
}

// TestParseBOMAndSemicolons: a byte-order mark never reaches the first
// cell, with or without a header, and ';' files parse like ',' files, also
// when a quoted field holds commas.
func TestParseBOMAndSemicolons(t *testing.T) {
	for name, file := range map[string]string{
		"bom, comma, no header":    "\ufeff101,+15550101,ann@acme.test,call_recording\n",
		"bom, semicolon, header":   "\ufeffExt Key;Number;User;Addon license 1\n101;+15550101;ann@acme.test;call_recording\n",
		"semicolon, quoted commas": "\"101\";\"+15550101\";\"ann@acme.test\";call_recording;\"a,b,c\"\n",
	} {
		rows, bad, err := Parse(strings.NewReader(file), nil)
		if err != nil || len(bad) != 0 || len(rows) != 1 {
			t.Fatalf("%s: %v %v %+v", name, err, bad, rows)
		}
		if r := rows[0]; r.ExtKey != "101" || r.Number != "+15550101" || r.User != "ann@acme.test" || r.AddOns[0] != "call_recording" {
			t.Errorf("%s: %+v", name, r)
		}
	}
}
