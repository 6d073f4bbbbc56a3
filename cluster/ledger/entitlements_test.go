package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

type vendorFixture struct {
	*fixture
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newVendorFixture(t *testing.T, seats, devices int) *vendorFixture {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := &vendorFixture{fixture: newFixture(t, seats, devices), pub: pub, priv: priv}
	v.must(t, Command{Type: CmdTrustVendor, Payload: &TrustVendor{Name: "CAD Corp", PublicKey: pub}})
	return v
}

func (v *vendorFixture) sign(t *testing.T, serial, supersedes string, seats int, end time.Time, mod ...func(*entitlement.Entitlement)) string {
	t.Helper()
	e := entitlement.Entitlement{Vendor: "CAD Corp", Customer: "Acme", Serial: serial, Supersedes: supersedes,
		Cluster:  &entitlement.Binding{ID: "c1"},
		Features: []entitlement.Feature{{Name: "cad", Seats: seats, AddOns: []string{"RENDER"}}},
		IssuedAt: t0.Add(-time.Hour), NotBefore: t0.Add(-time.Hour), Expires: end}
	for _, m := range mod {
		m(&e)
	}
	jws, err := entitlement.Sign(e, v.priv)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func (v *vendorFixture) importEnt(jws string) Result {
	return v.apply(Command{Type: CmdImportEntitlement, Payload: &ImportEntitlement{Account: "acme", JWS: jws}})
}

func (v *vendorFixture) setSeats(n int) Result {
	return v.apply(Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: n}})
}

