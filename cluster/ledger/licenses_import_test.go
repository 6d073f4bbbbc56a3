package ledger

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/protocol"
)

func importCmd(rows ...AssignmentRow) Command {
	for i := range rows {
		if rows[i].Line == 0 {
			rows[i].Line = i + 2 // after the header
		}
	}
	return Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows}}
}

func row(ext, num, user string, addons ...string) AssignmentRow {
	return AssignmentRow{ExtKey: ext, Number: num, User: user, AddOns: addons}
}

func TestImportAppliesAllRows(t *testing.T) {
	f := licFixture(t, 4, 2)
	r := f.must(t, importCmd(
		row("101", "+1 555 0101", "ann@acme.test", "call_recording", "team_chat"),
		row("102", "", "bob@acme.test", "", "team_chat"),
		row("103", "5550103", "cid@acme.test"),
	))
	if rep := r.Import; !rep.Applied || rep.Created != 3 || rep.Updated != 0 || rep.Unchanged != 0 {
		t.Fatalf("report: %+v", rep)
	}
	got := f.s.Assignments("acme", "phone_system")
	want := []AssignmentRow{
		{ExtKey: "101", Number: "+15550101", User: "ann@acme.test", AddOns: []string{"call_recording", "team_chat"}},
		{ExtKey: "102", User: "bob@acme.test", AddOns: []string{"team_chat"}},
		{ExtKey: "103", Number: "5550103", User: "cid@acme.test"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assignments:\n got %+v\nwant %+v", got, want)
	}
	// Importing what is there changes nothing and says so.
	for i := range got {
		got[i].Line = i + 2
	}
	before := snapshotWithoutClock(t, f.s)
	plan, perr := f.s.PlanImport(&ImportAssignments{Account: "acme", Product: "phone_system", Rows: got})
	if perr != nil || plan.Unchanged != 3 || plan.Created+plan.Updated != 0 || len(plan.Errors) != 0 {
		t.Fatalf("re-import plan: %+v %v", plan, perr)
	}
	r = f.must(t, Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "phone_system", Rows: got}})
	if r.Import.Unchanged != 3 || !bytes.Equal(before, snapshotWithoutClock(t, f.s)) {
		t.Fatalf("re-import changed the ledger: %+v", r.Import)
	}
	// A second import swaps Ann's and Bob's extensions, moves call_recording
	// to Bob and leaves Cid alone; UUIDs stay with their users.
	annID := f.s.Licenses("acme", LicenseFilter{User: "ann@acme.test", Product: "phone_system"})[0].ID
	r = f.must(t, importCmd(
		row("102", "", "ann@acme.test"),
		row("101", "+15550101", "bob@acme.test", "call_recording", "team_chat"),
	))
	if r.Import.Updated != 2 || r.Import.Created != 0 {
		t.Fatalf("swap report: %+v", r.Import)
	}
	ann := f.s.Licenses("acme", LicenseFilter{User: "ann@acme.test", Product: "phone_system"})[0]
	if ann.ID != annID || ann.ExtKey != "102" || ann.AddOnCodes != nil {
		t.Fatalf("ann after swap: %+v", ann)
	}
	if n := len(f.s.Assignments("acme", "phone_system")); n != 3 {
		t.Fatalf("cid's assignment should remain: %d rows", n)
	}
}

