package ledger

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// licFixture is the fixture with a catalogue: phone_system (extension-based,
// pool feature "cad"), developer, and the add-ons call_recording and
// team_chat.
func licFixture(t testing.TB, base, addons int) *fixture {
	f := newFixture(t, 10, 2)
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Name: "Phone System", Feature: "cad", Extension: true, Quantity: base, Seed: "s1"}})
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "developer", Name: "Developer", Quantity: 2, Seed: "s2"}})
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "call_recording", Kind: ProductAddOn, Quantity: addons, Seed: "s3"}})
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "team_chat", Kind: ProductAddOn, Quantity: addons, Seed: "s4"}})
	var users []string
	for _, n := range strings.Fields("ann bob cid dan eve fay gus hal ida jon kim lee mo old dev x p q zed late") {
		users = append(users, n+"@acme.test")
	}
	addMembers(t, f, users...)
	return f
}

// addMembers makes the users members of acme, raising its seats to fit.
func addMembers(t testing.TB, f *fixture, emails ...string) {
	t.Helper()
	u, _ := f.s.MemberUsage("acme")
	f.must(t, legacyCmd(CmdMembers, &MembersOp{Op: MemSetSeats, Account: "acme", Seats: u.Purchased + len(emails)}))
	f.must(t, legacyCmd(CmdMembers, &MembersOp{Op: MemAddUsers, Account: "acme", Emails: emails}))
}

func lic(f *fixture, op LicenseOp) Result {
	op.Account = "acme"
	return f.apply(legacyCmd(CmdLicense, &op))
}

func mustLic(t *testing.T, f *fixture, op LicenseOp) LicenseView {
	t.Helper()
	r := lic(f, op)
	if r.Error != nil {
		t.Fatalf("%s: %v", op.Op, r.Error)
	}
	return *r.License
}

// unchangedBy applies c and fails unless it is refused with code and leaves
// the ledger byte-for-byte as it was (apart from the time it saw).
func unchangedBy(t *testing.T, f *fixture, code protocol.Code, c Command) *protocol.Error {
	t.Helper()
	before := snapshotWithoutClock(t, f.s)
	r := f.apply(c)
	wantCode(t, r, code)
	if after := snapshotWithoutClock(t, f.s); !bytes.Equal(before, after) {
		t.Fatalf("refused %s changed the ledger", c.Type)
	}
	return r.Error
}

func snapshotWithoutClock(t *testing.T, s *State) []byte {
	t.Helper()
	c := New()
	if err := c.ReadSnapshot(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	c.appliedIndex, c.lastNow = 0, time.Time{}
	return snapshotBytes(t, c)
}

func TestProductsBuyLicensesWithDerivedUUIDs(t *testing.T) {
	f := licFixture(t, 3, 2)
	ls := f.s.Licenses("acme", LicenseFilter{Product: "phone_system"})
	if len(ls) != 3 {
		t.Fatalf("want 3 phone_system licenses, got %d", len(ls))
	}
	seen := map[string]bool{}
	for _, l := range ls {
		if len(l.ID) != 36 || l.ID[14] != '4' || seen[l.ID] {
			t.Fatalf("license ID %q is not a fresh UUIDv4-shaped ID", l.ID)
		}
		seen[l.ID] = true
	}
	// Another node applying the same commands derives the same IDs.
	g := licFixture(t, 3, 2)
	if !bytes.Equal(snapshotBytes(t, f.s), snapshotBytes(t, g.s)) {
		t.Fatal("two ledgers applying the same commands differ")
	}
	// Raising buys more; lowering drops unassigned ones, newest first.
	f.now = f.now.Add(time.Minute)
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: 5, Seed: "s5"}})
	if n := len(f.s.Licenses("acme", LicenseFilter{Product: "phone_system"})); n != 5 {
		t.Fatalf("after raising to 5: %d licenses", n)
	}
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: 3}})
	after := f.s.Licenses("acme", LicenseFilter{Product: "phone_system"})
	for _, l := range after {
		if !seen[l.ID] {
			t.Fatalf("lowering kept %s, bought last, instead of an older license", l.ID)
		}
	}
	pu := f.s.ProductUsage("acme")
	if pu[0].Code != "developer" || pu[1].Code != "phone_system" || pu[1].Quantity != 3 || pu[1].Free != 3 || pu[2].Kind != ProductAddOn {
		t.Fatalf("product usage: %+v", pu)
	}
}

