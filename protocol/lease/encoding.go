package lease

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tally-licensing/tally/protocol/jws"
)

// b64 is the only encoding used on the wire: base64url without padding
// (RFC 7515 section 2). Encoding with it is canonical.
var b64 = base64.RawURLEncoding

// appendB64Decode appends the decoding of the base64url segment s to dst,
// accepting exactly one encoding of every byte string: protocol/jws's
// strict decoder, which the other signed files Tally writes use too.
func appendB64Decode(dst []byte, s string) ([]byte, bool) { return jws.AppendDecode(dst, s) }

// b64DecodedLen is the number of bytes s decodes to, when it is valid.
func b64DecodedLen(n int) int { return jws.DecodedLen(n) }

// appendJSONString appends s as a JSON string. s must be valid UTF-8 (Sign
// checks); only the characters JSON requires are escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendPayload appends the claims JSON object in the fixed member order
// iss, aud, acct, usr, feat, addons, ent, lid, kind, iat, nbf, exp.
func appendPayload(dst []byte, c *Claims, iat, nbf, exp int64) []byte {
	dst = append(dst, `{"iss":`...)
	dst = appendJSONString(dst, c.Issuer)
	dst = append(dst, `,"aud":`...)
	dst = appendJSONString(dst, c.Device)
	dst = append(dst, `,"acct":`...)
	dst = appendJSONString(dst, c.Account)
	if c.User != "" {
		dst = append(dst, `,"usr":`...)
		dst = appendJSONString(dst, c.User)
	}
	dst = append(dst, `,"feat":`...)
	dst = appendJSONString(dst, c.Feature)
	if len(c.AddOns) > 0 {
		dst = append(dst, `,"addons":[`...)
		for i, a := range c.AddOns {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, a)
		}
		dst = append(dst, ']')
	}
	if c.Entitlement != "" {
		dst = append(dst, `,"ent":`...)
		dst = appendJSONString(dst, c.Entitlement)
	}
	dst = append(dst, `,"lid":`...)
	dst = strconv.AppendUint(dst, c.LeaseID, 10)
	dst = append(dst, `,"kind":`...)
	dst = appendJSONString(dst, string(c.Kind))
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, iat, 10)
	dst = append(dst, `,"nbf":`...)
	dst = strconv.AppendInt(dst, nbf, 10)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, exp, 10)
	return append(dst, '}')
}

// appendHeader appends the protected header a Signer emits (and go-jose emits
// for the same fields: members sorted by name).
func appendHeader(dst []byte, kid string) []byte {
	dst = append(dst, `{"alg":"EdDSA","kid":`...)
	dst = appendJSONString(dst, kid)
	return append(dst, `,"typ":"JWT"}`...)
}

// encodedHeader is the base64url header segment a Signer with this kid emits.
func encodedHeader(kid string) string {
	return b64.EncodeToString(appendHeader(nil, kid))
}

// maxUnix bounds NumericDate values: 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// numericDate is a JSON NumericDate (RFC 7519): seconds since the epoch. An
// integer is expected; a fractional value (allowed by the RFC, and produced
// by some libraries) is truncated toward the past.
type numericDate struct {
	sec int64
	set bool
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		if v < 0 || v > maxUnix {
			return fmt.Errorf("date %d is out of range", v)
		}
		d.sec, d.set = v, true
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(f >= 0 && f < maxUnix+1) { // also rejects NaN
		return fmt.Errorf("date %.40q is not a NumericDate", b)
	}
	d.sec, d.set = int64(f), true
	return nil
}

func (d numericDate) time() time.Time {
	if !d.set {
		return time.Time{}
	}
	return time.Unix(d.sec, 0).UTC()
}

// audience is the aud claim: a single string, or an array holding exactly
// one string (RFC 7519 allows both; a lease is for exactly one device).
type audience string

