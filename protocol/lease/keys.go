package lease

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// GenerateKey returns a new Ed25519 signing key from crypto/rand.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lease: generate key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKey encodes k as a PEM "PRIVATE KEY" block holding PKCS#8,
// the form openssl genpkey -algorithm ed25519 writes.
func MarshalPrivateKey(k ed25519.PrivateKey) ([]byte, error) {
	if err := checkPrivateKey(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("lease: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes the first PEM block of pemBytes, which must be an
// unencrypted PKCS#8 "PRIVATE KEY" holding an Ed25519 key.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("lease: private key is not PEM encoded (want a -----BEGIN PRIVATE KEY----- block)")
	}
	switch block.Type {
	case "PRIVATE KEY":
	case "RSA PRIVATE KEY":
		return nil, errors.New(`lease: PEM block "RSA PRIVATE KEY" holds an RSA key; lease signing keys are Ed25519 (PKCS#8 "PRIVATE KEY")`)
	case "EC PRIVATE KEY":
		return nil, errors.New(`lease: PEM block "EC PRIVATE KEY" holds an ECDSA key; lease signing keys are Ed25519 (PKCS#8 "PRIVATE KEY")`)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("lease: private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
	default:
		return nil, fmt.Errorf(`lease: PEM block is %q, want "PRIVATE KEY" (PKCS#8 Ed25519)`, block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("lease: parse PKCS#8 private key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if err := checkPrivateKey(k); err != nil {
			return nil, err
		}
		return k, nil
	case *rsa.PrivateKey:
		return nil, fmt.Errorf("lease: private key is RSA (%d bits); lease signing keys are Ed25519", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return nil, fmt.Errorf("lease: private key is ECDSA (%s); lease signing keys are Ed25519", k.Curve.Params().Name)
	case *ecdh.PrivateKey:
		return nil, errors.New("lease: private key is an X25519/ECDH key; lease signing keys are Ed25519")
	default:
		return nil, fmt.Errorf("lease: private key is %T; lease signing keys are Ed25519", key)
	}
}

// checkPrivateKey rejects keys of the wrong size, and keys whose public half
// does not match the seed (a corrupted or hand-assembled key would otherwise
// produce tokens that never verify).
func checkPrivateKey(k ed25519.PrivateKey) error {
	if len(k) != ed25519.PrivateKeySize {
		return fmt.Errorf("lease: Ed25519 private key is %d bytes, want %d", len(k), ed25519.PrivateKeySize)
	}
	want := ed25519.NewKeyFromSeed(k.Seed())
	if string(want[32:]) != string(k[32:]) {
		return errors.New("lease: Ed25519 private key is inconsistent: its public half does not match its seed")
	}
	return nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: base64url (no padding)
// of the SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<x>"} (RFC 8037
// section 2). It is the kid a Signer puts in its tokens and NewKeySet indexes
// keys by. It returns "" if pub is not 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	var buf [96]byte
	b := append(buf[:0], `{"crv":"Ed25519","kty":"OKP","x":"`...)
	b = b64.AppendEncode(b, pub)
	b = append(b, `"}`...)
	sum := sha256.Sum256(b)
	return b64.EncodeToString(sum[:])
}
