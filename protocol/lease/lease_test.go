package lease_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

func TestRoundTrip(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	cases := map[string]func(*lease.Claims){
		"full": func(*lease.Claims) {},
		"minimal": func(c *lease.Claims) {
			c.User, c.AddOns, c.NotBefore, c.Kind = "", nil, time.Time{}, lease.KindFloating
		},
		"node-locked": func(c *lease.Claims) { c.Kind = lease.KindNodeLocked; c.LeaseID = 1 },
		"escapes": func(c *lease.Claims) {
			c.User = "Zoë \"the\" \\admin\\ </script>\n\t\x01 ☃ \u2028 😀"
			c.AddOns = []string{"a,b", `"q"`, "ü"}
		},
		"max lease id": func(c *lease.Claims) { c.LeaseID = ^uint64(0) },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			in := sampleClaims()
			mod(&in)
			tok := mustSign(t, s, in)
			got, err := ks.Verify(tok, expectFor(in))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			if want.NotBefore.IsZero() {
				want.NotBefore = want.IssuedAt
			}
			if !claimsEqual(got, &want) {
				t.Fatalf("claims differ\n got %+v\nwant %+v", *got, want)
			}
			if got.Expires.Location() != time.UTC {
				t.Errorf("Expires location = %v, want UTC", got.Expires.Location())
			}
			// The claims JSON uses the documented member names and a string aud.
			pc, kid, err := lease.ParseUnverified(tok)
			if err != nil || kid != s.KeyID() || !claimsEqual(pc, &want) {
				t.Fatalf("ParseUnverified = %+v, %q, %v", pc, kid, err)
			}
		})
	}
}

func TestWireFormat(t *testing.T) {
	s := newSigner(t, 1)
	tok := mustSign(t, s, sampleClaims())
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for _, p := range parts {
		if strings.ContainsAny(p, "=+/") {
			t.Fatalf("segment %q is not unpadded base64url", p)
		}
	}
	hdr, _ := enc.DecodeString(parts[0])
	wantHdr := `{"alg":"EdDSA","kid":"` + s.KeyID() + `","typ":"JWT"}`
	if string(hdr) != wantHdr {
		t.Fatalf("header = %s, want %s", hdr, wantHdr)
	}
	payload, _ := enc.DecodeString(parts[1])
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": "cluster-7f3a", "aud": "DEV-ABCD-1234", "acct": "acct-42", "usr": "alice@example.com",
		"feat": "cad-pro", "addons": []any{"render", "cam"}, "lid": float64(1<<60 + 17), "kind": "borrowed",
		"iat": float64(t0.Unix()), "nbf": float64(t0.Unix() - 60), "exp": float64(t0.Unix() + 3600),
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("payload = %v\nwant      %v", m, want)
	}
	// lid must be written exactly, not as a float.
	if !strings.Contains(string(payload), `"lid":1152921504606846993`) {
		t.Fatalf("payload %s does not carry lid exactly", payload)
	}
	// Optional claims are omitted when empty.
	c := sampleClaims()
	c.User, c.AddOns = "", []string{}
	parts = strings.Split(mustSign(t, s, c), ".")
	payload, _ = enc.DecodeString(parts[1])
	if strings.Contains(string(payload), "usr") || strings.Contains(string(payload), "addons") {
		t.Fatalf("empty optional claims were written: %s", payload)
	}
	// Signing is deterministic (Ed25519) and times are whole seconds.
	c = sampleClaims()
	c.IssuedAt = c.IssuedAt.Add(999 * time.Millisecond)
	if a, b := mustSign(t, s, c), mustSign(t, s, sampleClaims()); a != b {
		t.Fatalf("sub-second IssuedAt changed the token")
	}
}

