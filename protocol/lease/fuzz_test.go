package lease_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

// FuzzVerify checks that Verify never panics, always fails with a
// *VerifyError, and accepts only tokens the signer actually produced, with
// exactly the claims it signed.
func FuzzVerify(f *testing.F) {
	s := newSigner(f, 1)
	ks := lease.NewKeySet(s.PublicKey(), newSigner(f, 2).PublicKey())
	want := expectFor(sampleClaims())

	signed := map[string]lease.Claims{}
	add := func(c lease.Claims) string {
		tok := mustSign(f, s, c)
		if c.NotBefore.IsZero() {
			c.NotBefore = c.IssuedAt
		}
		signed[tok] = c
		return tok
	}
	valid := add(sampleClaims())
	add(sampleClaimsWith(func(c *lease.Claims) { c.User, c.AddOns, c.NotBefore = "", nil, time.Time{} }))
	expired := add(sampleClaimsWith(func(c *lease.Claims) {
		c.IssuedAt, c.NotBefore, c.Expires = t0.Add(-2*time.Hour), time.Time{}, t0.Add(-time.Hour)
	}))
	wrongDev := add(sampleClaimsWith(func(c *lease.Claims) { c.Device = "OTHER" }))

	parts := strings.Split(valid, ".")
	for tok := range signed {
		f.Add(tok)
	}
	for _, seed := range []string{
		"",
		".",
		"..",
		"a.b.c",
		parts[0] + "." + parts[1],
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		valid[:len(valid)-1],
		valid + "A",
		strings.ToUpper(valid),
		parts[1] + "." + parts[0] + "." + parts[2],
		craft(`{"alg":"none"}`, `{"iss":"cluster-7f3a"}`, nil),
		craft(`{"alg":"HS256","kid":"`+s.KeyID()+`"}`, `{}`, make([]byte, 32)),
		craft(`{"alg":"EdDSA","kid":"`+s.KeyID()+`"}`, `{}`, make([]byte, 64)),
		craft(`{"alg":"EdDSA","kid":"nope"}`, `{}`, make([]byte, 64)),
		expired[:len(expired)-5] + valid[len(valid)-5:],
		wrongDev,
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ks.Verify(tok, want)
		if err == nil {
			in, ok := signed[tok]
			if !ok {
				t.Fatalf("accepted a token the signer never produced: %q -> %+v", tok, c)
			}
			if !claimsEqual(c, &in) {
				t.Fatalf("claims differ from what was signed:\n got %+v\nwant %+v", c, in)
			}
			return
		}
		if c != nil {
			t.Fatalf("claims returned with error %v", err)
		}
		ve := verifyErr(t, err)
		if ve.Reason == "" || ve.Error() == "" {
			t.Fatalf("empty reason or message: %#v", ve)
		}
		if ve.Claims != nil {
			// Claims are only reported when the signature verified.
			in, ok := signed[tok]
			if !ok {
				t.Fatalf("%s with claims for a token the signer never produced: %q", ve.Reason, tok)
			}
			if !claimsEqual(ve.Claims, &in) {
				t.Fatalf("error claims differ from what was signed")
			}
		}
		// ParseUnverified must not panic either.
		_, _, _ = lease.ParseUnverified(tok)
	})
}
