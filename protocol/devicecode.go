package protocol

import "strings"

// crockford is Crockford's base32 alphabet, the one Device Codes are
// written in (agent/state derives them).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// CanonicalDeviceCode turns a Device Code as an administrator typed it into
// the form the cluster stores: Crockford's rules (any case, O read as 0, I
// and L read as 1, dashes and spaces ignored) and the XXXX-XXXX-XXXX
// grouping. A string that is not twelve Crockford symbols under those rules
// (a code forced by --device-code, a test name) is only trimmed, so that it
// still matches exactly as enrolled.
func CanonicalDeviceCode(code string) string {
	code = strings.TrimSpace(code)
	var b strings.Builder
	for _, r := range code {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'o' || r == 'O':
			r = '0'
		case r == 'i' || r == 'I' || r == 'l' || r == 'L':
			r = '1'
		case r >= 'a' && r <= 'z':
			r = r - 'a' + 'A'
		}
		if r > 0x7f || !strings.ContainsRune(crockford, r) {
			return code
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) != 12 {
		return code
	}
	return s[:4] + "-" + s[4:8] + "-" + s[8:]
}