func TestSignValidation(t *testing.T) {
	s := newSigner(t, 1)
	cases := map[string]func(*lease.Claims){
		"no issuer":        func(c *lease.Claims) { c.Issuer = "" },
		"no device":        func(c *lease.Claims) { c.Device = "" },
		"no account":       func(c *lease.Claims) { c.Account = "" },
		"no feature":       func(c *lease.Claims) { c.Feature = "" },
		"lease id 0":       func(c *lease.Claims) { c.LeaseID = 0 },
		"bad kind":         func(c *lease.Claims) { c.Kind = "perpetual" },
		"empty kind":       func(c *lease.Claims) { c.Kind = "" },
		"zero iat":         func(c *lease.Claims) { c.IssuedAt = time.Time{} },
		"zero exp":         func(c *lease.Claims) { c.Expires = time.Time{} },
		"exp == iat":       func(c *lease.Claims) { c.Expires = c.IssuedAt },
		"exp before iat":   func(c *lease.Claims) { c.Expires = c.IssuedAt.Add(-time.Hour) },
		"exp same second":  func(c *lease.Claims) { c.Expires = c.IssuedAt.Add(500 * time.Millisecond) },
		"nbf after exp":    func(c *lease.Claims) { c.NotBefore = c.Expires.Add(time.Second) },
		"invalid utf8":     func(c *lease.Claims) { c.User = "\xff" },
		"empty addon":      func(c *lease.Claims) { c.AddOns = []string{"a", ""} },
		"before 1970":      func(c *lease.Claims) { c.NotBefore = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) },
		"after 9999":       func(c *lease.Claims) { c.Expires = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"invalid feature8": func(c *lease.Claims) { c.Feature = "a\xc0" },
	}
	for name, mod := range cases {
		c := sampleClaims()
		mod(&c)
		tok, err := s.Sign(c)
		if err == nil {
			t.Errorf("%s: Sign succeeded: %s", name, tok)
			continue
		}
		if !strings.HasPrefix(err.Error(), "lease: sign: ") {
			t.Errorf("%s: error %q lacks prefix", name, err)
		}
	}
	c := sampleClaims()
	c.Issuer = ""
	if _, err := s.Sign(c); !strings.Contains(err.Error(), "Issuer") {
		t.Errorf("error %q does not name the field", err)
	}
}

func TestNewSigner(t *testing.T) {
	k := seedKey(3)
	s, err := lease.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	if !s.PublicKey().Equal(k.Public()) {
		t.Fatal("PublicKey mismatch")
	}
	if s.KeyID() != lease.KeyID(k.Public().(ed25519.PublicKey)) {
		t.Fatal("KeyID mismatch")
	}
	// The signer copied the key and hands out copies.
	tok := mustSign(t, s, sampleClaims())
	k[0] ^= 1
	s.PublicKey()[0] ^= 1
	if tok2 := mustSign(t, s, sampleClaims()); tok2 != tok {
		t.Fatal("signer is affected by changes to the caller's key")
	}
	if _, err := lease.NewSigner(k[:40]); err == nil {
		t.Error("short key accepted")
	}
	bad := append(ed25519.PrivateKey(nil), seedKey(3)...)
	bad[40] ^= 1 // public half no longer matches the seed
	if _, err := lease.NewSigner(bad); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("inconsistent key: err = %v", err)
	}
}