func (a *audience) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) >= 2 && b[0] == '"':
		// The decoder has already checked b is a JSON string; without
		// escapes, and valid UTF-8, its contents are the value.
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*a = audience(inner)
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience(s)
	case len(b) > 0 && b[0] == '[':
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			return err
		}
		if len(ss) != 1 {
			return fmt.Errorf("aud names %d audiences, a lease token needs exactly one device", len(ss))
		}
		*a = audience(ss[0])
	case string(b) == "null":
	default:
		return errors.New("aud is neither a string nor an array of strings")
	}
	return nil
}

// wireClaims is the payload as decoded.
type wireClaims struct {
	Iss    string      `json:"iss"`
	Aud    audience    `json:"aud"`
	Acct   string      `json:"acct"`
	Usr    string      `json:"usr"`
	Feat   string      `json:"feat"`
	AddOns []string    `json:"addons"`
	Ent    string      `json:"ent"`
	Lid    uint64      `json:"lid"`
	Kind   Kind        `json:"kind"`
	Iat    numericDate `json:"iat"`
	Nbf    numericDate `json:"nbf"`
	Exp    numericDate `json:"exp"`
}

func decodePayload(p []byte) (*wireClaims, *Claims, error) {
	// One allocation for both: the decoded wire form and the result.
	both := new(struct {
		w wireClaims
		c Claims
	})
	w := &both.w
	if err := checkClaimMembers(p); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(p, w); err != nil {
		return nil, nil, err
	}
	c := &both.c
	*c = Claims{
		Issuer:      w.Iss,
		Device:      string(w.Aud),
		Account:     w.Acct,
		User:        w.Usr,
		Feature:     w.Feat,
		AddOns:      w.AddOns,
		Entitlement: w.Ent,
		LeaseID:     w.Lid,
		Kind:        w.Kind,
		IssuedAt:    w.Iat.time(),
		NotBefore:   w.Nbf.time(),
		Expires:     w.Exp.time(),
	}
	if len(c.AddOns) == 0 {
		c.AddOns = nil
	}
	return w, c, nil
}

// missingClaim names the first required claim absent from w, or "".
func missingClaim(w *wireClaims) string {
	switch {
	case w.Iss == "":
		return "iss"
	case w.Aud == "":
		return "aud"
	case w.Acct == "":
		return "acct"
	case w.Feat == "":
		return "feat"
	case w.Lid == 0:
		return "lid"
	case !w.Exp.set:
		return "exp"
	}
	return ""
}

// header is the part of a JWS protected header we look at.
type header struct {
	alg, kid, typ  string
	hasAlg, hasKid bool
}

// parseHeader parses a protected header strictly: a single JSON object,
// member names matched exactly (encoding/json would match "ALG" to alg),
// no duplicate members, alg/kid/typ must be strings, and no "crit" (we
// implement no extensions, so RFC 7515 section 4.1.11 says reject).
func parseHeader(b []byte) (header, error) {
	var h header
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, errors.New("header is not a JSON object")
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("header is not valid JSON: %v", err)
		}
		name, _ := t.(string)
		for _, s := range seen {
			if s == name {
				return h, fmt.Errorf("header has a duplicate %q member", name)
			}
		}
		seen = append(seen, name)
		var dst *string
		switch name {
		case "alg":
			dst, h.hasAlg = &h.alg, true
		case "kid":
			dst, h.hasKid = &h.kid, true
		case "typ":
			dst = &h.typ
		case "crit":
			return h, errors.New(`header has a "crit" member; no JWS extensions are supported`)
		}
		if dst != nil {
			if err := dec.Decode(dst); err != nil {
				return h, fmt.Errorf("header member %q is not a string", name)
			}
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return h, fmt.Errorf("header is not valid JSON: %v", err)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return h, errors.New("header is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, errors.New("header has data after the JSON object")
	}
	if h.typ != "" && !strings.EqualFold(h.typ, "JWT") && !strings.EqualFold(h.typ, "application/jwt") {
		return h, fmt.Errorf("header typ is %q, want JWT", h.typ)
	}
	return h, nil
}
