package lease

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestB64DecodeMatchesStrictStdlib(t *testing.T) {
	strict := base64.RawURLEncoding.Strict()
	inputs := []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "_-_-", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy",
		"Zm9vYh", "Zm9vYmF", "Zm9v=", "Zm9vYg==", "Zm9+", "Zm9/", "Zm\n9v", "Zm9v\r", " Zm9v", "Zm9vY", "é"}
	for _, s := range inputs {
		checkB64(t, strict, s)
	}
}

func FuzzB64Decode(f *testing.F) {
	for _, s := range []string{"", "AA", "AB", "Zm9vYmE", "Zm9vYh", "Zm\n9v", "a=b", "_-"} {
		f.Add(s)
	}
	strict := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, s string) { checkB64(t, strict, s) })
}

func checkB64(t *testing.T, strict *base64.Encoding, s string) {
	t.Helper()
	got, ok := appendB64Decode(nil, s)
	want, err := strict.DecodeString(s)
	// encoding/base64 silently skips CR and LF; we reject them.
	if strings.ContainsAny(s, "\r\n") {
		if ok {
			t.Fatalf("%q: accepted a line break", s)
		}
		return
	}
	if ok != (err == nil) {
		t.Fatalf("%q: ok=%v, stdlib err=%v", s, ok, err)
	}
	if ok {
		if string(got) != string(want) || len(got) != b64DecodedLen(len(s)) {
			t.Fatalf("%q: got %x, want %x", s, got, want)
		}
		if b64.EncodeToString(got) != s {
			t.Fatalf("%q: not canonical", s)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"`, `\`, "\x00\x01\x1f\x7f", "a\nb\rc\td", "</script>&", "é☃😀", "\u2028\u2029", `\u0041`} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%q -> %s -> %q, %v", s, b, back, err)
		}
	}
}

func TestParseHeader(t *testing.T) {
	h, err := parseHeader([]byte(`{"alg":"EdDSA","kid":"k","typ":"JWT","jwk":{"kty":"OKP"}}`))
	if err != nil || h.alg != "EdDSA" || h.kid != "k" || !h.hasAlg || !h.hasKid {
		t.Fatalf("%+v %v", h, err)
	}
	// encoding/json would match these case-insensitively; we do not.
	h, err = parseHeader([]byte(`{"Alg":"EdDSA","KID":"k"}`))
	if err != nil || h.hasAlg || h.hasKid {
		t.Fatalf("%+v %v", h, err)
	}
	// The header a Signer writes is exactly what the fast path indexes.
	raw, _ := b64.DecodeString(encodedHeader("k\"1"))
	if h, err := parseHeader(raw); err != nil || h.kid != "k\"1" || h.typ != "JWT" {
		t.Fatalf("%s: %+v %v", raw, h, err)
	}
}

func TestNumericDate(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1700000000": 1700000000, "1700000000.9": 1700000000, "1.7e9": 1700000000, "253402300799": maxUnix} {
		var d numericDate
		if err := d.UnmarshalJSON([]byte(in)); err != nil || !d.set || d.sec != want {
			t.Errorf("%s: %+v %v", in, d, err)
		}
	}
	for _, in := range []string{"-1", "253402300800", "1e20", "-0.5", `"1"`, "true"} {
		var d numericDate
		if err := d.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s accepted: %+v", in, d)
		}
	}
	var d numericDate
	if err := d.UnmarshalJSON([]byte("null")); err != nil || d.set {
		t.Errorf("null: %+v %v", d, err)
	}
}

// RFC 8037 appendix A.4: the Ed25519 JWS test vector verifies with the same
// primitives Verify uses.
func TestRFC8037Vector(t *testing.T) {
	seed, _ := appendB64Decode(nil, "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	x, _ := appendB64Decode(nil, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	k := ed25519.NewKeyFromSeed(seed)
	if string(k[32:]) != string(x) {
		t.Fatal("seed does not give x")
	}
	const jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	parts := strings.Split(jws, ".")
	sig, ok := appendB64Decode(nil, parts[2])
	if !ok || !ed25519.Verify(ed25519.PublicKey(x), []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("RFC 8037 signature does not verify")
	}
	if got := b64.EncodeToString(ed25519.Sign(k, []byte(parts[0]+"."+parts[1]))); got != parts[2] {
		t.Fatalf("signature = %s", got)
	}
	// Through Verify it is reported as lacking a kid (it has none).
	_, err := NewKeySet(ed25519.PublicKey(x)).Verify(jws, Expect{})
	if ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("err = %v", err)
	}
}