func TestEntitlementLimitsSeatsAndNamesItself(t *testing.T) {
	v := newVendorFixture(t, 2, 3)
	end := t0.Add(30 * 24 * time.Hour)
	if r := v.importEnt(v.sign(t, "E-1", "", 5, end)); r.Error != nil {
		t.Fatal(r.Error)
	}
	if got := v.s.accounts["acme"].Pools["cad"].Seats; got != 5 {
		t.Fatalf("pool follows the entitlement: %d seats, want 5", got)
	}
	r := v.setSeats(6)
	wantCode(t, r, protocol.CodeEntitlementLimit)
	if !strings.Contains(r.Error.Message, "E-1") {
		t.Fatalf("the refusal names the entitlement: %v", r.Error)
	}
	if r := v.setSeats(5); r.Error != nil {
		t.Fatal(r.Error)
	}
	if r := v.setSeats(4); r.Error != nil {
		t.Fatal(r.Error)
	}
	// A feature no entitlement covers cannot be given seats or checked out.
	wantCode(t, v.apply(Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cam", Seats: 1}}), protocol.CodeEntitlementLimit)
	// Overage and subscription end stay inside it too.
	wantCode(t, v.apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", Feature: "cad", Policy: Policy{Overage: 2}}}), protocol.CodeEntitlementLimit)
	wantCode(t, v.apply(Command{Type: CmdSetPolicy, Payload: &SetPolicy{Account: "acme", SubscriptionEnd: end.Add(time.Hour)}}), protocol.CodeEntitlementLimit)

	// Another vendor's signature is refused, and so is a binding to another cluster.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	v2 := &vendorFixture{fixture: v.fixture, priv: other}
	wantCode(t, v.importEnt(v2.sign(t, "E-9", "", 50, end)), protocol.CodeInvalidArgument)
	wantCode(t, v.importEnt(v.sign(t, "E-8", "", 50, end, func(e *entitlement.Entitlement) { e.Cluster.ID = "c2" })), protocol.CodeInvalidArgument)
}

func TestEntitlementGrantsCarryItAndStopAtItsEnd(t *testing.T) {
	v := newVendorFixture(t, 2, 3)
	end := t0.Add(5 * time.Second)
	jws := v.sign(t, "E-1", "", 2, end)
	if r := v.importEnt(jws); r.Error != nil {
		t.Fatal(r.Error)
	}
	r := v.checkout("d1")
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	if want := "E-1:" + entitlement.Digest(jws); r.Lease.Entitlement != want {
		t.Fatalf("lease ent = %q, want %q", r.Lease.Entitlement, want)
	}
	if !r.Lease.Horizon.Equal(end) {
		t.Fatalf("horizon %v runs past the entitlement's end %v", r.Lease.Horizon, end)
	}
	v.now = end
	r = v.checkout("d2")
	wantCode(t, r, protocol.CodeNotEntitled)
	if !strings.Contains(r.Error.Message, "E-1") {
		t.Fatalf("names the entitlement: %v", r.Error)
	}
	// The refusal is counted per day, feature and reason.
	d := v.s.Denials("acme", "", "")
	if len(d) != 1 || d[0].Code != protocol.CodeNotEntitled || d[0].Count != 1 || d[0].Feature != "cad" {
		t.Fatalf("denials: %+v", d)
	}
}

func TestEntitlementRenewalSupersedesAndDowngradesToSeatsInUse(t *testing.T) {
	v := newVendorFixture(t, 2, 4)
	end := t0.Add(24 * time.Hour)
	if r := v.importEnt(v.sign(t, "E-1", "", 4, end)); r.Error != nil {
		t.Fatal(r.Error)
	}
	for _, d := range []string{"d1", "d2", "d3"} {
		if r := v.checkout(d); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	// A downgrade below the seats in use is refused, and changes nothing.
	r := v.importEnt(v.sign(t, "E-2", "E-1", 2, end.Add(24*time.Hour)))
	wantCode(t, r, protocol.CodeSeatsInUse)
	if ents := v.s.Entitlements("acme"); len(ents) != 1 || ents[0].Serial != "E-1" || v.s.accounts["acme"].Pools["cad"].Seats != 4 {
		t.Fatalf("a refused import changed the entitlements or seats: %+v", ents)
	}
	// Down to the seats in use is allowed (the renewal rule).
	if r := v.importEnt(v.sign(t, "E-3", "E-1", 3, end.Add(24*time.Hour))); r.Error != nil {
		t.Fatal(r.Error)
	}
	if got := v.s.accounts["acme"].Pools["cad"].Seats; got != 3 {
		t.Fatalf("seats after downgrade: %d", got)
	}
	ents := v.s.Entitlements("acme")
	if len(ents) != 1 || ents[0].Serial != "E-3" {
		t.Fatalf("current entitlements: %+v", ents)
	}
	wantCode(t, v.importEnt(v.sign(t, "E-1", "", 4, end)), protocol.CodeAlreadyExists)
	// Snapshot round trip keeps it all.
	n := New()
	if err := n.ReadSnapshot(bytes.NewReader(snapshotBytes(t, v.s))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, n), snapshotBytes(t, v.s)) {
		t.Fatal("snapshot round trip differs")
	}
}

func TestEntitlementLimitsNamedLicenses(t *testing.T) {
	v := newVendorFixture(t, 2, 1)
	if r := v.importEnt(v.sign(t, "E-1", "", 3, t0.Add(24*time.Hour))); r.Error != nil {
		t.Fatal(r.Error)
	}
	// A base product on the entitled feature: up to its seats.
	wantCode(t, v.apply(Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "cad", Quantity: 4, Seed: "s1"}}), protocol.CodeEntitlementLimit)
	if r := v.apply(Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "cad", Quantity: 3, Seed: "s1"}}); r.Error != nil {
		t.Fatal(r.Error)
	}
	// A product on a feature no entitlement covers, and an add-on it does not list.
	wantCode(t, v.apply(Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "cam", Quantity: 1, Seed: "s2"}}), protocol.CodeEntitlementLimit)
	wantCode(t, v.apply(Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "VIDEO", Kind: ProductAddOn, Quantity: 1, Seed: "s3"}}), protocol.CodeEntitlementLimit)
	if r := v.apply(Command{Type: CmdSetProduct, Payload: &SetProduct{Account: "acme", Code: "RENDER", Kind: ProductAddOn, Quantity: 1, Seed: "s4"}}); r.Error != nil {
		t.Fatal(r.Error)
	}
}