func TestTampering(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	in := sampleClaims()
	want := expectFor(in)
	tok := mustSign(t, s, in)
	parts := strings.Split(tok, ".")

	payload, _ := enc.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"feat":"cad-pro"`, `"feat":"cad-ult"`, 1)
	if forged == string(payload) {
		t.Fatal("test did not change the payload")
	}
	tamperedPayload := parts[0] + "." + enc.EncodeToString([]byte(forged)) + "." + parts[2]

	sig, _ := enc.DecodeString(parts[2])
	sig[10] ^= 0x04
	tamperedSig := parts[0] + "." + parts[1] + "." + enc.EncodeToString(sig)

	hdr, _ := enc.DecodeString(parts[0])
	otherHdr := strings.Replace(string(hdr), `"typ":"JWT"`, `"typ":"jwt"`, 1) // still acceptable, but signed over
	tamperedHdr := enc.EncodeToString([]byte(otherHdr)) + "." + parts[1] + "." + parts[2]

	// A non-canonical final character: same bytes under lenient decoders.
	last := parts[2][len(parts[2])-1]
	nonCanon := strings.Index("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", string(last))
	nonCanonSig := tok[:len(tok)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[nonCanon|1])
	if nonCanonSig == tok {
		nonCanonSig = tok[:len(tok)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[nonCanon|2])
	}

	cases := []struct {
		name   string
		tok    string
		reason lease.Reason
	}{
		{"tampered payload", tamperedPayload, lease.ReasonBadSignature},
		{"tampered signature", tamperedSig, lease.ReasonBadSignature},
		{"tampered header", tamperedHdr, lease.ReasonBadSignature},
		{"signature from another token", parts[0] + "." + parts[1] + "." + strings.Split(mustSign(t, s, sampleClaimsWith(func(c *lease.Claims) { c.LeaseID = 9 })), ".")[2], lease.ReasonBadSignature},
		{"non-canonical base64 signature", nonCanonSig, lease.ReasonMalformed},
		{"truncated", tok[:len(tok)-10], lease.ReasonMalformed},
		{"truncated to 2 parts", parts[0] + "." + parts[1], lease.ReasonMalformed},
		{"trailing dot", tok + ".", lease.ReasonMalformed},
		{"4 parts", tok + ".AAAA", lease.ReasonMalformed},
		{"1 part", parts[0], lease.ReasonMalformed},
		{"empty", "", lease.ReasonMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", lease.ReasonMalformed},
		{"empty payload", parts[0] + ".." + parts[2], lease.ReasonMalformed},
		{"empty header", "." + parts[1] + "." + parts[2], lease.ReasonMalformed},
		{"garbage base64 header", "!!!." + parts[1] + "." + parts[2], lease.ReasonMalformed},
		{"garbage base64 payload", parts[0] + ".*&^%." + parts[2], lease.ReasonMalformed},
		{"garbage base64 signature", parts[0] + "." + parts[1] + "." + strings.Repeat("$", 86), lease.ReasonMalformed},
		{"padded signature", parts[0] + "." + parts[1] + "." + parts[2] + "==", lease.ReasonMalformed},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(tok), lease.ReasonMalformed},
		{"line break", tok[:20] + "\n" + tok[20:], lease.ReasonMalformed},
		{"whitespace", " " + tok, lease.ReasonMalformed},
		{"header not JSON", enc.EncodeToString([]byte("hello")) + "." + parts[1] + "." + parts[2], lease.ReasonMalformed},
		{"huge", strings.Repeat("A", 70000) + "." + parts[1] + "." + parts[2], lease.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tok == tok {
				t.Fatal("test case did not change the token")
			}
			c, err := ks.Verify(tc.tok, want)
			ve := wantReason(t, c, err, tc.reason)
			if ve.Claims != nil {
				t.Errorf("Claims set for %s", tc.reason)
			}
		})
	}
	// Every truncation of a token is rejected as malformed.
	for i := 0; i < len(tok); i++ {
		c, err := ks.Verify(tok[:i], want)
		if err == nil || lease.ReasonOf(err) != lease.ReasonMalformed {
			t.Fatalf("truncated to %d: claims %v, err %v", i, c, err)
		}
	}
	if _, err := ks.Verify(tok, want); err != nil {
		t.Fatalf("original token: %v", err)
	}
}

func sampleClaimsWith(mod func(*lease.Claims)) lease.Claims {
	c := sampleClaims()
	mod(&c)
	return c
}

func TestUnknownKeyAndRotation(t *testing.T) {
	old, cur, stranger := newSigner(t, 1), newSigner(t, 2), newSigner(t, 3)
	ks := lease.NewKeySet(old.PublicKey(), cur.PublicKey())
	if ks.Len() != 2 {
		t.Fatalf("Len = %d", ks.Len())
	}
	in := sampleClaims()
	for _, s := range []*lease.Signer{old, cur} {
		got, err := ks.Verify(mustSign(t, s, in), expectFor(in))
		if err != nil {
			t.Fatalf("signer %s: %v", s.KeyID(), err)
		}
		if !claimsEqual(got, &in) {
			t.Fatalf("signer %s: claims differ", s.KeyID())
		}
	}
	c, err := ks.Verify(mustSign(t, stranger, in), expectFor(in))
	ve := wantReason(t, c, err, lease.ReasonUnknownKey)
	if !strings.Contains(ve.Error(), stranger.KeyID()) || !strings.Contains(ve.Error(), old.KeyID()) {
		t.Errorf("message does not name the unknown and known kids: %v", ve)
	}

	// A token whose kid names a key in the set but was signed by another key.
	hdr := `{"alg":"EdDSA","kid":"` + old.KeyID() + `","typ":"JWT"}`
	tok := signRaw(seedKey(3), hdr, `{"iss":"x"}`)
	c, err = ks.Verify(tok, lease.Expect{})
	wantReason(t, c, err, lease.ReasonBadSignature)

	// Missing kid.
	tok = signRaw(seedKey(1), `{"alg":"EdDSA","typ":"JWT"}`, `{"iss":"x"}`)
	c, err = ks.Verify(tok, lease.Expect{})
	ve = wantReason(t, c, err, lease.ReasonUnknownKey)
	if !strings.Contains(ve.Error(), "kid") {
		t.Errorf("message = %v", ve)
	}

	// Empty and nil key sets verify nothing.
	for _, empty := range []*lease.KeySet{lease.NewKeySet(), nil, lease.NewKeySet(ed25519.PublicKey{1, 2, 3})} {
		c, err = empty.Verify(mustSign(t, old, in), expectFor(in))
		wantReason(t, c, err, lease.ReasonUnknownKey)
		if empty.Len() != 0 || len(empty.KeyIDs()) != 0 {
			t.Errorf("empty set has keys")
		}
	}
}

func TestBadAlgorithm(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	in := sampleClaims()
	good := mustSign(t, s, in)
	payload := strings.Split(good, ".")[1]
	rawPayload, _ := enc.DecodeString(payload)
	kid := s.KeyID()

	hs256 := func(hdr string, key []byte) string {
		input := enc.EncodeToString([]byte(hdr)) + "." + payload
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return input + "." + enc.EncodeToString(m.Sum(nil))
	}
	cases := map[string]string{
		"none empty sig":   enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + ".",
		"none with kid":    enc.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + payload + ".",
		"None":             enc.EncodeToString([]byte(`{"alg":"None","kid":"`+kid+`"}`)) + "." + payload + ".",
		"HS256 key=pubkey": hs256(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, s.PublicKey()),
		"HS256 key=kid":    hs256(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, []byte(kid)),
		"RS256":            craft(`{"alg":"RS256","kid":"`+kid+`"}`, string(rawPayload), make([]byte, 256)),
		"ES256":            craft(`{"alg":"ES256","kid":"`+kid+`"}`, string(rawPayload), make([]byte, 64)),
		"Ed25519 name":     signRaw(seedKey(1), `{"alg":"Ed25519","kid":"`+kid+`"}`, string(rawPayload)),
		"eddsa lowercase":  signRaw(seedKey(1), `{"alg":"eddsa","kid":"`+kid+`"}`, string(rawPayload)),
		"no alg":           signRaw(seedKey(1), `{"kid":"`+kid+`"}`, string(rawPayload)),
		"ALG upper name":   signRaw(seedKey(1), `{"ALG":"EdDSA","kid":"`+kid+`"}`, string(rawPayload)),
		"empty alg":        signRaw(seedKey(1), `{"alg":"","kid":"`+kid+`"}`, string(rawPayload)),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := ks.Verify(tok, expectFor(in))
			ve := wantReason(t, c, err, lease.ReasonBadAlgorithm)
			if !strings.Contains(ve.Error(), "EdDSA") {
				t.Errorf("message %q does not say what is accepted", ve)
			}
		})
	}
}

func TestHeaderStrictness(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	in := sampleClaims()
	payload := strings.Split(mustSign(t, s, in), ".")[1]
	raw, _ := enc.DecodeString(payload)
	kid := s.KeyID()
	k := seedKey(1)

	// Headers that differ from what Signer writes but are valid: they take the slow path and verify.
	for _, hdr := range []string{
		`{"alg":"EdDSA","kid":"` + kid + `"}`,
		`{"kid":"` + kid + `","alg":"EdDSA"}`,
		` { "typ" : "jwt" , "alg" : "EdDSA" , "kid" : "` + kid + `" , "x-extra": {"a":[1,2]} } `,
		`{"alg":"EdDSA","kid":"` + kid + `","typ":"application/jwt"}`,
	} {
		if _, err := ks.Verify(signRaw(k, hdr, string(raw)), expectFor(in)); err != nil {
			t.Errorf("header %s: %v", hdr, err)
		}
	}
	for _, hdr := range []string{
		`{"alg":"EdDSA","kid":"` + kid + `","alg":"EdDSA"}`,          // duplicate
		`{"alg":"EdDSA","kid":"` + kid + `","crit":["exp"],"exp":1}`, // critical extension
		`{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt"}`,         // another token type
		`{"alg":"EdDSA","kid":"` + kid + `"}x`,                       // trailing data
		`{"alg":"EdDSA","kid":"` + kid + `"}{}`,                      // two objects
		`{"alg":"EdDSA","kid":42}`,                                   // kid not a string
		`{"alg":["EdDSA"],"kid":"` + kid + `"}`,                      // alg not a string
		`["alg","EdDSA"]`,
		`null`,
		`{"alg":"EdDSA","kid":"` + kid + `"`,
	} {
		c, err := ks.Verify(signRaw(k, hdr, string(raw)), expectFor(in))
		wantReason(t, c, err, lease.ReasonMalformed)
	}
}

