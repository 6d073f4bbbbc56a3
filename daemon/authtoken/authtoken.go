// Package authtoken makes and checks the bearer secrets Tally hands out:
// admin API tokens and enrollment tokens.
//
// A token reads "<prefix>_<id>_<secret>": the ID finds the record in the
// ledger, the secret proves possession. Only a SHA-256 hash of the secret is
// replicated, so the Raft log and snapshots never hold a usable token. The
// secret is 256 random bits, so a fast hash is as strong as a slow one here
// (password hashing is for low-entropy secrets).
//
// Design: docs/design.md#authority.
package authtoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Kinds of token, by prefix.
const (
	Admin  = "tat"
	Enroll = "tet"
	// Member is a member's sign-in on one device (tally-agent login); the
	// cluster accepts it only from that device's mutual-TLS connection.
	Member = "tms"
)

// Token is a freshly generated token.
type Token struct {
	Kind   string
	ID     string
	Secret string
}

// String is the token as the user copies it.
func (t Token) String() string { return t.Kind + "_" + t.ID + "_" + t.Secret }

// Hash is what the ledger stores.
func (t Token) Hash() string { return HashSecret(t.Secret) }

// New generates a token of the given kind.
func New(kind string) (Token, error) {
	var id [6]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, fmt.Errorf("generate token ID: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Token{}, fmt.Errorf("generate token secret: %w", err)
	}
	return Token{Kind: kind, ID: hex.EncodeToString(id[:]), Secret: base64.RawURLEncoding.EncodeToString(secret[:])}, nil
}

// ErrMalformed is returned for strings that are not tokens of the expected kind.
var ErrMalformed = errors.New("malformed token")

// Parse splits a token of the expected kind into its ID and secret.
func Parse(kind, s string) (Token, error) {
	s = strings.TrimSpace(s)
	prefix := kind + "_"
	if !strings.HasPrefix(s, prefix) {
		return Token{}, fmt.Errorf("%w: expected a %s_… token", ErrMalformed, kind)
	}
	id, secret, ok := strings.Cut(s[len(prefix):], "_")
	if !ok || len(id) != 12 || len(secret) < 32 {
		return Token{}, fmt.Errorf("%w: a %s token has an ID and a secret", ErrMalformed, kind)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return Token{}, fmt.Errorf("%w: bad token ID", ErrMalformed)
	}
	return Token{Kind: kind, ID: id, Secret: secret}, nil
}

// HashSecret returns the hex SHA-256 of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Matches reports, in constant time, whether secret hashes to hash.
func Matches(hash, secret string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
