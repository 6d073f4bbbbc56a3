// Package jws signs and verifies the compact JWS (RFC 7515) files Tally
// writes besides lease tokens: a vendor's entitlements, a cluster's true-up
// reports, and an air-gapped device's offline requests and returns.
//
// It does the little those files need — EdDSA (Ed25519, RFC 8037) and ES256
// (ECDSA P-256, RFC 7518), a protected header of alg, kid, typ and x5c, one
// signature — and is strict where general JOSE libraries are lenient:
// base64url must be canonical (unpadded, no line breaks, zero trailing
// bits), the header is one JSON object whose member names match exactly and
// appear once, alg must be one the caller allows, and "crit" (no extension
// is implemented) is refused. Files it signs are byte for byte what go-jose
// writes for the same header and Ed25519 key, and each library verifies the
// other's (protocol/jws tests).
//
// It replaces go-jose in Tally's own code so that tally-agent, which signs
// offline requests and reads entitlements, does not link a general JOSE
// library (docs/performance.md, agent footprint). Lease tokens have their
// own faster verifier (protocol/lease), built on the same base64url decoder.
package jws

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// The signature algorithms (the alg header).
const (
	EdDSA = "EdDSA" // Ed25519
	ES256 = "ES256" // ECDSA P-256 with SHA-256
)

// Header is the protected header of a file. Sign writes its members sorted
// by name, as go-jose does: alg, kid, typ, x5c; empty ones are left out.
type Header struct {
	Alg string // set by Sign from the key
	Kid string
	Typ string
	// X5C are DER certificates, the signer's first (standard base64 in the
	// header, RFC 7515 section 4.1.6).
	X5C [][]byte
}

// Sign signs payload with key (an Ed25519 or ECDSA P-256 key; any
// crypto.Signer holding one, such as a hardware-backed key) and returns the
// compact serialization. h.Alg is ignored: the key decides it.
func Sign(key crypto.Signer, h Header, payload []byte) (string, error) {
	switch k := key.Public().(type) {
	case ed25519.PublicKey:
		h.Alg = EdDSA
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("jws: ECDSA key on %s, want P-256 (ES256)", k.Curve.Params().Name)
		}
		h.Alg = ES256
	default:
		return "", fmt.Errorf("jws: cannot sign with a %T key (want Ed25519 or ECDSA P-256)", k)
	}
	hdr, err := marshalHeader(h)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(b64.EncodeToString(hdr))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(payload))
	input := b.String()
	var sig []byte
	if h.Alg == EdDSA {
		if sig, err = key.Sign(rand.Reader, []byte(input), crypto.Hash(0)); err != nil {
			return "", fmt.Errorf("jws: sign: %w", err)
		}
	} else {
		digest := sha256.Sum256([]byte(input))
		der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("jws: sign: %w", err)
		}
		if sig, err = fixedSize(der); err != nil {
			return "", err
		}
	}
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(sig))
	return b.String(), nil
}

// fixedSize turns an ASN.1 ECDSA signature into the JWS form: R and S as
// 32-byte big-endian integers (RFC 7518 section 3.4).
func fixedSize(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, errors.New("jws: sign: the key returned a malformed ECDSA signature")
	}
	if rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("jws: sign: the key returned an ECDSA signature too large for P-256")
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}