func TestClaimChecks(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	in := sampleClaims() // nbf = t0-1m, exp = t0+1h
	tok := mustSign(t, s, in)
	nbf, exp := in.NotBefore, in.Expires
	cases := []struct {
		name   string
		mod    func(*lease.Expect)
		reason lease.Reason
		detail []string
	}{
		{"ok", func(*lease.Expect) {}, "", nil},
		{"no expectations", func(e *lease.Expect) { *e = lease.Expect{Now: t0} }, "", nil},
		{"wrong issuer", func(e *lease.Expect) { e.Issuer = "cluster-other" }, lease.ReasonWrongIssuer, []string{`"cluster-other"`, `"cluster-7f3a"`}},
		{"wrong device", func(e *lease.Expect) { e.Device = "DEV-ZZZZ" }, lease.ReasonWrongDevice, []string{`"DEV-ZZZZ"`, `"DEV-ABCD-1234"`}},
		{"wrong feature", func(e *lease.Expect) { e.Feature = "cad-lite" }, lease.ReasonWrongFeature, []string{`"cad-lite"`, `"cad-pro"`}},
		// Order: issuer before device before feature before time.
		{"issuer first", func(e *lease.Expect) { e.Issuer, e.Device, e.Feature, e.Now = "x", "y", "z", exp.Add(time.Hour) }, lease.ReasonWrongIssuer, nil},
		{"device second", func(e *lease.Expect) { e.Device, e.Feature, e.Now = "y", "z", exp.Add(time.Hour) }, lease.ReasonWrongDevice, nil},
		{"feature third", func(e *lease.Expect) { e.Feature, e.Now = "z", exp.Add(time.Hour) }, lease.ReasonWrongFeature, nil},

		{"exp - 1ns", func(e *lease.Expect) { e.Now = exp.Add(-1) }, "", nil},
		{"exp exactly", func(e *lease.Expect) { e.Now = exp }, lease.ReasonExpired, []string{"expired at 2026-11-22T10:00:00Z", "0s ago"}},
		{"exp + 42s", func(e *lease.Expect) { e.Now = exp.Add(42 * time.Second) }, lease.ReasonExpired, []string{"expired at 2026-11-22T10:00:00Z, 42s ago"}},
		{"exp + leeway - 1ns", func(e *lease.Expect) { e.Now, e.Leeway = exp.Add(30*time.Second-1), 30*time.Second }, "", nil},
		{"exp + leeway", func(e *lease.Expect) { e.Now, e.Leeway = exp.Add(30*time.Second), 30*time.Second }, lease.ReasonExpired, []string{"30s ago", "leeway 30s"}},
		{"negative leeway is 0", func(e *lease.Expect) { e.Now, e.Leeway = exp.Add(-time.Second), -time.Hour }, "", nil},

		{"nbf exactly", func(e *lease.Expect) { e.Now = nbf }, "", nil},
		{"nbf - 1ns", func(e *lease.Expect) { e.Now = nbf.Add(-1) }, lease.ReasonNotYetValid, []string{"valid from 2026-11-22T08:59:00Z"}},
		{"nbf - 90s", func(e *lease.Expect) { e.Now = nbf.Add(-90 * time.Second) }, lease.ReasonNotYetValid, []string{"in 1m30s"}},
		{"nbf - leeway", func(e *lease.Expect) { e.Now, e.Leeway = nbf.Add(-10*time.Second), 10*time.Second }, "", nil},
		{"nbf - leeway - 1ns", func(e *lease.Expect) { e.Now, e.Leeway = nbf.Add(-10*time.Second-1), 10*time.Second }, lease.ReasonNotYetValid, []string{"leeway 10s"}},
		{"time last", func(e *lease.Expect) { e.Now = nbf.Add(-time.Hour) }, lease.ReasonNotYetValid, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := expectFor(in)
			tc.mod(&want)
			c, err := ks.Verify(tok, want)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !claimsEqual(c, &in) {
					t.Fatal("claims differ")
				}
				return
			}
			ve := wantReason(t, c, err, tc.reason)
			if !claimsEqual(ve.Claims, &in) {
				t.Errorf("VerifyError.Claims = %+v, want the token's claims", ve.Claims)
			}
			for _, d := range tc.detail {
				if !strings.Contains(err.Error(), d) {
					t.Errorf("error %q does not contain %q", err, d)
				}
			}
		})
	}
	// A zero Now means time.Now(): a token from 2001 is expired, one issued now is not.
	old := sampleClaims()
	old.IssuedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	old.NotBefore, old.Expires = time.Time{}, old.IssuedAt.Add(time.Hour)
	if _, err := ks.Verify(mustSign(t, s, old), lease.Expect{}); lease.ReasonOf(err) != lease.ReasonExpired {
		t.Fatalf("2001 token with default clock: %v", err)
	}
	live := sampleClaims()
	live.IssuedAt, live.NotBefore, live.Expires = time.Now(), time.Time{}, time.Now().Add(time.Hour)
	if _, err := ks.Verify(mustSign(t, s, live), lease.Expect{}); err != nil {
		t.Fatalf("live token: %v", err)
	}
}

