package lease

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// KeySet is a set of Ed25519 public keys indexed by kid: what a verifier
// needs, and all it needs. A KeySet is immutable after construction and safe
// for concurrent use.
type KeySet struct {
	byKID    map[string]*keyEntry
	byHeader map[string]*keyEntry // the exact header segment a Signer emits for the kid
	kids     []string             // sorted
}

type keyEntry struct {
	kid string
	pub ed25519.PublicKey
}

// NewKeySet returns a set holding pubs, each under its RFC 7638 thumbprint
// (KeyID), which is the kid a Signer writes. Duplicates are merged. A key
// that is not 32 bytes long is skipped (it can verify nothing); compare Len
// with len(pubs) if that matters.
func NewKeySet(pubs ...ed25519.PublicKey) *KeySet {
	entries := make([]*keyEntry, 0, len(pubs))
	for _, p := range pubs {
		if len(p) != ed25519.PublicKeySize {
			continue
		}
		entries = append(entries, &keyEntry{kid: KeyID(p), pub: slices.Clone(p)})
	}
	ks, _ := buildKeySet(entries)
	return ks
}

func buildKeySet(entries []*keyEntry) (*KeySet, error) {
	ks := &KeySet{
		byKID:    make(map[string]*keyEntry, len(entries)),
		byHeader: make(map[string]*keyEntry, len(entries)),
	}
	for _, e := range entries {
		if old, ok := ks.byKID[e.kid]; ok {
			if !old.pub.Equal(e.pub) {
				return nil, fmt.Errorf("lease: JWKS has two different keys with kid %q", e.kid)
			}
			continue
		}
		ks.byKID[e.kid] = e
		ks.byHeader[encodedHeader(e.kid)] = e
		ks.kids = append(ks.kids, e.kid)
	}
	slices.Sort(ks.kids)
	return ks, nil
}

// ParseKeySet parses a JWKS document (RFC 7517) of Ed25519 public keys
// (RFC 8037: "kty":"OKP", "crv":"Ed25519", "x": base64url of the 32-byte
// key). Every key must be an Ed25519 public key: a key of another type, a key
// carrying private material ("d"), a "use" other than "sig" or an "alg" other
// than "EdDSA" is an error naming the key. The "kid" is taken as written (it
// need not be the thumbprint); a key without one is indexed by KeyID. Members
// other than these are ignored.
func ParseKeySet(jwksJSON []byte) (*KeySet, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(jwksJSON, &doc); err != nil {
		return nil, fmt.Errorf("lease: JWKS is not a JSON object: %v", err)
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, fmt.Errorf(`lease: JWKS has no "keys" member`)
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(rawKeys, &keys); err != nil {
		return nil, fmt.Errorf(`lease: JWKS "keys" is not an array of objects: %v`, err)
	}
	entries := make([]*keyEntry, 0, len(keys))
	for i, k := range keys {
		e, err := parseJWK(k)
		if err != nil {
			name := "#" + strconv.Itoa(i)
			if kid, ok := jwkString(k, "kid"); ok && kid != "" {
				name = fmt.Sprintf("%s (kid %q)", name, kid)
			}
			return nil, fmt.Errorf("lease: JWKS key %s: %v", name, err)
		}
		entries = append(entries, e)
	}
	return buildKeySet(entries)
}

// jwkString returns member name of k as a string; ok is false if it is
// absent or not a string.
func jwkString(k map[string]json.RawMessage, name string) (string, bool) {
	raw, present := k[name]
	if !present {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func parseJWK(k map[string]json.RawMessage) (*keyEntry, error) {
	member := func(name string, required bool) (string, error) {
		if _, present := k[name]; !present {
			if required {
				return "", fmt.Errorf("%q is missing", name)
			}
			return "", nil
		}
		s, ok := jwkString(k, name)
		if !ok {
			return "", fmt.Errorf("%q is not a string", name)
		}
		return s, nil
	}
	kty, err := member("kty", true)
	if err != nil {
		return nil, err
	}
	if kty != "OKP" {
		return nil, fmt.Errorf("kty is %q; only Ed25519 keys (kty \"OKP\") can verify lease tokens", kty)
	}
	crv, err := member("crv", true)
	if err != nil {
		return nil, err
	}
	if crv != "Ed25519" {
		return nil, fmt.Errorf("crv is %q; only Ed25519 keys can verify lease tokens", crv)
	}
	if _, present := k["d"]; present {
		return nil, fmt.Errorf(`holds private key material ("d"); publish public keys only`)
	}
	x, err := member("x", true)
	if err != nil {
		return nil, err
	}
	pub, ok := appendB64Decode(make([]byte, 0, ed25519.PublicKeySize), x)
	if !ok {
		return nil, fmt.Errorf("x is not unpadded base64url")
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x decodes to %d bytes, an Ed25519 public key is %d", len(pub), ed25519.PublicKeySize)
	}
	if use, err := member("use", false); err != nil {
		return nil, err
	} else if use != "" && use != "sig" {
		return nil, fmt.Errorf("use is %q, want \"sig\"", use)
	}
	if alg, err := member("alg", false); err != nil {
		return nil, err
	} else if alg != "" && alg != "EdDSA" {
		return nil, fmt.Errorf("alg is %q, want \"EdDSA\"", alg)
	}
	kid, err := member("kid", false)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		kid = KeyID(pub)
	}
	return &keyEntry{kid: kid, pub: pub}, nil
}

// MarshalJSON returns the set as a JWKS document, {"keys":[...]}, keys sorted
// by kid so the output is deterministic. Each key is
// {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":"EdDSA"}.
func (ks *KeySet) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16+ks.Len()*160)
	b = append(b, `{"keys":[`...)
	for i, kid := range ks.KeyIDs() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"kty":"OKP","crv":"Ed25519","x":"`...)
		b = b64.AppendEncode(b, ks.byKID[kid].pub)
		b = append(b, `","kid":`...)
		b = appendJSONString(b, kid)
		b = append(b, `,"use":"sig","alg":"EdDSA"}`...)
	}
	return append(b, "]}"...), nil
}

// Len is the number of keys in the set.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.kids)
}

// KeyIDs returns the kids in the set, sorted.
func (ks *KeySet) KeyIDs() []string {
	if ks == nil {
		return nil
	}
	return slices.Clone(ks.kids)
}

func (ks *KeySet) lookup(kid string) *keyEntry {
	if ks == nil {
		return nil
	}
	return ks.byKID[kid]
}

// describe lists the kids for an unknown_key message.
func (ks *KeySet) describe() string {
	const max = 4
	switch n := ks.Len(); {
	case n == 0:
		return "the key set is empty"
	case n <= max:
		return "known: " + strings.Join(ks.kids, ", ")
	default:
		return fmt.Sprintf("known: %s and %d more", strings.Join(ks.kids[:max], ", "), n-max)
	}
}