func marshalHeader(h Header) ([]byte, error) {
	str := func(s string) []byte { b, _ := json.Marshal(s); return b }
	b := append([]byte(`{"alg":`), str(h.Alg)...)
	if h.Kid != "" {
		b = append(append(b, `,"kid":`...), str(h.Kid)...)
	}
	if h.Typ != "" {
		b = append(append(b, `,"typ":`...), str(h.Typ)...)
	}
	if len(h.X5C) > 0 {
		b = append(b, `,"x5c":[`...)
		for i, der := range h.X5C {
			if len(der) == 0 {
				return nil, fmt.Errorf("jws: x5c[%d] is empty", i)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(append(b, '"'), base64.StdEncoding.EncodeToString(der)...), '"')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// Token is a parsed, not yet verified, file.
type Token struct {
	Header Header
	// Certs are the x5c certificates, parsed (not verified: that is the
	// caller's business, against its own roots).
	Certs   []*x509.Certificate
	Payload []byte
	input   string // header "." payload, as signed
	sig     []byte
}

// Parse decodes a compact JWS of at most maxLen bytes whose alg is one of
// algs. Nothing is verified yet: call Verify with the key the caller trusts
// (or the key of a certificate it has checked). Payloads must not be empty.
func Parse(token string, maxLen int, algs ...string) (*Token, error) {
	if len(token) > maxLen {
		return nil, fmt.Errorf("jws: %d bytes is more than the %d allowed", len(token), maxLen)
	}
	hs, rest, ok1 := strings.Cut(token, ".")
	ps, ss, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(ss, ".") {
		return nil, fmt.Errorf("jws: not a compact JWS: %d dot-separated parts, want 3 (header.payload.signature)", strings.Count(token, ".")+1)
	}
	if hs == "" || ps == "" || ss == "" {
		return nil, errors.New("jws: not a compact JWS: an empty part")
	}
	raw, ok := AppendDecode(nil, hs)
	if !ok {
		return nil, errors.New("jws: header is not canonical unpadded base64url")
	}
	t := &Token{input: token[:len(hs)+1+len(ps)]}
	if err := parseHeader(raw, &t.Header); err != nil {
		return nil, fmt.Errorf("jws: header: %w", err)
	}
	if t.Header.Alg == "" {
		return nil, errors.New(`jws: header has no "alg"`)
	}
	allowed := false
	for _, a := range algs {
		allowed = allowed || a == t.Header.Alg
	}
	if !allowed {
		return nil, fmt.Errorf("jws: alg %q is not accepted here (want %s)", t.Header.Alg, strings.Join(algs, " or "))
	}
	for i, der := range t.Header.X5C {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("jws: x5c[%d]: %w", i, err)
		}
		t.Certs = append(t.Certs, c)
	}
	if t.Payload, ok = AppendDecode(nil, ps); !ok {
		return nil, errors.New("jws: payload is not canonical unpadded base64url")
	}
	if t.sig, ok = AppendDecode(nil, ss); !ok {
		return nil, errors.New("jws: signature is not canonical unpadded base64url")
	}
	if len(t.sig) != 64 {
		return nil, fmt.Errorf("jws: signature is %d bytes, an %s signature is 64", len(t.sig), t.Header.Alg)
	}
	return t, nil
}

// ErrSignature is the error of a signature that does not verify.
var ErrSignature = errors.New("jws: the signature does not verify")

// Verify checks the signature with pub, which must be the kind of key the
// header's alg names (ed25519.PublicKey for EdDSA, *ecdsa.PublicKey on P-256
// for ES256).
func (t *Token) Verify(pub crypto.PublicKey) error {
	switch t.Header.Alg {
	case EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("jws: alg EdDSA needs an Ed25519 key, not %T", pub)
		}
		if !ed25519.Verify(k, []byte(t.input), t.sig) {
			return ErrSignature
		}
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return fmt.Errorf("jws: alg ES256 needs an ECDSA P-256 key, not %T", pub)
		}
		digest := sha256.Sum256([]byte(t.input))
		r, s := new(big.Int).SetBytes(t.sig[:32]), new(big.Int).SetBytes(t.sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return ErrSignature
		}
	default:
		return fmt.Errorf("jws: alg %q", t.Header.Alg)
	}
	return nil
}

// parseHeader reads a protected header strictly: one JSON object, member
// names matched exactly (encoding/json would fill alg from "ALG") and never
// repeated, alg/kid/typ strings, x5c an array of canonical standard-base64
// strings, and no "crit". Other members (jwk, x5t, cty, ...) are ignored, as
// no verifier here uses them.
func parseHeader(b []byte, h *Header) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not valid JSON: %v", err)
		}
		name, _ := t.(string)
		if seen[name] {
			return fmt.Errorf("member %q appears twice", name)
		}
		seen[name] = true
		var dst *string
		switch name {
		case "alg":
			dst = &h.Alg
		case "kid":
			dst = &h.Kid
		case "typ":
			dst = &h.Typ
		case "crit":
			return errors.New(`has a "crit" member; no JWS extensions are supported`)
		case "x5c":
			var x5c []string
			if err := dec.Decode(&x5c); err != nil {
				return errors.New("x5c is not an array of strings")
			}
			for i, s := range x5c {
				der, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(der) == 0 || base64.StdEncoding.EncodeToString(der) != s {
					return fmt.Errorf("x5c[%d] is not canonical standard base64", i)
				}
				h.X5C = append(h.X5C, der)
			}
			continue
		}
		if dst != nil {
			if err := dec.Decode(dst); err != nil {
				return fmt.Errorf("member %q is not a string", name)
			}
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("not valid JSON: %v", err)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errors.New("not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// b64 encodes base64url without padding (RFC 7515 section 2): canonical.
var b64 = base64.RawURLEncoding

// b64Values maps a base64url character to its 6-bit value, or 0xff.
var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// DecodedLen is the number of bytes n base64url characters decode to, when
// they are valid.
func DecodedLen(n int) int { return n * 6 / 8 }

// AppendDecode appends the decoding of the base64url segment s to dst. It
// is strict where encoding/base64 is lenient: only the 64 base64url
// characters are accepted (no padding, no CR/LF, no standard-alphabet + and
// /), and the unused low bits of the last character must be zero, so every
// byte string has exactly one accepted encoding.
func AppendDecode(dst []byte, s string) ([]byte, bool) {
	n := len(s)
	if n%4 == 1 {
		return dst, false
	}
	i := 0
	for ; i+4 <= n; i += 4 {
		a, b, c, d := b64Values[s[i]], b64Values[s[i+1]], b64Values[s[i+2]], b64Values[s[i+3]]
		if (a|b|c|d)&0xc0 != 0 {
			return dst, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst = append(dst, byte(v>>16), byte(v>>8), byte(v))
	}
	switch n - i {
	case 2:
		a, b := b64Values[s[i]], b64Values[s[i+1]]
		if (a|b)&0xc0 != 0 || b&0x0f != 0 {
			return dst, false
		}
		dst = append(dst, a<<2|b>>4)
	case 3:
		a, b, c := b64Values[s[i]], b64Values[s[i+1]], b64Values[s[i+2]]
		if (a|b|c)&0xc0 != 0 || c&0x03 != 0 {
			return dst, false
		}
		v := uint32(a)<<12 | uint32(b)<<6 | uint32(c)
		dst = append(dst, byte(v>>10), byte(v>>2))
	}
	return dst, true
}
