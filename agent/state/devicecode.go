package state

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// crockford is Crockford's base32 alphabet: digits and letters without I, L,
// O and U, so a code read aloud or typed from a label is unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// deviceCodeLabel keys the derivation: a machine ID must never be shown or
// sent as is (systemd's machine-id(5) asks applications to hash it with an
// application-specific key), and changing the label would change every
// device's code.
const deviceCodeLabel = "tally-agent device code v1"

// ErrNoMachineID is returned by MachineID on a system that exposes no stable
// machine identity.
var ErrNoMachineID = errors.New("this system exposes no machine identity")

// MachineID returns the operating system's identity of this machine
// (/etc/machine-id on Linux, IOPlatformUUID on macOS, MachineGuid on
// Windows), or an error wrapping ErrNoMachineID. It survives reinstalls of
// the agent; it changes when the OS is reinstalled or the image is
// re-sealed.
func MachineID() (string, error) { return machineID() }

// DeriveDeviceCode returns the Device Code of a machine: an HMAC-SHA256 keyed
// by the machine ID over namespace, cut to 60 bits and written as
// "XXXX-XXXX-XXXX". The same machine and namespace always give the same code;
// the machine ID cannot be recovered from it.
//
// The agent's namespace is the cluster (the CA it enrolls against) and the
// state directory, so that a reinstall in the same place keeps the code while
// two agent instances on one machine (two users, or tests) do not collide.
func DeriveDeviceCode(machineID, namespace string) string {
	m := hmac.New(sha256.New, []byte(strings.TrimSpace(machineID)))
	m.Write([]byte(deviceCodeLabel))
	m.Write([]byte{0})
	m.Write([]byte(namespace))
	sum := m.Sum(nil)
	return formatCode(binary.BigEndian.Uint64(sum[:8]) >> 4)
}

// NewDeviceCode returns a fresh random Device Code, "XXXX-XXXX-XXXX" (60
// bits): the fallback for a machine without an identity. It is persisted in
// device.json, so it is stable for as long as the state directory lives.
func NewDeviceCode() (string, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate device code: %w", err)
	}
	return formatCode(binary.BigEndian.Uint64(raw[:]) >> 4), nil
}

// formatCode writes the low 60 bits of v as twelve base32 digits in groups
// of four.
func formatCode(v uint64) string {
	var b [14]byte
	pos := len(b) - 1
	for i := 0; i < 12; i++ {
		if i == 4 || i == 8 {
			b[pos] = '-'
			pos--
		}
		b[pos] = crockford[v&31]
		v >>= 5
		pos--
	}
	return string(b[:])
}

// NormalizeDeviceCode turns a code as a person typed it (lower case, O for
// zero, I or L for one) into its canonical form. It does not validate.
func NormalizeDeviceCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case 'o', 'O':
			return '0'
		case 'i', 'I', 'l', 'L':
			return '1'
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, strings.TrimSpace(code))
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
