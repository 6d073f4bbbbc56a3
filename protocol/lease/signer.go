package lease

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the kind of lease a token grants.
type Kind string

const (
	// KindFloating is a seat checked out from a pool and renewed by heartbeat.
	KindFloating Kind = "floating"
	// KindBorrowed is a floating seat taken offline until it expires.
	KindBorrowed Kind = "borrowed"
	// KindNodeLocked is a seat bound to one device.
	KindNodeLocked Kind = "node-locked"
)

// Claims are the contents of a lease token. JSON member names are given for
// each field; they are fixed by the token format.
type Claims struct {
	Issuer  string   // iss: the cluster ID
	Device  string   // aud: the Device Code
	Account string   // acct: the account ID
	User    string   // usr: the user, optional
	Feature string   // feat: the feature / product
	AddOns  []string // addons: add-on codes, optional
	// Entitlement names the vendor entitlement the lease was granted under
	// ("serial:digest", see protocol/entitlement), optional.
	Entitlement string    // ent
	LeaseID     uint64    // lid: the lease ID, never 0
	Kind        Kind      // kind
	IssuedAt    time.Time // iat
	NotBefore   time.Time // nbf
	Expires     time.Time // exp
}

// Signer signs lease tokens with one Ed25519 key. It is safe for concurrent
// use.
type Signer struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	kid    string
	header string // base64url protected header followed by '.'
}

// NewSigner returns a Signer for k. The key is copied.
func NewSigner(k ed25519.PrivateKey) (*Signer, error) {
	if err := checkPrivateKey(k); err != nil {
		return nil, err
	}
	priv := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(priv, k)
	pub := ed25519.PublicKey(priv[32:])
	kid := KeyID(pub)
	return &Signer{priv: priv, pub: pub, kid: kid, header: encodedHeader(kid) + "."}, nil
}

// KeyID is the kid in this Signer's tokens: the RFC 7638 thumbprint of its
// public key.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns (a copy of) the public key verifiers need.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), s.pub...)
}

// Sign validates c and returns it as a compact JWS.
//
// Issuer, Device, Account and Feature must be non-empty, LeaseID non-zero,
// Kind one of KindFloating, KindBorrowed, KindNodeLocked, IssuedAt and
// Expires set, and all strings valid UTF-8 (add-on codes non-empty). Times
// are truncated to whole seconds; after truncation Expires must be after
// IssuedAt. A zero NotBefore defaults to IssuedAt; NotBefore may be earlier
// than IssuedAt (back-dating for clock skew) but must be before Expires.
func (s *Signer) Sign(c Claims) (string, error) {
	iat, nbf, exp, err := c.check()
	if err != nil {
		return "", err
	}
	// The payload and the signing input are built in stack buffers when they
	// fit; the token itself is the only allocation.
	var pbuf [512]byte
	payload := appendPayload(pbuf[:0], &c, iat, nbf, exp)
	var ibuf [1024]byte
	in := append(ibuf[:0], s.header...)
	in = b64.AppendEncode(in, payload)
	sig := ed25519.Sign(s.priv, in)
	var b strings.Builder
	b.Grow(len(in) + 1 + b64.EncodedLen(ed25519.SignatureSize))
	b.Write(in)
	b.WriteByte('.')
	var sigbuf [86]byte
	b64.Encode(sigbuf[:], sig)
	b.Write(sigbuf[:])
	return b.String(), nil
}

func (c *Claims) check() (iat, nbf, exp int64, err error) {
	bad := func(format string, a ...any) (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("lease: sign: "+format, a...)
	}
	for _, f := range [...]struct{ name, v string }{
		{"Issuer", c.Issuer}, {"Device", c.Device}, {"Account", c.Account}, {"Feature", c.Feature},
	} {
		if f.v == "" {
			return bad("%s is empty", f.name)
		}
		if !utf8.ValidString(f.v) {
			return bad("%s is not valid UTF-8", f.name)
		}
	}
	if !utf8.ValidString(c.User) {
		return bad("User is not valid UTF-8")
	}
	if !utf8.ValidString(c.Entitlement) {
		return bad("Entitlement is not valid UTF-8")
	}
	for i, a := range c.AddOns {
		if a == "" || !utf8.ValidString(a) {
			return bad("AddOns[%d] is empty or not valid UTF-8", i)
		}
	}
	if c.LeaseID == 0 {
		return bad("LeaseID is 0")
	}
	switch c.Kind {
	case KindFloating, KindBorrowed, KindNodeLocked:
	default:
		return bad("Kind %q is not %q, %q or %q", c.Kind, KindFloating, KindBorrowed, KindNodeLocked)
	}
	if c.IssuedAt.IsZero() {
		return bad("IssuedAt is zero")
	}
	if c.Expires.IsZero() {
		return bad("Expires is zero")
	}
	iat, exp = c.IssuedAt.Unix(), c.Expires.Unix()
	nbf = iat
	if !c.NotBefore.IsZero() {
		nbf = c.NotBefore.Unix()
	}
	for _, t := range [...]int64{iat, nbf, exp} {
		if t < 0 || t > maxUnix {
			return bad("time %s is outside 1970..9999", time.Unix(t, 0).UTC().Format(time.RFC3339))
		}
	}
	if exp <= iat {
		return bad("Expires %s is not after IssuedAt %s (whole seconds)", fmtTime(exp), fmtTime(iat))
	}
	if exp <= nbf {
		return bad("Expires %s is not after NotBefore %s (whole seconds)", fmtTime(exp), fmtTime(nbf))
	}
	return iat, nbf, exp, nil
}

func fmtTime(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
