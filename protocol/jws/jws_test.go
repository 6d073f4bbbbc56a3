package jws_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tally-licensing/tally/protocol/jws"
)

const typ = "tally-test+jwt"

var payload = []byte(`{"iss":"vendor","n":1}`)

func edKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// selfSigned is a DER certificate for key, for x5c.
func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func goJoseSign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, x5c [][]byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(typ)
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	if len(x5c) > 0 {
		var enc []string
		for _, der := range x5c {
			enc = append(enc, base64.StdEncoding.EncodeToString(der))
		}
		opts = opts.WithHeader("x5c", enc)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
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

// TestEd25519IsByteForByteGoJose: Ed25519 signatures are deterministic, so
// the same header, payload and key give the token go-jose writes.
func TestEd25519IsByteForByteGoJose(t *testing.T) {
	k := edKey(t)
	der := selfSigned(t, k)
	for _, h := range []jws.Header{{Kid: "vendor-1", Typ: typ}, {Typ: typ, X5C: [][]byte{der, der}}} {
		ours, err := jws.Sign(k, h, payload)
		if err != nil {
			t.Fatal(err)
		}
		theirs := goJoseSign(t, jose.EdDSA, k, h.Kid, h.X5C)
		if ours != theirs {
			t.Fatalf("header %+v:\nours   %s\ngo-jose %s", h, ours, theirs)
		}
	}
}

// TestInterop: what either library signs, the other verifies, for both
// algorithms; and the header go-jose reads is the one we wrote.
func TestInterop(t *testing.T) {
	ed, ec := edKey(t), ecKey(t, elliptic.P256())
	for _, c := range []struct {
		alg jose.SignatureAlgorithm
		key crypto.Signer
	}{{jose.EdDSA, ed}, {jose.ES256, ec}} {
		der := selfSigned(t, c.key)
		// Ours, read by go-jose.
		tok, err := jws.Sign(c.key, jws.Header{Kid: "k1", Typ: typ, X5C: [][]byte{der}}, payload)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{c.alg})
		if err != nil {
			t.Fatalf("%s: go-jose parses ours: %v", c.alg, err)
		}
		got, err := obj.Verify(c.key.Public())
		if err != nil || string(got) != string(payload) {
			t.Fatalf("%s: go-jose verifies ours: %v, %q", c.alg, err, got)
		}
		h := obj.Signatures[0].Protected
		if h.KeyID != "k1" || h.ExtraHeaders[jose.HeaderType] != typ {
			t.Fatalf("%s: go-jose reads our header as %+v", c.alg, h)
		}
		// go-jose's, read by ours.
		theirs := goJoseSign(t, c.alg, c.key, "k2", [][]byte{der})
		p, err := jws.Parse(theirs, 1<<20, jws.EdDSA, jws.ES256)
		if err != nil {
			t.Fatalf("%s: parse go-jose's: %v", c.alg, err)
		}
		if err := p.Verify(c.key.Public()); err != nil {
			t.Fatalf("%s: verify go-jose's: %v", c.alg, err)
		}
		if p.Header.Alg != string(c.alg) || p.Header.Kid != "k2" || p.Header.Typ != typ || len(p.Certs) != 1 || string(p.Certs[0].Raw) != string(der) || string(p.Payload) != string(payload) {
			t.Fatalf("%s: go-jose's token read as %+v", c.alg, p)
		}
	}
}

