package entitlement_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tally-licensing/tally/protocol/entitlement"
)

// goJoseEntitlement signs e as entitlement.Sign did when it used go-jose:
// an entitlement a vendor signed with an earlier tally-vendor.
func goJoseEntitlement(t *testing.T, e entitlement.Entitlement, priv ed25519.PrivateKey, typ string) string {
	t.Helper()
	payload, err := json.Marshal(struct {
		entitlement.Entitlement
		IssuedAt  int64 `json:"iat"`
		NotBefore int64 `json:"nbf,omitempty"`
		Expires   int64 `json:"exp"`
	}{e, e.IssuedAt.Unix(), e.NotBefore.Unix(), e.Expires.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), entitlement.KeyID(priv.Public().(ed25519.PublicKey)))
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEntitlementsInteropWithGoJose: an entitlement signed by go-jose (an
// earlier tally-vendor) is the same token Sign writes now and verifies;
// what Sign writes, go-jose verifies; a go-jose token under another key,
// with another typ, or changed, is refused.
func TestEntitlementsInteropWithGoJose(t *testing.T) {
	pub, priv := vendorKey(t)
	c := newCluster(t, "tally-one")
	e := sample(c)
	old := goJoseEntitlement(t, e, priv, entitlement.Type)
	ours, err := entitlement.Sign(e, priv)
	if err != nil {
		t.Fatal(err)
	}
	if ours != old {
		t.Fatalf("Sign and go-jose disagree:\nours    %s\ngo-jose %s", ours, old)
	}
	got, err := entitlement.Verify(old, pub)
	if err != nil || got.Serial != e.Serial || got.VendorKeyID != entitlement.KeyID(pub) {
		t.Fatalf("go-jose's entitlement: %+v, %v", got, err)
	}
	obj, err := jose.ParseSigned(ours, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Verify(pub); err != nil {
		t.Fatalf("go-jose verifies ours: %v", err)
	}

	other, otherPriv := vendorKey(t)
	if _, err := entitlement.Verify(old, other); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("another vendor's key: %v", err)
	}
	if _, err := entitlement.Verify(goJoseEntitlement(t, e, otherPriv, entitlement.Type), pub); err == nil {
		t.Fatal("an entitlement signed by another vendor key verified")
	}
	if _, err := entitlement.Verify(goJoseEntitlement(t, e, priv, "JWT"), pub); err == nil || !strings.Contains(err.Error(), "typ is") {
		t.Fatalf("typ JWT: %v", err)
	}
	// More seats, same signature.
	parts := strings.Split(old, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	more := strings.Replace(string(p), `"seats":5`, `"seats":500`, 1)
	if _, err := entitlement.Verify(parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte(more))+"."+parts[2], pub); err == nil {
		t.Fatal("an entitlement with more seats verified under the original signature")
	}
	// alg none with the original payload.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"`+entitlement.Type+`"}`)) + "." + parts[1] + "."
	if _, err := entitlement.Verify(none, pub); err == nil {
		t.Fatal("alg none verified")
	}
}