func TestSignedButInvalidClaims(t *testing.T) {
	k := seedKey(1)
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	hdr := `{"alg":"EdDSA","kid":"` + s.KeyID() + `","typ":"JWT"}`
	base := map[string]any{"iss": "c", "aud": "d", "acct": "a", "feat": "f", "lid": 7, "kind": "floating", "iat": t0.Unix(), "exp": t0.Unix() + 60}
	with := func(k string, v any) string {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	now := lease.Expect{Now: t0}
	for _, req := range []string{"iss", "aud", "acct", "feat", "lid", "exp"} {
		c, err := ks.Verify(signRaw(k, hdr, with(req, nil)), now)
		ve := wantReason(t, c, err, lease.ReasonMalformed)
		if ve.Claims == nil || !strings.Contains(ve.Detail, `"`+req+`"`) {
			t.Errorf("missing %s: %+v", req, ve)
		}
	}
	malformed := map[string]string{
		"payload not an object": `[1,2]`,
		"payload not JSON":      `{"iss":`,
		"lid negative":          with("lid", -1),
		"lid float":             with("lid", 1.5),
		"lid string":            with("lid", "7"),
		"exp string":            with("exp", "tomorrow"),
		"exp negative":          with("exp", -5),
		"exp huge":              with("exp", 1e300),
		"aud two devices":       with("aud", []string{"d", "e"}),
		"aud empty array":       with("aud", []string{}),
		"aud number":            with("aud", 5),
		"addons not array":      with("addons", "x"),
		"iss not string":        with("iss", 1),
		"trailing data":         with("kind", "floating") + "x",
	}
	for name, p := range malformed {
		t.Run(name, func(t *testing.T) {
			c, err := ks.Verify(signRaw(k, hdr, p), now)
			ve := wantReason(t, c, err, lease.ReasonMalformed)
			if !strings.Contains(ve.Detail, "signed payload") {
				t.Errorf("detail = %q", ve.Detail)
			}
		})
	}
	// Accepted variants written by other libraries.
	ok := map[string]string{
		"aud array":      with("aud", []string{"d"}),
		"fractional exp": with("exp", float64(t0.Unix())+60.75),
		"no iat/nbf":     with("iat", nil),
		"unknown claim":  with("jti", "abc"),
		"escaped aud":    with("aud", "d<é>"), // encoding/json writes d\u003cé\u003e
	}
	for name, p := range ok {
		c, err := ks.Verify(signRaw(k, hdr, p), now)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "fractional exp" && c.Expires.Unix() != t0.Unix()+60 {
			t.Errorf("fractional exp = %v", c.Expires)
		}
		if name == "escaped aud" && c.Device != "d<é>" {
			t.Errorf("escaped aud: Device = %q", c.Device)
		}
		if name == "aud array" && c.Device != "d" {
			t.Errorf("aud array: Device = %q", c.Device)
		}
	}
	// Unknown kinds are passed through (forward compatibility).
	c, err := ks.Verify(signRaw(k, hdr, with("kind", "subscription")), now)
	if err != nil || c.Kind != "subscription" {
		t.Errorf("unknown kind: %v, %v", c, err)
	}
}

func TestVerifyErrorAPI(t *testing.T) {
	err := error(&lease.VerifyError{Reason: lease.ReasonExpired, Detail: "expired at X, 42s ago"})
	if got := err.Error(); got != "lease token expired: expired at X, 42s ago" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("checkout: %w", err)
	if lease.ReasonOf(wrapped) != lease.ReasonExpired {
		t.Error("ReasonOf does not unwrap")
	}
	if !errors.Is(wrapped, &lease.VerifyError{Reason: lease.ReasonExpired}) {
		t.Error("errors.Is by reason failed")
	}
	if errors.Is(wrapped, &lease.VerifyError{Reason: lease.ReasonMalformed}) {
		t.Error("errors.Is matched another reason")
	}
	if lease.ReasonOf(errors.New("x")) != "" || lease.ReasonOf(nil) != "" {
		t.Error("ReasonOf of a non-VerifyError is not empty")
	}
	for _, r := range []lease.Reason{lease.ReasonMalformed, lease.ReasonBadAlgorithm, lease.ReasonUnknownKey, lease.ReasonBadSignature,
		lease.ReasonWrongIssuer, lease.ReasonWrongDevice, lease.ReasonWrongFeature, lease.ReasonNotYetValid, lease.ReasonExpired} {
		msg := (&lease.VerifyError{Reason: r}).Error()
		if !strings.HasPrefix(msg, "lease token ") || strings.Contains(msg, "rejected") {
			t.Errorf("%s: %q", r, msg)
		}
	}
	// The reason strings are part of the public format.
	got := fmt.Sprintln(lease.ReasonMalformed, lease.ReasonBadAlgorithm, lease.ReasonUnknownKey, lease.ReasonBadSignature,
		lease.ReasonExpired, lease.ReasonNotYetValid, lease.ReasonWrongIssuer, lease.ReasonWrongDevice, lease.ReasonWrongFeature)
	if got != "malformed bad_algorithm unknown_key bad_signature expired not_yet_valid wrong_issuer wrong_device wrong_feature\n" {
		t.Errorf("reason strings = %s", got)
	}
	if lease.KindFloating != "floating" || lease.KindBorrowed != "borrowed" || lease.KindNodeLocked != "node-locked" {
		t.Error("kind strings changed")
	}
}

func TestParseUnverified(t *testing.T) {
	s := newSigner(t, 1)
	in := sampleClaims()
	tok := mustSign(t, s, in)
	parts := strings.Split(tok, ".")
	// A bad signature does not matter to ParseUnverified.
	c, kid, err := lease.ParseUnverified(parts[0] + "." + parts[1] + ".xyz")
	if err != nil || kid != s.KeyID() || !claimsEqual(c, &in) {
		t.Fatalf("ParseUnverified = %+v, %q, %v", c, kid, err)
	}
	// Nor does the algorithm or a missing kid: this is for diagnostics only.
	c, kid, err = lease.ParseUnverified("e30." + parts[1] + ".")
	if err != nil || kid != "" || c.LeaseID != in.LeaseID {
		t.Fatalf("ParseUnverified = %+v, %q, %v", c, kid, err)
	}
	for _, bad := range []string{"", "a.b", parts[0] + ".!!." + parts[2], "e30x." + parts[1] + ".", parts[0] + ".e30x." + parts[2]} {
		if _, _, err := lease.ParseUnverified(bad); lease.ReasonOf(err) != lease.ReasonMalformed {
			t.Errorf("ParseUnverified(%q) err = %v", bad, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	signers := []*lease.Signer{newSigner(t, 1), newSigner(t, 2)}
	ks := lease.NewKeySet(signers[0].PublicKey(), signers[1].PublicKey())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				in := sampleClaims()
				in.LeaseID = uint64(g*1000 + i + 1)
				tok, err := signers[i%2].Sign(in)
				if err == nil {
					var c *lease.Claims
					c, err = ks.Verify(tok, expectFor(in))
					if err == nil && c.LeaseID != in.LeaseID {
						err = fmt.Errorf("lease id %d, want %d", c.LeaseID, in.LeaseID)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				_ = ks.KeyIDs()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
