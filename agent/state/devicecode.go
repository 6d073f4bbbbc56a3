package state

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// crockford is Crockford's base32 alphabet: digits and letters without I, L,
// O and U, so a code read aloud or typed from a label is unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewDeviceCode returns a fresh random Device Code, "XXXX-XXXX-XXXX" (60 bits).
//
// It is the single place a Device Code is made: deriving it from the machine
// identity later means changing only this function.
func NewDeviceCode() (string, error) {
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate device code: %w", err)
	}
	var b strings.Builder
	for i, r := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		// 256 is a multiple of 32, so the low five bits are uniform.
		b.WriteByte(crockford[r&31])
	}
	return b.String(), nil
}

// ValidateDeviceCode checks that code has the form XXXX-XXXX-XXXX over
// Crockford's base32 alphabet (upper case).
func ValidateDeviceCode(code string) error {
	if len(code) != 14 {
		return fmt.Errorf("device code %q is not of the form XXXX-XXXX-XXXX", code)
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if i == 4 || i == 9 {
			if c != '-' {
				return fmt.Errorf("device code %q is not of the form XXXX-XXXX-XXXX", code)
			}
			continue
		}
		if strings.IndexByte(crockford, c) < 0 {
			return fmt.Errorf("device code %q has %q, which is not in the Crockford base32 alphabet", code, c)
		}
	}
	return nil
}
