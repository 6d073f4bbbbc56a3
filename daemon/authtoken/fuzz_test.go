package authtoken

import (
	"strings"
	"testing"
)

// FuzzParse: admin, enrollment and member tokens from outside (HTTP
// headers, files, agent requests) never panic the parser, and a token that
// parses prints back as itself (less the surrounding space a file adds).
func FuzzParse(f *testing.F) {
	for _, kind := range []string{Admin, Enroll} {
		if tok, err := New(kind); err == nil {
			f.Add(kind, tok.String())
		}
	}
	f.Add(Admin, "tat_")
	f.Add(Enroll, "tet_x.y")
	f.Fuzz(func(t *testing.T, kind, s string) {
		tok, err := Parse(kind, s)
		if err != nil {
			return
		}
		if tok.String() != strings.TrimSpace(s) {
			t.Fatalf("parsed %q prints as %q", s, tok.String())
		}
	})
}