// TestImportValidation covers every row error kind; each names its line,
// and the refused import changes nothing.
func TestImportValidation(t *testing.T) {
	f := licFixture(t, 3, 1)
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "old@acme.test", ExtKey: "900", Number: "5550900"})
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "dev@acme.test"})
	rows := []AssignmentRow{
		row("101", "5550101", "ann@acme.test", "call_recording"), // 2 ok
		row("102", "", ""),                                        // 3 missing user
		row("103", "", "not-an-address"),                          // 4 unknown user
		row("104", "", "ANN@acme.test"),                           // 5 duplicate user
		row("105", "", "bob@acme.test", "fax"),                    // 6 unknown add-on
		row("106", "", "cid@acme.test", "team_chat", "team_chat"), // 7 add-on twice
		row("", "", "dan@acme.test"),                              // 8 missing ext
		row("1 07", "", "eve@acme.test"),                          // 9 malformed ext
		row("101", "", "fay@acme.test"),                           // 10 duplicate ext in file
		row("108", "12ab", "gus@acme.test"),                       // 11 malformed number
		row("109", "555 0101", "hal@acme.test"),                   // 12 duplicate number in file
		row("900", "", "ida@acme.test"),                           // 13 ext held by another license
		row("110", "555-0900", "jon@acme.test"),                   // 14 number held by another license
		row("111", "", "kim@acme.test"),                           // 15 ok: takes the last license
		row("112", "", "lee@acme.test"),                           // 16 no license left
		row("113", "", "mo@acme.test"),                            // 17 no license left
	}
	before := snapshotWithoutClock(t, f.s)
	r := f.apply(importCmd(rows...))
	wantCode(t, r, protocol.CodeInvalidArgument)
	if !bytes.Equal(before, snapshotWithoutClock(t, f.s)) {
		t.Fatal("a refused import changed the ledger")
	}
	want := map[int]string{
		3: RowMissingUser, 4: RowUnknownUser, 5: RowDuplicateUser, 6: RowUnknownAddOn, 7: RowDuplicateAddOn,
		8: RowMissingExt, 9: RowMalformedExt, 10: RowDuplicateExt, 11: RowMalformedNumber, 12: RowDuplicateNumber,
		13: RowDuplicateExt, 14: RowDuplicateNumber, 16: RowNoSeat, 17: RowNoSeat,
	}
	got := map[int]string{}
	for _, e := range r.Import.Errors {
		if _, dup := got[e.Line]; dup {
			t.Errorf("line %d reported twice", e.Line)
		}
		got[e.Line] = e.Kind
		if !strings.Contains(r.Error.Message, fmt.Sprintf("line %d: %s", e.Line, e.Reason)) {
			t.Errorf("the error message does not list line %d: %s", e.Line, r.Error.Message)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row errors:\n got %v\nwant %v\n%s", got, want, r.Error.Message)
	}
	for _, e := range r.Import.Errors {
		switch e.Line {
		case 10:
			if !strings.Contains(e.Reason, "also on line 2") {
				t.Errorf("duplicate extension should point at line 2: %s", e.Reason)
			}
		case 13:
			if !strings.Contains(e.Reason, "old@acme.test") {
				t.Errorf("conflict should name the holder: %s", e.Reason)
			}
		}
	}
	// A product that is not extension-based takes no extension.
	r = f.apply(Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "developer", Rows: []AssignmentRow{{Line: 2, ExtKey: "1", User: "x@acme.test"}}}})
	if r.Import == nil || len(r.Import.Errors) != 1 || r.Import.Errors[0].Kind != RowNotExtension {
		t.Fatalf("extension on a plain product: %+v", r.Import)
	}
	// Add-on seats: one call_recording is left, two rows want it.
	r = f.apply(importCmd(row("201", "", "p@acme.test", "call_recording"), row("202", "", "q@acme.test", "call_recording")))
	if r.Import == nil || len(r.Import.Errors) != 1 || r.Import.Errors[0].Line != 3 || r.Import.Errors[0].Kind != RowNoSeat {
		t.Fatalf("add-on seats: %+v", r.Import)
	}
	// Command-level problems.
	unchangedBy(t, f, protocol.CodeNotFound, Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "nope"}})
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "team_chat"}})
	unchangedBy(t, f, protocol.CodeUnknownAccount, Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "nope", Product: "phone_system"}})
}

// TestImportRevalidatesAtApply: a plan made against an older state does not
// bind Apply; the import is checked again against the state it meets.
func TestImportRevalidatesAtApply(t *testing.T) {
	f := licFixture(t, 2, 1)
	cmd := importCmd(row("101", "", "ann@acme.test"), row("102", "", "bob@acme.test"))
	if plan, _ := f.s.PlanImport(PayloadOf[ImportAssignments](&cmd)); len(plan.Errors) != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "zed@acme.test", ExtKey: "102"})
	r := f.apply(cmd)
	if r.Error == nil || len(r.Import.Errors) != 1 || r.Import.Errors[0].Line != 3 || r.Import.Errors[0].Kind != RowDuplicateExt {
		t.Fatalf("want line 3 refused (extension taken since the plan): %+v", r.Import)
	}
	if len(f.s.Assignments("acme", "phone_system")) != 1 {
		t.Fatal("the refused import assigned a license")
	}
}

// bigImport builds an account with n phone_system licenses and n of each
// add-on, and n rows assigning them.
func bigImport(t testing.TB, n int) (*fixture, Command) {
	f := licFixture(t, n, n)
	rows := make([]AssignmentRow, n)
	users := make([]string, n+1)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@acme.test", i)
	}
	addMembers(t, f, users...)
	for i := range rows {
		rows[i] = AssignmentRow{Line: i + 2, ExtKey: fmt.Sprint(10000 + i), Number: fmt.Sprintf("+1555%07d", i), User: fmt.Sprintf("user%d@acme.test", i)}
		if i%2 == 0 {
			rows[i].AddOns = []string{"call_recording"}
		}
		if i%3 == 0 {
			rows[i].AddOns = append(rows[i].AddOns, "team_chat")
		}
	}
	return f, Command{Type: CmdImportAssignments, Payload: &ImportAssignments{Account: "acme", Product: "phone_system", Rows: rows}}
}

