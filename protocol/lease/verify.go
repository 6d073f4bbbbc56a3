package lease

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"
)

// Expect is what Verify checks the claims against, beyond the signature.
type Expect struct {
	Issuer  string        // if non-empty, iss must equal it (the cluster ID)
	Device  string        // if non-empty, aud must equal it (this device's Device Code)
	Feature string        // if non-empty, feat must equal it
	Now     time.Time     // the time to check nbf and exp against; zero means time.Now()
	Leeway  time.Duration // clock skew allowed on nbf and exp; negative counts as 0
}

// maxTokenLen bounds the work done on hostile input. Real tokens are a few
// hundred bytes.
const maxTokenLen = 64 << 10

// sigSegmentLen is the length of a base64url Ed25519 signature.
const sigSegmentLen = 86

// Verify checks token and returns its claims. It needs nothing but the key
// set: no network, no clock other than want.Now.
//
// Checks run in this order, and the first failure decides the Reason:
// the header and payload must be well formed (ReasonMalformed); alg must be
// EdDSA (ReasonBadAlgorithm); kid must be present and in the set
// (ReasonUnknownKey); the signature segment must be a 64-byte signature
// (ReasonMalformed) that verifies (ReasonBadSignature). Only then are claims
// looked at: the required claims iss, aud, acct, feat, lid and exp must be
// present (ReasonMalformed), then iss, aud and feat are compared with want
// (ReasonWrongIssuer, ReasonWrongDevice, ReasonWrongFeature), then time:
// now+leeway before nbf is ReasonNotYetValid, now-leeway at or after exp is
// ReasonExpired. A token without nbf has no lower bound.
//
// The error is always a *VerifyError; when the signature verified, its
// Claims field holds the (authentic) claims that failed a check.
func (ks *KeySet) Verify(token string, want Expect) (*Claims, error) {
	c, ve := ks.verify(token, &want)
	if ve != nil {
		return nil, ve
	}
	return c, nil
}

func (ks *KeySet) verify(token string, want *Expect) (*Claims, *VerifyError) {
	hs, ps, ss, ve := split(token)
	if ve != nil {
		return nil, ve
	}
	var k *keyEntry
	if ks != nil {
		// Fast path: the header is byte for byte what a Signer (or go-jose)
		// writes for a kid in the set, so it says alg EdDSA and that kid.
		k = ks.byHeader[hs]
	}
	var hdr header
	if k == nil {
		if hdr, ve = decodeHeader(hs); ve != nil {
			return nil, ve
		}
	}

	// The decoded payload goes to json.Unmarshal, so it is on the heap; the
	// signing input (a copy, as ed25519.Verify wants bytes) is on the stack
	// for tokens of ordinary size.
	payload, ok := appendB64Decode(make([]byte, 0, b64DecodedLen(len(ps))), ps)
	if !ok {
		return nil, failf(ReasonMalformed, "payload is not unpadded base64url")
	}

	if k == nil {
		if !hdr.hasAlg {
			return nil, failf(ReasonBadAlgorithm, `header has no "alg"; lease tokens are EdDSA (Ed25519)`)
		}
		if hdr.alg != "EdDSA" {
			return nil, failf(ReasonBadAlgorithm, fmt.Sprintf("alg %q is not accepted; lease tokens are EdDSA (Ed25519)", hdr.alg))
		}
		if hdr.kid == "" {
			return nil, failf(ReasonUnknownKey, `header has no "kid"; lease tokens name their signing key`)
		}
		if k = ks.lookup(hdr.kid); k == nil {
			return nil, failf(ReasonUnknownKey, fmt.Sprintf("kid %q is not in the key set (%s); the token was signed by a key this verifier was not given", hdr.kid, ks.describe()))
		}
	}

	if len(ss) != sigSegmentLen {
		return nil, failf(ReasonMalformed, fmt.Sprintf("signature segment is %d characters, want %d (a 64-byte Ed25519 signature)", len(ss), sigSegmentLen))
	}
	var sigbuf [ed25519.SignatureSize]byte
	sig, ok := appendB64Decode(sigbuf[:0], ss)
	if !ok {
		return nil, failf(ReasonMalformed, "signature is not unpadded base64url")
	}
	var stack [1024]byte
	in := append(stack[:0], token[:len(hs)+1+len(ps)]...)
	if !ed25519.Verify(k.pub, in, sig) {
		return nil, failf(ReasonBadSignature, fmt.Sprintf("signature does not verify with key %q", k.kid))
	}

	// From here on the payload is authentic.
	w, c, err := decodePayload(payload)
	if err != nil {
		return nil, failf(ReasonMalformed, "signed payload is not a valid claims object: "+err.Error())
	}
	if name := missingClaim(w); name != "" {
		return nil, &VerifyError{ReasonMalformed, fmt.Sprintf("signed payload lacks required claim %q", name), c}
	}
	if want.Issuer != "" && c.Issuer != want.Issuer {
		return nil, &VerifyError{ReasonWrongIssuer, fmt.Sprintf("expected issuer %q, token was issued by %q", want.Issuer, c.Issuer), c}
	}
	if want.Device != "" && c.Device != want.Device {
		return nil, &VerifyError{ReasonWrongDevice, fmt.Sprintf("expected device %q, token is for device %q", want.Device, c.Device), c}
	}
	if want.Feature != "" && c.Feature != want.Feature {
		return nil, &VerifyError{ReasonWrongFeature, fmt.Sprintf("expected feature %q, token is for feature %q", want.Feature, c.Feature), c}
	}
	now := want.Now
	if now.IsZero() {
		now = time.Now()
	}
	leeway := max(want.Leeway, 0)
	if !c.NotBefore.IsZero() && now.Add(leeway).Before(c.NotBefore) {
		return nil, &VerifyError{ReasonNotYetValid, fmt.Sprintf("valid from %s, in %s%s",
			c.NotBefore.Format(time.RFC3339), human(c.NotBefore.Sub(now)), leewayNote(leeway)), c}
	}
	if !now.Add(-leeway).Before(c.Expires) {
		return nil, &VerifyError{ReasonExpired, fmt.Sprintf("expired at %s, %s ago%s",
			c.Expires.Format(time.RFC3339), human(now.Sub(c.Expires)), leewayNote(leeway)), c}
	}
	return c, nil
}

