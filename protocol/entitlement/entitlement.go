// Package entitlement is what a software vendor signs to say what a
// customer's Tally cluster may hand out, and what an application checks,
// offline, to know that a lease lies inside it.
//
// An entitlement is a compact JWS (EdDSA, typ "tally-entitlement+jwt")
// signed by the vendor's Ed25519 key. It names the vendor, the customer,
// optionally the cluster it binds to (cluster ID and the SHA-256 of the
// cluster CA certificate), the features with their seats, add-ons and
// overage allowance, the licensing model, a validity period, a serial and
// the serial it supersedes. See docs/vendors.md and docs/design.md#vendors.
//
// The chain an application verifies is:
//
//	vendor key ─signs→ entitlement ─binds→ cluster CA ─certifies→ node
//	certificate ─signs→ key attestation ─names→ lease-signing key ─signs→ lease
//
// so that a lease signed by any other cluster, for a feature or add-on the
// entitlement does not name, or past its end, is refused with nothing but
// the vendor's public key (VerifyLease).
package entitlement

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol/jws"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Type is the JWS typ header of an entitlement.
const Type = "tally-entitlement+jwt"

// maxLen bounds the work done on hostile input; real entitlements are a few
// kilobytes.
const maxLen = 256 << 10

// Entitlement is the signed content. JSON names are fixed by the format.
type Entitlement struct {
	// Vendor names the vendor (the JWT iss).
	Vendor string `json:"iss"`
	// Customer names the customer the vendor sold to (the JWT sub).
	Customer string `json:"sub"`
	// Serial identifies this entitlement; unique per vendor (the JWT jti).
	Serial string `json:"jti"`
	// Supersedes is the serial this one replaces (a renewal, upgrade or
	// downgrade), if any.
	Supersedes string `json:"supersedes,omitempty"`
	// Cluster, when set, binds the entitlement to one cluster.
	Cluster *Binding `json:"cluster,omitempty"`
	// Model is the licensing model: floating, standard (node-locked) or
	// mixed. Empty allows any.
	Model string `json:"model,omitempty"`
	// Features lists what may be handed out.
	Features []Feature `json:"features"`
	// IssuedAt, NotBefore and Expires bound the validity (Unix seconds in
	// the JWS: iat, nbf, exp).
	IssuedAt  time.Time `json:"-"`
	NotBefore time.Time `json:"-"`
	Expires   time.Time `json:"-"`
}

// Binding names the cluster an entitlement is for. Either field may be
// empty; a lease must match every non-empty one.
type Binding struct {
	// ID is the cluster ID (a lease's iss).
	ID string `json:"id,omitempty"`
	// CASHA256 is the lowercase hex SHA-256 of the cluster CA certificate
	// (DER), as `tallyctl status` and `tally-agent entitlement` print it.
	CASHA256 string `json:"ca_sha256,omitempty"`
}

// Feature is one product the customer may use.
type Feature struct {
	Name  string `json:"name"`
	Seats int    `json:"seats"`
	// Overage is how many seats over Seats a soft-capped pool (10 seats or
	// more) may go during its grace period. Zero allows none.
	Overage int `json:"overage,omitempty"`
	// AddOns are the add-on codes leases of this feature may carry.
	AddOns []string `json:"addons,omitempty"`
}

// Feature returns the named feature, or nil.
func (e *Entitlement) Feature(name string) *Feature {
	for i := range e.Features {
		if e.Features[i].Name == name {
			return &e.Features[i]
		}
	}
	return nil
}

// ValidAt reports whether t lies in [NotBefore, Expires).
func (e *Entitlement) ValidAt(t time.Time) bool {
	return !t.Before(e.NotBefore) && t.Before(e.Expires)
}