func TestProductRefusalsChangeNothing(t *testing.T) {
	f := licFixture(t, 2, 1)
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101"})
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "102"})
	e := unchangedBy(t, f, protocol.CodeSeatsInUse, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: 1}})
	if !strings.Contains(e.Message, "2 of 2 are assigned") {
		t.Fatalf("message should give the numbers: %s", e.Message)
	}
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: -1}})
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "bad code", Quantity: 1, Seed: "x"}})
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Kind: ProductAddOn, Quantity: 2}})
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: 9}}) // no seed
	unchangedBy(t, f, protocol.CodeUnknownAccount, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "nope", Code: "x", Quantity: 1, Seed: "x"}})
	unchangedBy(t, f, protocol.CodeInvalidArgument, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "x", Kind: ProductAddOn, Extension: true, Quantity: 1, Seed: "x"}})
}

func TestAssignAttachReassignUnassign(t *testing.T) {
	f := licFixture(t, 2, 1)
	v := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: " Ann@Acme.test ", ExtKey: "101", Number: "+1 (555) 010-0101", AddOns: []string{"team_chat", "call_recording"}})
	if v.User != "ann@acme.test" || v.ExtKey != "101" || v.Number != "+15550100101" || !reflect.DeepEqual(v.AddOnCodes, []string{"call_recording", "team_chat"}) {
		t.Fatalf("assigned license: %+v", v)
	}
	id := v.ID
	// The add-ons are now attached: none is free for a second license.
	w := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "102"})
	unchangedBy(t, f, protocol.CodeNoSeat, legacyCmd(CmdLicense, &LicenseOp{Op: OpAttach, Account: "acme", LicenseID: w.ID, AddOn: "team_chat"}))
	// Move team_chat from Ann to Bob.
	mustLic(t, f, LicenseOp{Op: OpDetach, LicenseID: id, AddOn: "team_chat"})
	w = mustLic(t, f, LicenseOp{Op: OpAttach, LicenseID: w.ID, AddOn: "team_chat"})
	if !reflect.DeepEqual(w.AddOnCodes, []string{"team_chat"}) {
		t.Fatalf("bob's add-ons: %v", w.AddOnCodes)
	}
	// Reassign keeps the UUID, the extension and the add-ons.
	v = mustLic(t, f, LicenseOp{Op: OpReassign, LicenseID: id, User: "cid@acme.test"})
	if v.ID != id || v.User != "cid@acme.test" || v.ExtKey != "101" || !reflect.DeepEqual(v.AddOnCodes, []string{"call_recording"}) {
		t.Fatalf("reassigned: %+v", v)
	}
	if ls := f.s.Licenses("acme", LicenseFilter{User: "ann@acme.test"}); len(ls) != 0 {
		t.Fatalf("ann still holds %d licenses", len(ls))
	}
	// Extension changes are checked for uniqueness.
	unchangedBy(t, f, protocol.CodeAlreadyExists, legacyCmd(CmdLicense, &LicenseOp{Op: OpSetExtension, Account: "acme", LicenseID: id, ExtKey: "102"}))
	unchangedBy(t, f, protocol.CodeInvalidArgument, legacyCmd(CmdLicense, &LicenseOp{Op: OpSetExtension, Account: "acme", LicenseID: id, ExtKey: "103", Number: "12ab"}))
	v = mustLic(t, f, LicenseOp{Op: OpSetExtension, LicenseID: id, ExtKey: "103", Number: "5550103"})
	if v.ExtKey != "103" || v.Number != "5550103" {
		t.Fatalf("set extension: %+v", v)
	}
	// Unassign frees the license, its extension and its add-ons.
	mustLic(t, f, LicenseOp{Op: OpUnassign, LicenseID: id})
	if ls := f.s.Licenses("acme", LicenseFilter{Product: "call_recording", Status: "free"}); len(ls) != 1 {
		t.Fatalf("call_recording should be free again: %+v", ls)
	}
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "dan@acme.test", ExtKey: "103", AddOns: []string{"call_recording"}})
}

