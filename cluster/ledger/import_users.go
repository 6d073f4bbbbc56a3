package ledger

import (
	"fmt"
	"sort"
	"strings"
)

// RowAmbiguousUser: the User column names a display name several members
// share.
const RowAmbiguousUser = "ambiguous_user"

// importUser resolves an import row's User column to a member's email. The
// column holds an email, or a display name ("John Smith", compared ignoring
// case and repeated spaces) that exactly one member of the account has:
// phone systems' CSVs name people, not addresses. It runs inside the import
// command's apply (and in a dry run against the same state), so the member
// list it decides on is the one the command meets, never a trailing copy.
// kind is empty when the user resolved; else it and reason say why not.
func (s *State) importUser(account, given string) (email, kind, reason string) {
	given = strings.TrimSpace(given)
	if given == "" {
		return "", RowMissingUser, "no user"
	}
	if e := NormalizeEmail(given); s.userKnown(account, e) {
		return e, "", ""
	}
	var matches []string
	if o := s.org(account, false); o != nil {
		want := foldName(given)
		for e, u := range o.Users {
			if u.DisplayName != "" && foldName(u.DisplayName) == want {
				matches = append(matches, e)
			}
		}
	}
	sort.Strings(matches)
	switch len(matches) {
	case 1:
		return matches[0], "", ""
	case 0:
		if strings.Contains(given, "@") {
			return NormalizeEmail(given), RowUnknownUser, fmt.Sprintf("unknown user %s", NormalizeEmail(given))
		}
		return given, RowUnknownUser, fmt.Sprintf("unknown user %s: no member has that email or display name", given)
	}
	return given, RowAmbiguousUser, fmt.Sprintf("%q is the display name of %d members (%s): write the email instead", given, len(matches), strings.Join(matches, ", "))
}

// foldName compares display names: case and runs of spaces do not matter.
func foldName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// InvalidRows is the number of rows with at least one error: a row may have
// several, and the summary counts rows.
func (r ImportReport) InvalidRows() int {
	lines := make(map[int]bool, len(r.Errors))
	for _, e := range r.Errors {
		lines[e.Line] = true
	}
	return len(lines)
}