// Check reports the first reason e is not a well-formed entitlement.
func (e *Entitlement) Check() error {
	switch {
	case strings.TrimSpace(e.Vendor) == "":
		return errors.New("entitlement: vendor (iss) is empty")
	case strings.TrimSpace(e.Customer) == "":
		return errors.New("entitlement: customer (sub) is empty")
	case strings.TrimSpace(e.Serial) == "":
		return errors.New("entitlement: serial (jti) is empty")
	case e.Supersedes == e.Serial:
		return fmt.Errorf("entitlement %s: supersedes itself", e.Serial)
	case e.Expires.IsZero():
		return fmt.Errorf("entitlement %s: no end (exp)", e.Serial)
	case !e.NotBefore.IsZero() && !e.Expires.After(e.NotBefore):
		return fmt.Errorf("entitlement %s: ends (%s) before it starts (%s)", e.Serial, fmtTime(e.Expires), fmtTime(e.NotBefore))
	case len(e.Features) == 0:
		return fmt.Errorf("entitlement %s: names no feature", e.Serial)
	}
	switch e.Model {
	case "", "floating", "standard", "mixed":
	default:
		return fmt.Errorf("entitlement %s: model %q is not floating, standard or mixed", e.Serial, e.Model)
	}
	if e.Cluster != nil && e.Cluster.CASHA256 != "" {
		if b, err := hex.DecodeString(e.Cluster.CASHA256); err != nil || len(b) != sha256.Size || strings.ToLower(e.Cluster.CASHA256) != e.Cluster.CASHA256 {
			return fmt.Errorf("entitlement %s: cluster ca_sha256 %q is not 64 lowercase hex digits", e.Serial, e.Cluster.CASHA256)
		}
	}
	seen := map[string]bool{}
	for _, f := range e.Features {
		switch {
		case strings.TrimSpace(f.Name) == "":
			return fmt.Errorf("entitlement %s: a feature has no name", e.Serial)
		case seen[f.Name]:
			return fmt.Errorf("entitlement %s: feature %s is listed twice", e.Serial, f.Name)
		case f.Seats < 1:
			return fmt.Errorf("entitlement %s: feature %s has %d seats (want 1 or more)", e.Serial, f.Name, f.Seats)
		case f.Overage < 0:
			return fmt.Errorf("entitlement %s: feature %s has a negative overage", e.Serial, f.Name)
		case slices.Contains(f.AddOns, ""):
			return fmt.Errorf("entitlement %s: feature %s has an empty add-on code", e.Serial, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// wire is the JWS payload: the Entitlement with its times as NumericDates.
type wire struct {
	Entitlement
	IssuedAt  int64 `json:"iat"`
	NotBefore int64 `json:"nbf,omitempty"`
	Expires   int64 `json:"exp"`
}

// Sign checks e and signs it with the vendor's key.
func Sign(e Entitlement, vendor ed25519.PrivateKey) (string, error) {
	if e.IssuedAt.IsZero() {
		return "", errors.New("entitlement: sign: IssuedAt is zero")
	}
	if err := e.Check(); err != nil {
		return "", err
	}
	w := wire{Entitlement: e, IssuedAt: e.IssuedAt.Unix(), Expires: e.Expires.Unix()}
	if !e.NotBefore.IsZero() {
		w.NotBefore = e.NotBefore.Unix()
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("entitlement: encode: %w", err)
	}
	token, err := jws.Sign(vendor, jws.Header{Kid: KeyID(vendor.Public().(ed25519.PublicKey)), Typ: Type}, payload)
	if err != nil {
		return "", fmt.Errorf("entitlement: %w", err)
	}
	return token, nil
}

// Signed is a verified entitlement with its compact JWS and digest.
type Signed struct {
	Entitlement
	// JWS is the compact serialization as signed.
	JWS string
	// Digest is the base64url SHA-256 of JWS; a lease's ent claim names it.
	Digest string
	// VendorKeyID is the kid of the vendor key that signed it.
	VendorKeyID string
}

// Claim is the ent claim a lease granted under s carries: "serial:digest".
func (s *Signed) Claim() string { return s.Serial + ":" + s.Digest }

// Digest returns the base64url SHA-256 of a compact JWS.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify checks the vendor's signature on a compact JWS against any of the
// given vendor keys and decodes it strictly: unknown members, duplicate or
// case-variant keys, and a missing or wrong typ are refused. It does not
// look at the clock (ValidAt does).
func Verify(token string, vendorKeys ...ed25519.PublicKey) (*Signed, error) {
	token = strings.TrimSpace(token)
	if len(token) > maxLen {
		return nil, fmt.Errorf("entitlement: %d bytes is more than %d", len(token), maxLen)
	}
	if len(vendorKeys) == 0 {
		return nil, errors.New("entitlement: no vendor key to verify with")
	}
	tok, err := jws.Parse(token, maxLen, jws.EdDSA)
	if err != nil {
		return nil, fmt.Errorf("entitlement: not a compact EdDSA JWS: %w", err)
	}
	if typ := tok.Header.Typ; typ != Type {
		return nil, fmt.Errorf("entitlement: typ is %q, want %q (is this a lease token?)", typ, Type)
	}
	var payload []byte
	var kid string
	for _, k := range vendorKeys {
		if tok.Verify(k) == nil {
			payload, kid = tok.Payload, KeyID(k)
			break
		}
	}
	if payload == nil {
		return nil, fmt.Errorf("entitlement: signature does not verify with the vendor key(s) %s", describeKeys(vendorKeys))
	}
	var w wire
	if err := decodeStrict(payload, &w); err != nil {
		return nil, fmt.Errorf("entitlement: payload: %w", err)
	}
	e := w.Entitlement
	e.IssuedAt = time.Unix(w.IssuedAt, 0).UTC()
	e.Expires = time.Unix(w.Expires, 0).UTC()
	if w.NotBefore != 0 {
		e.NotBefore = time.Unix(w.NotBefore, 0).UTC()
	} else {
		e.NotBefore = e.IssuedAt
	}
	if w.IssuedAt == 0 {
		return nil, fmt.Errorf("entitlement %s: no iat", e.Serial)
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return &Signed{Entitlement: e, JWS: token, Digest: Digest(token), VendorKeyID: kid}, nil
}

// ParseUnverified decodes an entitlement without checking its signature,
// for display (`tallyctl entitlements show` before a vendor key is known).
func ParseUnverified(token string) (*Entitlement, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return nil, errors.New("entitlement: not a compact JWS (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("entitlement: payload is not base64url: %w", err)
	}
	var w wire
	if err := decodeStrict(payload, &w); err != nil {
		return nil, fmt.Errorf("entitlement: payload: %w", err)
	}
	e := w.Entitlement
	e.IssuedAt, e.Expires = time.Unix(w.IssuedAt, 0).UTC(), time.Unix(w.Expires, 0).UTC()
	e.NotBefore = e.IssuedAt
	if w.NotBefore != 0 {
		e.NotBefore = time.Unix(w.NotBefore, 0).UTC()
	}
	return &e, nil
}

// decodeStrict refuses unknown members, duplicate members and members whose
// name differs from a known one only in case (encoding/json would match
// them case-insensitively), so that one entitlement has one meaning for
// every reader.
func decodeStrict(b []byte, v any) error {
	if err := checkKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// checkKeys walks every object in b and refuses a repeated member name, or
// one that is not exactly one of the names this format uses.
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > 16 {
			return errors.New("nested too deeply")
		}
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if seen[k] {
					return fmt.Errorf("member %q appears twice", k)
				}
				if !knownNames[k] {
					return fmt.Errorf("unknown member %q", k)
				}
				seen[k] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	return walk(0)
}

var knownNames = map[string]bool{
	"iss": true, "sub": true, "jti": true, "supersedes": true, "cluster": true, "model": true,
	"features": true, "iat": true, "nbf": true, "exp": true, "id": true, "ca_sha256": true,
	"name": true, "seats": true, "overage": true, "addons": true,
}

// KeyID is the RFC 7638 thumbprint of a vendor public key, as the kid of the
// entitlements it signs: the same thumbprint as a lease-signing key's.
func KeyID(pub ed25519.PublicKey) string { return lease.KeyID(pub) }

func describeKeys(keys []ed25519.PublicKey) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = KeyID(k)
	}
	return strings.Join(ids, ", ")
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
