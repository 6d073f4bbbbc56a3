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
func CanonicalDeviceCode(code string) string { return canonicalCode(code, 12) }

// CanonicalUserCode is CanonicalDeviceCode for the eight-symbol codes of
// browser-approved sign-in ("XXXX-XXXX").
func CanonicalUserCode(code string) string { return canonicalCode(code, 8) }

// canonicalCode applies Crockford's reading rules to a code of n symbols,
// grouped by four; anything else is only trimmed.
func canonicalCode(code string, n int) string {
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
	if len(s) != n {
		return code
	}
	var out strings.Builder
	for i := 0; i < n; i += 4 {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i:min(i+4, n)])
	}
	return out.String()
}