// TestForgedAndAlteredAreRefused: one changed character anywhere, another
// key, a key of the other algorithm, or a signature for other bytes fails.
func TestForgedAndAlteredAreRefused(t *testing.T) {
	ed, ec := edKey(t), ecKey(t, elliptic.P256())
	for _, key := range []crypto.Signer{ed, ec} {
		tok, err := jws.Sign(key, jws.Header{Typ: typ}, payload)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jws.Parse(tok, 1<<20, jws.EdDSA, jws.ES256)
		if err != nil || p.Verify(key.Public()) != nil {
			t.Fatalf("the genuine token: %v", err)
		}
		for i := range tok {
			if tok[i] == '.' {
				continue
			}
			for _, c := range []byte{'A', 'B', '_'} {
				if tok[i] == c {
					continue
				}
				forged := tok[:i] + string(c) + tok[i+1:]
				if p, err := jws.Parse(forged, 1<<20, jws.EdDSA, jws.ES256); err == nil && p.Verify(key.Public()) == nil {
					t.Fatalf("character %d changed to %c still verifies: %s", i, c, forged)
				}
			}
		}
		if p.Verify(edKey(t).Public()) == nil || p.Verify(ecKey(t, elliptic.P256()).Public()) == nil {
			t.Fatal("verified under another key")
		}
		// A header and payload from one token, the signature from another.
		other, _ := jws.Sign(key, jws.Header{Typ: typ}, []byte(`{"iss":"vendor","n":2}`))
		spliced := tok[:strings.LastIndexByte(tok, '.')] + other[strings.LastIndexByte(other, '.'):]
		if p, err := jws.Parse(spliced, 1<<20, jws.EdDSA, jws.ES256); err == nil && p.Verify(key.Public()) == nil {
			t.Fatal("a spliced signature verifies")
		}
	}
}

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestParseIsStrict: what Parse refuses before any signature is checked.
func TestParseIsStrict(t *testing.T) {
	k := edKey(t)
	good, _ := jws.Sign(k, jws.Header{Typ: typ}, payload)
	parts := strings.Split(good, ".")
	sig := parts[2]
	body := parts[1]
	der := selfSigned(t, k)
	for name, tok := range map[string]string{
		"empty":                   "",
		"two parts":               parts[0] + "." + parts[1],
		"four parts":              good + ".x",
		"empty payload":           parts[0] + ".." + sig,
		"alg none":                seg(`{"alg":"none"}`) + "." + body + "." + sig,
		"alg HS256":               seg(`{"alg":"HS256"}`) + "." + body + "." + sig,
		"alg RS256":               seg(`{"alg":"RS256"}`) + "." + body + "." + sig,
		"no alg":                  seg(`{"typ":"x"}`) + "." + body + "." + sig,
		"alg not a string":        seg(`{"alg":1}`) + "." + body + "." + sig,
		"upper-case ALG":          seg(`{"ALG":"EdDSA","alg":"none"}`) + "." + body + "." + sig,
		"duplicate alg":           seg(`{"alg":"EdDSA","alg":"none"}`) + "." + body + "." + sig,
		"duplicate typ":           seg(`{"alg":"EdDSA","typ":"a","typ":"b"}`) + "." + body + "." + sig,
		"crit":                    seg(`{"alg":"EdDSA","crit":["exp"],"exp":1}`) + "." + body + "." + sig,
		"header not an object":    seg(`["alg"]`) + "." + body + "." + sig,
		"data after the header":   seg(`{"alg":"EdDSA"}{}`) + "." + body + "." + sig,
		"padded header":           base64.URLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"tally-test+jwt"}`)) + "." + body + "." + sig,
		"standard-alphabet sig":   parts[0] + "." + body + "." + strings.NewReplacer("-", "+", "_", "/").Replace(sig) + "+",
		"trailing bits in sig":    parts[0] + "." + body + "." + sig[:85] + string(sig[85]+1),
		"line break in payload":   parts[0] + "." + body[:4] + "\n" + body[4:] + "." + sig,
		"short signature":         parts[0] + "." + body + "." + sig[:43],
		"x5c not base64":          seg(`{"alg":"EdDSA","x5c":["%%%"]}`) + "." + body + "." + sig,
		"x5c url alphabet":        seg(`{"alg":"EdDSA","x5c":["`+base64.RawURLEncoding.EncodeToString(der)+`"]}`) + "." + body + "." + sig,
		"x5c not a certificate":   seg(`{"alg":"EdDSA","x5c":["AAAA"]}`) + "." + body + "." + sig,
		"x5c not an array":        seg(`{"alg":"EdDSA","x5c":"`+base64.StdEncoding.EncodeToString(der)+`"}`) + "." + body + "." + sig,
		"ES256 where EdDSA only":  seg(`{"alg":"ES256"}`) + "." + body + "." + sig,
		"larger than the maximum": parts[0] + "." + seg(strings.Repeat("x", 2000)) + "." + sig,
	} {
		algs := []string{jws.EdDSA}
		if _, err := jws.Parse(tok, 2000, algs...); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// The bit-exact original still parses.
	if _, err := jws.Parse(good, 2000, jws.EdDSA); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNeedsTheAlgorithmsKey: an ES256 header with an Ed25519 key (or
// the reverse) is refused, not verified some other way; so is P-384.
func TestVerifyNeedsTheAlgorithmsKey(t *testing.T) {
	ed, ec := edKey(t), ecKey(t, elliptic.P256())
	tok, _ := jws.Sign(ec, jws.Header{}, payload)
	p, err := jws.Parse(tok, 1<<20, jws.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ed.Public()); err == nil || errors.Is(err, jws.ErrSignature) {
		t.Fatalf("ES256 with an Ed25519 key: %v", err)
	}
	if err := p.Verify(ecKey(t, elliptic.P384()).Public()); err == nil {
		t.Fatal("ES256 with a P-384 key verified")
	}
	if _, err := jws.Sign(ecKey(t, elliptic.P384()), jws.Header{}, payload); err == nil {
		t.Fatal("signed with P-384 as ES256")
	}
}