func TestLicenseRefusalsChangeNothing(t *testing.T) {
	f := licFixture(t, 1, 1)
	v := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101", Number: "5550101"})
	dev := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "ann@acme.test"})
	cases := []struct {
		name string
		code protocol.Code
		op   LicenseOp
	}{
		{"no free license", protocol.CodeNoSeat, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "102"}},
		{"user holds one", protocol.CodeAlreadyExists, LicenseOp{Op: OpAssign, Product: "developer", User: "ann@acme.test"}},
		{"unknown product", protocol.CodeNotFound, LicenseOp{Op: OpAssign, Product: "nope", User: "bob@acme.test"}},
		{"assign an add-on", protocol.CodeInvalidArgument, LicenseOp{Op: OpAssign, Product: "team_chat", User: "bob@acme.test"}},
		{"malformed user", protocol.CodeNotFound, LicenseOp{Op: OpAssign, Product: "developer", User: "not-an-email"}},
		{"missing user", protocol.CodeInvalidArgument, LicenseOp{Op: OpAssign, Product: "developer", User: ""}},
		{"ext on plain product", protocol.CodeInvalidArgument, LicenseOp{Op: OpAssign, Product: "developer", User: "bob@acme.test", ExtKey: "7"}},
		{"unknown add-on", protocol.CodeInvalidArgument, LicenseOp{Op: OpAssign, Product: "developer", User: "bob@acme.test", AddOns: []string{"fax"}}},
		{"add-on twice", protocol.CodeInvalidArgument, LicenseOp{Op: OpAssign, Product: "developer", User: "bob@acme.test", AddOns: []string{"team_chat", "team_chat"}}},
		{"unknown license", protocol.CodeNotFound, LicenseOp{Op: OpUnassign, LicenseID: "00000000-0000-4000-8000-000000000000"}},
		{"attach unknown code", protocol.CodeInvalidArgument, LicenseOp{Op: OpAttach, LicenseID: v.ID, AddOn: "fax"}},
		{"detach absent", protocol.CodeNotFound, LicenseOp{Op: OpDetach, LicenseID: v.ID, AddOn: "team_chat"}},
		{"reassign to bad user", protocol.CodeNotFound, LicenseOp{Op: OpReassign, LicenseID: dev.ID, User: "nobody"}},
		{"terminate nothing", protocol.CodeInvalidArgument, LicenseOp{Op: OpTerminate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := c.op
			op.Account = "acme"
			unchangedBy(t, f, c.code, legacyCmd(CmdLicense, &op))
		})
	}
	// Reassigning to a user who holds that product already is refused.
	mustLic(t, f, LicenseOp{Op: OpReassign, LicenseID: dev.ID, User: "ann@acme.test"}) // no-op
	other := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "bob@acme.test"})
	unchangedBy(t, f, protocol.CodeAlreadyExists, legacyCmd(CmdLicense, &LicenseOp{Op: OpReassign, Account: "acme", LicenseID: other.ID, User: "ann@acme.test"}))
	mustLic(t, f, LicenseOp{Op: OpUnassign, LicenseID: other.ID})
	// The second developer license is free; its add-on checks come first.
	free := f.s.Licenses("acme", LicenseFilter{Product: "developer", Status: "free"})
	unchangedBy(t, f, protocol.CodeInvalidArgument, legacyCmd(CmdLicense, &LicenseOp{Op: OpAttach, Account: "acme", LicenseID: free[0].ID, AddOn: "team_chat"}))
	// Extension key or number used by another license.
	f.must(t, Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "phone_system", Quantity: 2, Seed: "more"}})
	unchangedBy(t, f, protocol.CodeAlreadyExists, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "phone_system", User: "bob@acme.test", ExtKey: "101"}))
	unchangedBy(t, f, protocol.CodeAlreadyExists, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "phone_system", User: "bob@acme.test", ExtKey: "102", Number: "555-0101"}))
	unchangedBy(t, f, protocol.CodeInvalidArgument, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "phone_system", User: "bob@acme.test"}))
}

func terminate(f *fixture, id string, force bool) Result {
	return f.apply(Command{Type: CmdTerminateLicenseConfirmed, Payload: &TerminateLicenseConfirmed{Account: "acme", LicenseID: id, Force: force}})
}

