// Package offline is the file format of air-gapped devices: a device with no
// network path to any node asks for a lease, receives it and gives it back
// by files that a person carries to and from a machine that reaches the
// cluster (docs/agents.md#air-gapped-devices).
//
// Requests and returns are compact JWS signed by the device's own key, with
// its device certificate in the x5c header: the cluster checks that the
// certificate chains to its CA, names the device and account the file
// claims, and holds the key the device enrolled with, exactly as it does
// for a device on a mutual-TLS connection. A grant is a LeaseFile: the
// signed lease token plus the certificates of the cluster's lease-signing
// keys, which the agent checks against its CA before it serves the token.
//
// Design: docs/design.md#lease-tokens.
package offline

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/jws"
)

// JWS typ headers of the two signed files.
const (
	TypeRequest = "tally-offline-request+jwt"
	TypeReturn  = "tally-offline-return+jwt"
)

// MaxAge is how old a signed request or return may be when it reaches the
// cluster: long enough to carry a file to another building, short enough
// that an old file found in a drawer is refused.
const MaxAge = 30 * 24 * time.Hour

// LeaseRequest asks for a borrowed lease for an air-gapped device.
type LeaseRequest struct {
	Account string            `json:"account"`
	Device  string            `json:"device"`
	Feature string            `json:"feature"`
	Borrow  protocol.Duration `json:"borrow"`
	// Nonce makes the request idempotent: granting the same file twice
	// gives the same lease.
	Nonce    string    `json:"nonce"`
	IssuedAt time.Time `json:"issued_at"`
}

// LeaseReturn gives an offline lease back before it ends.
type LeaseReturn struct {
	Account  string    `json:"account"`
	Device   string    `json:"device"`
	Feature  string    `json:"feature"`
	LeaseID  uint64    `json:"lease_id"`
	Nonce    string    `json:"nonce"`
	IssuedAt time.Time `json:"issued_at"`
}

// LeaseFile is what an administrator carries back to the device.
type LeaseFile struct {
	Account string         `json:"account"`
	Device  string         `json:"device"`
	Lease   protocol.Lease `json:"lease"`
	// KeyCerts are the cluster CA's certificates of its lease-signing keys
	// (PEM); the agent trusts the token's key only through them.
	KeyCerts []string `json:"key_certs"`
	// Entitlements are the account's vendor entitlements, for applications
	// that check leases against them.
	Entitlements []string `json:"entitlements,omitempty"`
}

// NewNonce returns 16 random bytes in hex.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("offline: nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Sign signs v as a file of type typ with the device key, putting the
// device certificate (PEM) in x5c.
func Sign(typ string, v any, key crypto.Signer, certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("offline: the device certificate is not PEM")
	}
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize != 256 {
			return "", fmt.Errorf("offline: device key is ECDSA %s, want P-256", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return "", fmt.Errorf("offline: device key %T cannot sign", k)
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("offline: encode: %w", err)
	}
	token, err := jws.Sign(key, jws.Header{Typ: typ, X5C: [][]byte{block.Bytes}}, payload)
	if err != nil {
		return "", fmt.Errorf("offline: %w", err)
	}
	return token, nil
}

// Signed is a verified file: its payload and the certificate that signed it.
type Signed struct {
	Payload []byte
	Cert    *x509.Certificate
}

// Verify checks the signature of a file of type typ under the certificate in
// its x5c header. It does not check the certificate itself: the cluster
// does that against its CA and ledger (certs.VerifyDevice and the enrolled
// key).
func Verify(token, typ string) (*Signed, error) {
	token = strings.TrimSpace(token)
	if len(token) > 64<<10 {
		return nil, errors.New("offline: the file is larger than 64 KiB")
	}
	tok, err := jws.Parse(token, 64<<10, jws.ES256, jws.EdDSA)
	if err != nil {
		return nil, fmt.Errorf("offline: not a signed Tally file: %w", err)
	}
	if got := tok.Header.Typ; got != typ {
		return nil, fmt.Errorf("offline: this is a %q file, want %q", got, typ)
	}
	if len(tok.Certs) != 1 {
		return nil, errors.New("offline: the header must carry the device certificate (x5c of one)")
	}
	cert := tok.Certs[0]
	if err := tok.Verify(cert.PublicKey); err != nil {
		return nil, errors.New("offline: the signature does not verify under the device certificate: the file was changed or forged")
	}
	return &Signed{Payload: tok.Payload, Cert: cert}, nil
}

// Decode decodes a verified payload strictly.
func Decode(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("offline: payload: %w", err)
	}
	return nil
}

// CheckAge refuses a file issued more than MaxAge before now, or more than
// skew after it.
func CheckAge(issued, now time.Time, skew time.Duration) error {
	switch {
	case issued.IsZero():
		return errors.New("offline: the file has no issue time")
	case issued.After(now.Add(skew)):
		return fmt.Errorf("offline: the file was issued at %s, in the future (the device clock is ahead)", issued.UTC().Format(time.RFC3339))
	case now.Sub(issued) > MaxAge:
		return fmt.Errorf("offline: the file was issued at %s, more than %v ago; make a new one", issued.UTC().Format(time.RFC3339), MaxAge)
	}
	return nil
}