// ParseUnverified decodes token without verifying its signature, for display
// and diagnostics only: it says what a token claims and which kid signed it,
// not that any of it is true. Never use its result to grant anything; use
// KeySet.Verify. The header and payload must be well formed (the error is a
// *VerifyError with ReasonMalformed otherwise); alg, the signature segment
// and required claims are not checked.
func ParseUnverified(token string) (*Claims, string, error) {
	hs, ps, _, ve := split(token)
	if ve != nil {
		return nil, "", ve
	}
	hdr, ve := decodeHeader(hs)
	if ve != nil {
		return nil, "", ve
	}
	payload, ok := appendB64Decode(make([]byte, 0, b64DecodedLen(len(ps))), ps)
	if !ok {
		return nil, "", failf(ReasonMalformed, "payload is not unpadded base64url")
	}
	_, c, err := decodePayload(payload)
	if err != nil {
		return nil, "", failf(ReasonMalformed, "payload is not a valid claims object: "+err.Error())
	}
	return c, hdr.kid, nil
}

// split cuts a compact JWS into its three segments.
func split(token string) (h, p, s string, ve *VerifyError) {
	if len(token) > maxTokenLen {
		return "", "", "", failf(ReasonMalformed, fmt.Sprintf("token is %d bytes, more than the %d allowed", len(token), maxTokenLen))
	}
	i := strings.IndexByte(token, '.')
	if i >= 0 {
		rest := token[i+1:]
		if j := strings.IndexByte(rest, '.'); j >= 0 && strings.IndexByte(rest[j+1:], '.') < 0 {
			h, p, s = token[:i], rest[:j], rest[j+1:]
			if h == "" {
				return "", "", "", failf(ReasonMalformed, "header segment is empty")
			}
			if p == "" {
				return "", "", "", failf(ReasonMalformed, "payload segment is empty")
			}
			return h, p, s, nil
		}
	}
	if token == "" {
		return "", "", "", failf(ReasonMalformed, "token is empty")
	}
	return "", "", "", failf(ReasonMalformed, fmt.Sprintf("token has %d dot-separated parts, want 3 (header.payload.signature)", strings.Count(token, ".")+1))
}

func decodeHeader(hs string) (header, *VerifyError) {
	var buf [256]byte
	raw, ok := appendB64Decode(buf[:0], hs)
	if !ok {
		return header{}, failf(ReasonMalformed, "header is not unpadded base64url")
	}
	h, err := parseHeader(raw)
	if err != nil {
		return header{}, failf(ReasonMalformed, err.Error())
	}
	return h, nil
}

func human(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func leewayNote(l time.Duration) string {
	if l == 0 {
		return ""
	}
	return " (leeway " + l.String() + ")"
}
