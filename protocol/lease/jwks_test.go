package lease_test

import (
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/protocol/lease"
)

func TestKeyIDRFC8037(t *testing.T) {
	// RFC 8037 appendix A.2 / A.3.
	x, _ := enc.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := lease.KeyID(ed25519.PublicKey(x)); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("KeyID = %s", got)
	}
	if lease.KeyID(ed25519.PublicKey{1, 2}) != "" {
		t.Fatal("KeyID of a short key is not empty")
	}
}

func TestKeySetJSONRoundTrip(t *testing.T) {
	a, b, c := newSigner(t, 1), newSigner(t, 2), newSigner(t, 3)
	ks := lease.NewKeySet(c.PublicKey(), a.PublicKey(), b.PublicKey(), a.PublicKey())
	if ks.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (duplicates merged)", ks.Len())
	}
	wantKids := []string{a.KeyID(), b.KeyID(), c.KeyID()}
	slices.Sort(wantKids)
	if !slices.Equal(ks.KeyIDs(), wantKids) {
		t.Fatalf("KeyIDs = %v, want %v", ks.KeyIDs(), wantKids)
	}
	js, err := ks.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic, and the same through encoding/json.
	js2, _ := json.Marshal(lease.NewKeySet(b.PublicKey(), c.PublicKey(), a.PublicKey()))
	if string(js) != string(js2) {
		t.Fatalf("output not deterministic:\n%s\n%s", js, js2)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("%d keys", len(doc.Keys))
	}
	for i, k := range doc.Keys {
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kid"] != wantKids[i] || len(k) != 6 {
			t.Fatalf("key %d = %v", i, k)
		}
		x, err := enc.DecodeString(k["x"])
		if err != nil || lease.KeyID(x) != k["kid"] {
			t.Fatalf("key %d: x %q does not match kid", i, k["x"])
		}
	}
	parsed, err := lease.ParseKeySet(js)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parsed.KeyIDs(), wantKids) {
		t.Fatalf("parsed KeyIDs = %v", parsed.KeyIDs())
	}
	again, _ := parsed.MarshalJSON()
	if string(again) != string(js) {
		t.Fatalf("re-marshal differs:\n%s\n%s", again, js)
	}
	in := sampleClaims()
	for _, s := range []*lease.Signer{a, b, c} {
		if _, err := parsed.Verify(mustSign(t, s, in), expectFor(in)); err != nil {
			t.Fatalf("parsed set: %v", err)
		}
	}
	// KeyIDs returns a copy.
	ids := parsed.KeyIDs()
	ids[0] = "mutated"
	if parsed.KeyIDs()[0] == "mutated" {
		t.Fatal("KeyIDs exposes internal state")
	}
	empty, _ := lease.NewKeySet().MarshalJSON()
	if string(empty) != `{"keys":[]}` {
		t.Fatalf("empty set = %s", empty)
	}
	if ks, err := lease.ParseKeySet(empty); err != nil || ks.Len() != 0 {
		t.Fatalf("ParseKeySet(empty) = %v, %v", ks, err)
	}
}

func TestParseKeySetKids(t *testing.T) {
	s := newSigner(t, 1)
	x := enc.EncodeToString(s.PublicKey())
	// Missing kid: indexed by thumbprint, so Signer tokens verify.
	ks, err := lease.ParseKeySet([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.KeyIDs(); len(got) != 1 || got[0] != s.KeyID() {
		t.Fatalf("KeyIDs = %v", got)
	}
	in := sampleClaims()
	if _, err := ks.Verify(mustSign(t, s, in), expectFor(in)); err != nil {
		t.Fatal(err)
	}
	// A custom kid is kept as written; tokens must then carry that kid.
	ks, err = lease.ParseKeySet([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"node-1 \"2026\""}],"extra":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.KeyIDs(); len(got) != 1 || got[0] != `node-1 "2026"` {
		t.Fatalf("KeyIDs = %v", got)
	}
	raw, _ := enc.DecodeString(strings.Split(mustSign(t, s, in), ".")[1])
	tok := signRaw(seedKey(1), `{"alg":"EdDSA","kid":"node-1 \"2026\"","typ":"JWT"}`, string(raw))
	if _, err := ks.Verify(tok, expectFor(in)); err != nil {
		t.Fatalf("custom kid: %v", err)
	}
	if _, err := ks.Verify(mustSign(t, s, in), expectFor(in)); lease.ReasonOf(err) != lease.ReasonUnknownKey {
		t.Fatalf("thumbprint kid against custom-kid set: %v", err)
	}
	js, _ := ks.MarshalJSON()
	if back, err := lease.ParseKeySet(js); err != nil || back.KeyIDs()[0] != `node-1 "2026"` {
		t.Fatalf("custom kid round trip: %s, %v", js, err)
	}
}

func TestParseKeySetRejects(t *testing.T) {
	x := enc.EncodeToString(newSigner(t, 1).PublicKey())
	const rsa = `{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}`
	good := `{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}`
	cases := []struct {
		name, json string
		want       []string
	}{
		{"rsa key", `{"keys":[` + good + `,` + rsa + `]}`, []string{`"rsa-1"`, `"RSA"`, "Ed25519"}},
		{"ec key", `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"ec"}]}`, []string{`"ec"`, `"EC"`}},
		{"x25519", `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + x + `","kid":"ecdh"}]}`, []string{`"ecdh"`, `"X25519"`}},
		{"bad x base64", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"not*base64","kid":"k1"}]}`, []string{`"k1"`, "x is not unpadded base64url"}},
		{"padded x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `=","kid":"k1"}]}`, []string{`"k1"`, "base64url"}},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"k2"}]}`, []string{`"k2"`, "3 bytes"}},
		{"missing x", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k3"}]}`, []string{`"k3"`, `"x" is missing`}},
		{"x not string", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":5,"kid":"k3"}]}`, []string{`"x" is not a string`}},
		{"missing kty", `{"keys":[{"crv":"Ed25519","x":"` + x + `"}]}`, []string{"#0", `"kty" is missing`}},
		{"private key", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"AQ","kid":"priv"}]}`, []string{`"priv"`, "private"}},
		{"enc use", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","use":"enc"}]}`, []string{`"enc"`}},
		{"wrong alg", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"ES256"}]}`, []string{`"ES256"`}},
		{"kid not string", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":7}]}`, []string{`"kid" is not a string`}},
		{"duplicate kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"same"},{"kty":"OKP","crv":"Ed25519","x":"` + enc.EncodeToString(newSigner(t, 2).PublicKey()) + `","kid":"same"}]}`, []string{`"same"`}},
		{"no keys member", `{"kyes":[]}`, []string{`"keys"`}},
		{"keys not array", `{"keys":{}}`, []string{`"keys"`}},
		{"not json", `{"keys":[`, []string{"JSON"}},
		{"single JWK, not a set", good, []string{`"keys"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := lease.ParseKeySet([]byte(tc.json))
			if err == nil {
				t.Fatalf("accepted: %v", ks.KeyIDs())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	// The same key listed twice with the same kid is fine.
	if ks, err := lease.ParseKeySet([]byte(`{"keys":[` + good + `,` + good + `]}`)); err != nil || ks.Len() != 1 {
		t.Errorf("duplicate identical key: %v, %v", ks, err)
	}
}
