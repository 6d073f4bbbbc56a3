package entitlement_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func vendorKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// cluster is a CA and one node's lease signer certified by it.
type cluster struct {
	id      string
	ca      *certs.CA
	signer  *lease.Signer
	keyCert []byte
}

func newCluster(t testing.TB, id string) *cluster {
	t.Helper()
	ca, err := certs.NewCA(id, t0)
	if err != nil {
		t.Fatal(err)
	}
	k, err := lease.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lease.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := ca.IssueSigningKey(s.PublicKey(), s.KeyID(), id, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{id: id, ca: ca, signer: s, keyCert: kc}
}

func (c *cluster) bundle(ents ...string) entitlement.Bundle {
	return entitlement.Bundle{Entitlements: ents, CA: string(c.ca.CertPEM()), KeyCerts: []string{string(c.keyCert)}}
}

func (c *cluster) lease(t testing.TB, ent *entitlement.Signed, feat string, addons []string, iat, exp time.Time) string {
	t.Helper()
	tok, err := c.signer.Sign(lease.Claims{Issuer: c.id, Device: "AAAA-BBBB-CCCC", Account: "acme", Feature: feat, AddOns: addons,
		Entitlement: ent.Claim(), LeaseID: 7, Kind: lease.KindFloating, IssuedAt: iat, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func sample(c *cluster) entitlement.Entitlement {
	return entitlement.Entitlement{
		Vendor: "CountThings Inc.", Customer: "Acme Corp", Serial: "ENT-0001",
		Cluster:  &entitlement.Binding{ID: c.id, CASHA256: entitlement.CAFingerprint(c.ca.Cert)},
		Model:    "floating",
		Features: []entitlement.Feature{{Name: "countthings", Seats: 5, AddOns: []string{"PHONE"}}},
		IssuedAt: t0, NotBefore: t0, Expires: t0.Add(365 * 24 * time.Hour),
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv := vendorKey(t)
	c := newCluster(t, "tally-one")
	jws, err := entitlement.Sign(sample(c), priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := entitlement.Verify(jws, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != "ENT-0001" || got.Feature("countthings").Seats != 5 || !got.Expires.Equal(t0.Add(365*24*time.Hour)) {
		t.Fatalf("round trip: %+v", got.Entitlement)
	}
	if got.Claim() != "ENT-0001:"+entitlement.Digest(jws) {
		t.Fatalf("claim %s", got.Claim())
	}
	other, _ := vendorKey(t)
	if _, err := entitlement.Verify(jws, other); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("another vendor's key: %v", err)
	}
}

func TestVerifyRefusesTamperingAndLooseJSON(t *testing.T) {
	pub, priv := vendorKey(t)
	c := newCluster(t, "tally-one")
	jws, err := entitlement.Sign(sample(c), priv)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jws, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	edited := strings.Replace(string(payload), `"seats":5`, `"seats":50`, 1)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(edited)) + "." + parts[2]
	if _, err := entitlement.Verify(forged, pub); err == nil {
		t.Fatal("an edited seat count verified")
	}
	// Signed by the vendor but with a duplicate or case-variant member: one
	// entitlement must have one meaning for every reader.
	for name, body := range map[string]string{
		"duplicate":    `{"iss":"v","sub":"c","jti":"s","features":[{"name":"f","seats":1,"seats":9}],"iat":1,"exp":99999999999}`,
		"case variant": `{"iss":"v","sub":"c","jti":"s","features":[{"name":"f","Seats":9}],"iat":1,"exp":99999999999}`,
		"unknown":      `{"iss":"v","sub":"c","jti":"s","features":[{"name":"f","seats":1}],"iat":1,"exp":99999999999,"unlimited":true}`,
	} {
		tok := signRaw(t, priv, body)
		if _, err := entitlement.Verify(tok, pub); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestVerifyLease(t *testing.T) {
	pub, priv := vendorKey(t)
	c := newCluster(t, "tally-one")
	jws, err := entitlement.Sign(sample(c), priv)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := entitlement.Verify(jws, pub)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	want := entitlement.Expect{Now: now}

	ok := c.lease(t, ent, "countthings", []string{"PHONE"}, now, now.Add(5*time.Minute))
	if _, _, err := entitlement.VerifyLease(ok, c.bundle(jws), want, pub); err != nil {
		t.Fatalf("a lease inside the entitlement: %v", err)
	}

	// Another cluster signs a lease naming the same entitlement and ships
	// its own CA and key certificate: the binding refuses it.
	rogue := newCluster(t, "tally-one")
	forged := rogue.lease(t, ent, "countthings", nil, now, now.Add(5*time.Minute))
	if _, _, err := entitlement.VerifyLease(forged, rogue.bundle(jws), want, pub); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("a lease from another cluster: %v", err)
	}
	// Or it presents the real CA but its own key: not certified.
	mixed := entitlement.Bundle{Entitlements: []string{jws}, CA: string(c.ca.CertPEM()), KeyCerts: []string{string(rogue.keyCert)}}
	if _, _, err := entitlement.VerifyLease(forged, mixed, want, pub); err == nil || !strings.Contains(err.Error(), "not issued by the cluster CA") {
		t.Fatalf("a rogue key under the real CA: %v", err)
	}

	outside := c.lease(t, ent, "otherapp", nil, now, now.Add(5*time.Minute))
	if _, _, err := entitlement.VerifyLease(outside, c.bundle(jws), want, pub); err == nil || !strings.Contains(err.Error(), "not in entitlement") {
		t.Fatalf("a feature outside the entitlement: %v", err)
	}
	addon := c.lease(t, ent, "countthings", []string{"VIDEO"}, now, now.Add(5*time.Minute))
	if _, _, err := entitlement.VerifyLease(addon, c.bundle(jws), want, pub); err == nil || !strings.Contains(err.Error(), "add-on VIDEO") {
		t.Fatalf("an add-on outside the entitlement: %v", err)
	}
	end := ent.Expires
	late := c.lease(t, ent, "countthings", nil, end.Add(time.Minute), end.Add(6*time.Minute))
	if _, _, err := entitlement.VerifyLease(late, c.bundle(jws), entitlement.Expect{Now: end.Add(2 * time.Minute)}, pub); err == nil || !strings.Contains(err.Error(), "after entitlement") {
		t.Fatalf("a lease after the entitlement's end: %v", err)
	}
	past := c.lease(t, ent, "countthings", nil, end.Add(-time.Minute), end.Add(time.Hour))
	if _, _, err := entitlement.VerifyLease(past, c.bundle(jws), entitlement.Expect{Now: end.Add(-30 * time.Second)}, pub); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("a lease running past the entitlement's end: %v", err)
	}
	// Without the vendor's key nothing verifies.
	other, _ := vendorKey(t)
	if _, _, err := entitlement.VerifyLease(ok, c.bundle(jws), want, other); err == nil {
		t.Fatal("verified with another vendor's key")
	}
}

func TestPublicKeyPEM(t *testing.T) {
	pub, _ := vendorKey(t)
	p, err := entitlement.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	back, err := entitlement.ParsePublicKey(p)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := entitlement.ParsePublicKey([]byte("junk")); err == nil {
		t.Fatal("junk parsed")
	}
}

// signRaw signs body as the vendor would, without Sign's checks, to test
// what Verify does with payloads Sign never writes.
func signRaw(t testing.TB, priv ed25519.PrivateKey, body string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(entitlement.Type)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
