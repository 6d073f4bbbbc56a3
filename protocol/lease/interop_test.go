package lease_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tally-licensing/tally/protocol/lease"
)

// leaseClaims are the private claims, as any application would declare them
// to read a lease token with a stock JWT library.
type leaseClaims struct {
	Account string   `json:"acct"`
	User    string   `json:"usr,omitempty"`
	Feature string   `json:"feat"`
	AddOns  []string `json:"addons,omitempty"`
	LeaseID uint64   `json:"lid"`
	Kind    string   `json:"kind"`
}

// Our tokens verify with go-jose.
func TestInteropGoJoseVerifiesOurToken(t *testing.T) {
	s := newSigner(t, 1)
	in := sampleClaims()
	tok := mustSign(t, s, in)

	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose ParseSigned: %v", err)
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID != s.KeyID() || parsed.Headers[0].Algorithm != "EdDSA" {
		t.Fatalf("headers = %+v", parsed.Headers)
	}
	if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "JWT" {
		t.Fatalf("typ = %v", typ)
	}
	var std jwt.Claims
	var priv leaseClaims
	var m map[string]any
	if err := parsed.Claims(s.PublicKey(), &std, &priv, &m); err != nil {
		t.Fatalf("go-jose Claims: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: in.Issuer, AnyAudience: jwt.Audience{in.Device}, Time: t0}, 0); err != nil {
		t.Fatalf("go-jose Validate: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: in.Expires.Add(time.Second)}, 0); err != jwt.ErrExpired {
		t.Fatalf("go-jose Validate after exp: %v", err)
	}
	if std.Issuer != in.Issuer || len(std.Audience) != 1 || std.Audience[0] != in.Device ||
		!std.IssuedAt.Time().Equal(in.IssuedAt) || !std.NotBefore.Time().Equal(in.NotBefore) || !std.Expiry.Time().Equal(in.Expires) {
		t.Fatalf("standard claims = %+v", std)
	}
	wantPriv := leaseClaims{in.Account, in.User, in.Feature, in.AddOns, in.LeaseID, string(in.Kind)}
	if priv.Account != wantPriv.Account || priv.User != wantPriv.User || priv.Feature != wantPriv.Feature ||
		len(priv.AddOns) != 2 || priv.AddOns[1] != "cam" || priv.LeaseID != wantPriv.LeaseID || priv.Kind != wantPriv.Kind {
		t.Fatalf("private claims = %+v, want %+v", priv, wantPriv)
	}
	if _, ok := m["aud"].(string); !ok {
		t.Fatalf("aud is %T, want a single string", m["aud"])
	}
	// And go-jose rejects it under another key.
	if err := parsed.Claims(newSigner(t, 2).PublicKey(), &std); err == nil {
		t.Fatal("go-jose verified with the wrong key")
	}

	// Our JWKS is a valid go-jose JSONWebKeySet with the same kid.
	js, _ := lease.NewKeySet(s.PublicKey()).MarshalJSON()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(js, &set); err != nil {
		t.Fatalf("go-jose JWKS: %v", err)
	}
	keys := set.Key(s.KeyID())
	if len(keys) != 1 || !keys[0].Valid() || keys[0].Algorithm != "EdDSA" || keys[0].Use != "sig" {
		t.Fatalf("go-jose keys = %+v", keys)
	}
	if err := parsed.Claims(keys[0], &std); err != nil {
		t.Fatalf("verify with JWK from our JWKS: %v", err)
	}
	thumb, err := keys[0].Thumbprint(crypto.SHA256)
	if err != nil || enc.EncodeToString(thumb) != s.KeyID() {
		t.Fatalf("go-jose thumbprint %x != KeyID %s", thumb, s.KeyID())
	}
}

// Tokens built by go-jose verify with us.
func TestInteropWeVerifyGoJoseToken(t *testing.T) {
	k := seedKey(5)
	pub := k.Public().(ed25519.PublicKey)
	kid := lease.KeyID(pub)
	in := sampleClaims()
	ks := lease.NewKeySet(pub)

	build := func(t *testing.T, opts *jose.SignerOptions, claims ...any) string {
		t.Helper()
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k}, opts)
		if err != nil {
			t.Fatal(err)
		}
		b := jwt.Signed(sig)
		for _, c := range claims {
			b = b.Claims(c)
		}
		tok, err := b.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	std := jwt.Claims{
		Issuer:    in.Issuer,
		Audience:  jwt.Audience{in.Device},
		IssuedAt:  jwt.NewNumericDate(in.IssuedAt),
		NotBefore: jwt.NewNumericDate(in.NotBefore),
		Expiry:    jwt.NewNumericDate(in.Expires),
	}
	priv := leaseClaims{in.Account, in.User, in.Feature, in.AddOns, in.LeaseID, string(in.Kind)}
	typed := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid)

	t.Run("same claims", func(t *testing.T) {
		tok := build(t, typed, std, priv)
		got, err := ks.Verify(tok, expectFor(in))
		if err != nil {
			t.Fatalf("Verify go-jose token: %v", err)
		}
		if !claimsEqual(got, &in) {
			t.Fatalf("claims differ\n got %+v\nwant %+v", *got, in)
		}
	})
	t.Run("aud as array, no typ", func(t *testing.T) {
		opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid)
		tok := build(t, opts, map[string]any{
			"iss": in.Issuer, "aud": []string{in.Device}, "acct": in.Account, "feat": in.Feature,
			"lid": in.LeaseID, "kind": "floating", "iat": in.IssuedAt.Unix(), "exp": in.Expires.Unix(),
		})
		got, err := ks.Verify(tok, expectFor(in))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got.Device != in.Device || got.LeaseID != in.LeaseID || !got.NotBefore.IsZero() {
			t.Fatalf("claims = %+v", got)
		}
	})
	t.Run("go-jose token without kid", func(t *testing.T) {
		tok := build(t, (&jose.SignerOptions{}).WithType("JWT"), std, priv)
		_, err := ks.Verify(tok, expectFor(in))
		if lease.ReasonOf(err) != lease.ReasonUnknownKey {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("go-jose JWKS parses", func(t *testing.T) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: "EdDSA", Use: "sig"}}}
		js, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := lease.ParseKeySet(js)
		if err != nil {
			t.Fatalf("ParseKeySet(%s): %v", js, err)
		}
		if _, err := parsed.Verify(build(t, typed, std, priv), expectFor(in)); err != nil {
			t.Fatal(err)
		}
	})
}
