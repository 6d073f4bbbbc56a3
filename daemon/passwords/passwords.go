// Package passwords hashes and verifies member passwords with argon2id,
// stored as PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$hash). Hashing is
// slow and salted with randomness, so it runs on the node that proposes a
// command, never inside the ledger's Apply; the ledger stores the string.
//
// Design: docs/design.md#authority.
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen int
}

// Default follows OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane):
// tallyd nodes are modest and hash only on sign-up and password change.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// MinLength is the shortest password accepted.
const MinLength = 8

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password under Default.
func Hash(password string) (string, error) { return HashWith(Default, password) }

// HashWith hashes with explicit parameters.
func HashWith(p Params, password string) (string, error) {
	if len(password) < MinLength {
		return "", fmt.Errorf("password is %d characters; at least %d are needed", len(password), MinLength)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("draw a password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformed is returned for strings that are not argon2id PHC strings.
var ErrMalformed = errors.New("not an argon2id PHC string")

// Verify reports whether password matches the PHC string, in constant time
// with respect to the key. It is what sign-in uses.
func Verify(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("%w: version %q", ErrMalformed, parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, fmt.Errorf("%w: parameters %q", ErrMalformed, parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("%w: salt: %v", ErrMalformed, err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return false, fmt.Errorf("%w: key", ErrMalformed)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// VerifyStored checks a sign-in's password against the hash stored for the
// member, where an empty hash means no such member (or one without a
// password yet). That case is refused after the same work as a wrong
// password — a verification against a hash of nobody's password — so the
// time a refusal takes does not tell which emails are members.
func VerifyStored(stored, password string) (bool, error) {
	if stored == "" {
		Verify(nobodysHash(), password)
		return false, nil
	}
	return Verify(stored, password)
}

var nobodysHash = sync.OnceValue(func() string {
	h, _ := Hash("not a password of anyone")
	return h
})