func TestTerminateLeavesSubscription(t *testing.T) {
	f := licFixture(t, 2, 2)
	v := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101", AddOns: []string{"call_recording", "team_chat"}})
	// Terminate an add-on by UUID: it leaves the license and the count.
	rec := v.AddOns[0]
	// Ann holds it: without Force the ledger refuses, naming her, and
	// changes nothing.
	r := terminate(f, rec, false)
	if r.Error == nil || r.Error.Code != protocol.CodeConfirmationRequired || !strings.Contains(r.Error.Message, "ann@acme.test") {
		t.Fatalf("terminate an assigned add-on without force: %+v", r.Error)
	}
	if _, ok := f.s.License(rec); !ok {
		t.Fatal("a refused terminate removed the add-on")
	}
	if r := terminate(f, v.ID, false); r.Error == nil || r.Error.Code != protocol.CodeConfirmationRequired ||
		!strings.Contains(r.Error.Message, "assigned to ann@acme.test") || !strings.Contains(r.Error.Message, "extension 101") {
		t.Fatalf("terminate an assigned base license without force: %+v", r.Error)
	}
	r = terminate(f, rec, true)
	if r.Error != nil || r.License.Product != "call_recording" {
		t.Fatalf("terminate add-on: %+v", r)
	}
	got, _ := f.s.License(v.ID)
	if !reflect.DeepEqual(got.AddOnCodes, []string{"team_chat"}) {
		t.Fatalf("after terminating call_recording: %v", got.AddOnCodes)
	}
	if _, ok := f.s.License(rec); ok {
		t.Fatal("terminated add-on license still exists")
	}
	// Terminate the base license: its add-on goes back to the free pool and
	// its extension can be reused.
	if r := terminate(f, v.ID, true); r.Error != nil {
		t.Fatal(r.Error)
	}
	pu := map[string]ProductUsage{}
	for _, p := range f.s.ProductUsage("acme") {
		pu[p.Code] = p
	}
	if pu["phone_system"].Quantity != 1 || pu["call_recording"].Quantity != 1 || pu["team_chat"].Free != 2 {
		t.Fatalf("usage after terminations: %+v", pu)
	}
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "101"})
	unchangedBy(t, f, protocol.CodeNotFound, legacyCmd(CmdLicense, &LicenseOp{Op: OpTerminate, Account: "acme", LicenseID: v.ID}))
}

func TestSearchLicenses(t *testing.T) {
	f := licFixture(t, 3, 3)
	a := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101", Number: "+15550101", AddOns: []string{"team_chat"}})
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "102"})
	d := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "ann@acme.test"})
	ids := func(vs []LicenseView) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	if got := f.s.Licenses("acme", LicenseFilter{User: "ANN@acme.test", Product: "phone_system"}); !reflect.DeepEqual(ids(got), []string{a.ID}) {
		t.Fatalf("by user and type: %v", ids(got))
	}
	if got := f.s.Licenses("acme", LicenseFilter{User: "ann@acme.test"}); len(got) != 3 || got[0].Kind != ProductBase || got[2].Product != "team_chat" {
		t.Fatalf("by user (base licenses then add-ons): %+v", got)
	}
	if got := f.s.Licenses("acme", LicenseFilter{Product: "developer", Status: "assigned"}); !reflect.DeepEqual(ids(got), []string{d.ID}) {
		t.Fatalf("assigned developers: %v", ids(got))
	}
	if got := f.s.Licenses("acme", LicenseFilter{Ext: "101", Product: "phone_system"}); !reflect.DeepEqual(ids(got), []string{a.ID}) {
		t.Fatalf("by extension: %v", ids(got))
	}
	if got := f.s.Licenses("acme", LicenseFilter{Ext: "+1 555 0101", Product: "phone_system"}); !reflect.DeepEqual(ids(got), []string{a.ID}) {
		t.Fatalf("by number: %v", ids(got))
	}
	if got := f.s.Licenses("acme", LicenseFilter{Product: "phone_system", Status: "free"}); len(got) != 1 {
		t.Fatalf("free phone_system: %v", ids(got))
	}
}