func TestImport10kRows(t *testing.T) {
	f, cmd := bigImport(t, 10_000)
	// The command must fit in one log entry comfortably (it travels as one
	// Raft entry and, from a follower, one forwarded HTTP body).
	b, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4<<20 {
		t.Fatalf("a 10k-row import encodes to %d bytes", len(b))
	}
	dec, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	r := f.must(t, *dec)
	if r.Import.Created != 10_000 {
		t.Fatalf("report: %+v", r.Import)
	}
	if got := f.s.Licenses("acme", LicenseFilter{Product: "phone_system", Status: "free"}); len(got) != 0 {
		t.Fatalf("%d licenses left free", len(got))
	}
	if got := f.s.Licenses("acme", LicenseFilter{Ext: "19999", Product: "phone_system"}); len(got) != 1 || got[0].User != "user9999@acme.test" {
		t.Fatalf("search by extension after import: %+v", got)
	}
	// One row too many is refused, naming that row.
	extra := *PayloadOf[ImportAssignments](&cmd)
	extra.Rows = append(append([]AssignmentRow(nil), extra.Rows...), AssignmentRow{Line: 10_002, ExtKey: "x1", User: "late@acme.test"})
	r = f.apply(Command{Type: CmdImportAssignments, Payload: &extra})
	if r.Error == nil || len(r.Import.Errors) != 1 || r.Import.Errors[0].Line != 10_002 || r.Import.Errors[0].Kind != RowNoSeat {
		t.Fatalf("10k+1: %+v", r.Import)
	}
}

func BenchmarkImportValidate10k(b *testing.B) {
	f, cmd := bigImport(b, 10_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rep, err := f.s.PlanImport(PayloadOf[ImportAssignments](&cmd)); err != nil || len(rep.Errors) != 0 {
			b.Fatal(err, rep.Errors)
		}
	}
}

func BenchmarkImportApply10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f, cmd := bigImport(b, 10_000)
		b.StartTimer()
		f.must(b, cmd)
	}
}

// TestImportResolvesDisplayNames: a display name one member has resolves
// to that member, one two members share is refused naming both, and the
// refusal counts rows.
func TestImportResolvesDisplayNames(t *testing.T) {
	f := licFixture(t, 3, 0)
	for email, name := range map[string]string{"ann@acme.test": "Ann  Smith", "bob@acme.test": "Jo", "cid@acme.test": "jo"} {
		f.must(t, Command{Type: CmdSetDisplayName, Payload: &SetDisplayName{Account: "acme", Email: email, DisplayName: name}})
	}
	wantCode(t, f.apply(Command{Type: CmdSetDisplayName, Payload: &SetDisplayName{Account: "acme", Email: "nobody@acme.test", DisplayName: "X"}}), protocol.CodeNotFound)
	wantCode(t, f.apply(Command{Type: CmdSetDisplayName, Payload: &SetDisplayName{Account: "acme", Email: "ann@acme.test", DisplayName: "a@b"}}), protocol.CodeInvalidArgument)
	rep, perr := f.s.PlanImport(&ImportAssignments{Account: "acme", Product: "phone_system", Rows: []AssignmentRow{
		{Line: 2, ExtKey: "101", User: "ann smith"},
		{Line: 3, ExtKey: "102", User: "JO"},
		{Line: 4, ExtKey: "bad key!", User: "nobody"},
	}})
	if perr != nil {
		t.Fatal(perr)
	}
	kinds := map[int][]string{}
	for _, e := range rep.Errors {
		kinds[e.Line] = append(kinds[e.Line], e.Kind)
	}
	if len(kinds[2]) != 0 || kinds[3][0] != RowAmbiguousUser || kinds[4][0] != RowUnknownUser || len(kinds[4]) != 2 {
		t.Fatalf("errors by line: %v (%+v)", kinds, rep.Errors)
	}
	if !strings.Contains(rep.Errors[0].Reason, "bob@acme.test, cid@acme.test") {
		t.Errorf("the ambiguity names both members: %s", rep.Errors[0].Reason)
	}
	if msg := ImportError(rep).Message; !strings.Contains(msg, "2 of 3 rows are invalid") {
		t.Errorf("refusal counts errors, not rows: %s", msg)
	}
}
