package lease

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// claimNames are the members of the claims object this package reads.
var claimNames = []string{"iss", "aud", "acct", "usr", "feat", "addons", "ent", "lid", "kind", "iat", "nbf", "exp"}

// checkClaimMembers refuses a claims object that encoding/json would read
// leniently: a member given twice (json keeps the last, another verifier
// may keep the first) or a claim name in another case ("EXP" would fill
// exp). The header parser is as strict (parseHeader). It scans the object's
// top level only, without allocating for the usual escape-free names.
func checkClaimMembers(p []byte) error {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return errors.New("claims are not a JSON object")
	}
	var seen [16]string
	n := 0
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return nil
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return errors.New("claims are not valid JSON")
		}
		end := skipString(p, i)
		if end < 0 {
			return errors.New("claims are not valid JSON")
		}
		name := string(p[i+1 : end-1])
		if strings.IndexByte(name, '\\') >= 0 {
			if err := json.Unmarshal(p[i:end], &name); err != nil {
				return errors.New("claims are not valid JSON")
			}
		}
		for _, c := range claimNames {
			if name != c && strings.EqualFold(name, c) {
				return fmt.Errorf("claims have a member %q: claim names are lower case (%q)", name, c)
			}
		}
		for _, s := range seen[:min(n, len(seen))] {
			if s == name {
				return fmt.Errorf("claims have a duplicate %q member", name)
			}
		}
		if n < len(seen) {
			seen[n] = name
		} else {
			return errors.New("claims have too many members")
		}
		n++
		i = skipSpace(p, end)
		if i >= len(p) || p[i] != ':' {
			return errors.New("claims are not valid JSON")
		}
		if i = skipValue(p, skipSpace(p, i+1)); i < 0 {
			return errors.New("claims are not valid JSON")
		}
		i = skipSpace(p, i)
		if i < len(p) && p[i] == ',' {
			i = skipSpace(p, i+1)
			continue
		}
		if i < len(p) && p[i] == '}' {
			return nil
		}
		return errors.New("claims are not valid JSON")
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at p[i] ('"'),
// or -1.
func skipString(p []byte, i int) int {
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at p[i], or -1.
// Validity of the value itself is left to encoding/json, which decodes the
// same bytes afterwards.
func skipValue(p []byte, i int) int {
	depth := 0
	for j := i; j < len(p); j++ {
		switch p[j] {
		case '"':
			end := skipString(p, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
		case ',':
			if depth == 0 {
				return j
			}
		}
		if depth == 0 && j >= i && (p[j] == '"' || p[j] == '}' || p[j] == ']') {
			return j + 1
		}
	}
	if depth == 0 {
		return len(p)
	}
	return -1
}