func TestLeaseCarriesLicenseAddOns(t *testing.T) {
	f := licFixture(t, 2, 2)
	v := mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101", AddOns: []string{"team_chat", "call_recording"}})
	r := f.must(t, Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", SignIn: f.signIn("d1", "Ann@acme.test")}})
	if r.Lease.License != v.ID || !reflect.DeepEqual(r.Lease.AddOns, []string{"call_recording", "team_chat"}) {
		t.Fatalf("lease under ann's license: %+v", r.Lease)
	}
	// A member without a license of the feature's product gets no seat.
	wantCode(t, f.apply(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d2", Feature: "cad", SignIn: f.signIn("d2", "bob@acme.test")}}), protocol.CodeNoLicense)
	// Detaching an add-on shows in the next renewal.
	mustLic(t, f, LicenseOp{Op: OpDetach, LicenseID: v.ID, AddOn: "team_chat"})
	f.now = f.now.Add(time.Second)
	rn := f.must(t, Command{Type: CmdRenew, Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{r.Lease.ID}}})
	if got := rn.Renewed[0].Lease.AddOns; !reflect.DeepEqual(got, []string{"call_recording"}) {
		t.Fatalf("renewed lease add-ons: %v", got)
	}
}

func TestLicensesSnapshotRoundTrip(t *testing.T) {
	f := licFixture(t, 3, 3)
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "ann@acme.test", ExtKey: "101", Number: "5550101", AddOns: []string{"team_chat"}})
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "phone_system", User: "bob@acme.test", ExtKey: "102", AddOns: []string{"team_chat", "call_recording"}})
	mustLic(t, f, LicenseOp{Op: OpAssign, Product: "developer", User: "ann@acme.test"})
	f.must(t, Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", SignIn: f.signIn("d1", "bob@acme.test")}})
	b := snapshotBytes(t, f.s)
	r := New()
	if err := r.ReadSnapshot(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, snapshotBytes(t, r)) {
		t.Fatal("snapshot round trip is not byte-identical")
	}
	if !reflect.DeepEqual(f.s.Licenses("acme", LicenseFilter{}), r.Licenses("acme", LicenseFilter{})) {
		t.Fatal("restored licenses differ")
	}
	// The restored indexes still enforce uniqueness and find users.
	g := &fixture{s: r, idx: f.idx, now: f.now}
	if res := lic(g, LicenseOp{Op: OpAssign, Product: "phone_system", User: "cid@acme.test", ExtKey: "102"}); res.Error == nil || res.Error.Code != protocol.CodeAlreadyExists {
		t.Fatalf("restored ledger let extension 102 be reused: %+v", res.Error)
	}
	if id, codes := r.licenseClaims("acme", "cad", "bob@acme.test"); id == "" || !reflect.DeepEqual(codes, []string{"call_recording", "team_chat"}) {
		t.Fatalf("restored claims: %s %v", id, codes)
	}
}

func TestNormalizeNumber(t *testing.T) {
	for in, want := range map[string]string{"+1 (555) 010-0101": "+15550100101", "5550101": "5550101", " 44.20.7946.0018 ": "442079460018"} {
		if got, err := NormalizeNumber(in); err != nil || got != want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12", "++15550101", "1+555", "555-CALL-NOW", "1234567890123456", "+"} {
		if got, err := NormalizeNumber(in); err == nil {
			t.Errorf("NormalizeNumber(%q) = %q, want an error", in, got)
		}
	}
}

func BenchmarkCheckoutWithLicense(b *testing.B) {
	f := licFixture(b, 1, 1)
	f.must(b, legacyCmd(CmdLicense, &LicenseOp{Op: OpAssign, Account: "acme", Product: "phone_system", User: "ann@acme.test", ExtKey: "1", AddOns: []string{"team_chat"}}))
	f.must(b, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: b.N + 1}})
	// ann signs in on every device: the account has members, so a seat
	// goes to a signed-in member, never to a user a client names.
	for i := 0; i < b.N; i++ {
		dev := fmt.Sprintf("b%d", i)
		f.must(b, Command{Type: CmdEnrollDevice, Payload: &EnrollDevice{Account: "acme", TokenID: "et1", Code: dev, KeyFingerprint: "fp"}})
		f.must(b, Command{Type: CmdDeviceSignIn, Payload: &DeviceSignIn{ID: "si-" + dev, Account: "acme", Device: dev, KeyFingerprint: "fp", Email: "ann@acme.test", SecretHash: "h-" + dev}})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dev := fmt.Sprintf("b%d", i)
		r := f.must(b, Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: dev, Feature: "cad", SignIn: "si-" + dev}})
		if r.Lease == nil || len(r.Lease.AddOns) == 0 {
			b.Fatalf("checkout on %s: lease %+v; want ann's license add-ons on it", dev, r.Lease)
		}
	}
}
