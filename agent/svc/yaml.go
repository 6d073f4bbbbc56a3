package svc

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// agent.yaml is read and written here rather than by a YAML library: it is
// a flat mapping of strings and one list of strings, and a general YAML
// library is 0.4 MB of code in a binary that runs on every device
// (docs/performance.md, agent footprint). What is accepted is the YAML a
// person writes for such a file: comments, plain, 'single' and "double"
// quoted strings, the servers list in block (- item) or flow ([a, b])
// style, ~ or null for an empty value. Everything else YAML has (anchors,
// tags, block scalars, nested mappings, several documents) is refused with
// the line it is on, never guessed at. Files written by earlier agents
// (gopkg.in/yaml.v3) read the same (TestConfigReadsLikeYAMLv3).

// configKeys are agent.yaml's keys, in the order they are written.
var configKeys = []string{"servers", "ca", "state", "socket", "socket_group", "enroll_token_file", "log_level"}

func (f *File) field(key string) *string {
	switch key {
	case "ca":
		return &f.CA
	case "state":
		return &f.State
	case "socket":
		return &f.Socket
	case "socket_group":
		return &f.SocketGroup
	case "enroll_token_file":
		return &f.EnrollTokenFile
	case "log_level":
		return &f.LogLevel
	}
	return nil
}

// marshalConfig renders f as yaml.v3 did: keys in struct order, servers as
// a block list indented by four, ca and state always, the others when set,
// a value quoted only when a plain one would be misread.
func marshalConfig(f *File) []byte {
	var b strings.Builder
	if len(f.Servers) == 0 {
		b.WriteString("servers: []\n")
	} else {
		b.WriteString("servers:\n")
		for _, s := range f.Servers {
			b.WriteString("    - " + yamlScalar(s) + "\n")
		}
	}
	for _, k := range configKeys[1:] {
		v := *f.field(k)
		if v == "" && k != "ca" && k != "state" {
			continue
		}
		b.WriteString(k + ": " + yamlScalar(v) + "\n")
	}
	return []byte(b.String())
}

// yamlScalar writes s plain when YAML reads it back as the same string,
// double-quoted when a plain s would be another type (true, 123, null, a
// date) or holds control characters, and single-quoted when YAML syntax
// (a leading indicator, ": ", " #", edge spaces) would break it.
func yamlScalar(s string) string {
	switch {
	case s == "" || resolvesToNonString(s):
		return `"` + s + `"`
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(s):
		return strconv.Quote(s)
	case strings.ContainsRune("-?:,[]{}#&*!|>'\"%@`", rune(s[0])) && !(s[0] == '-' && len(s) > 1 && s[1] != ' ') ||
		strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") ||
		s[0] == ' ' || s[len(s)-1] == ' ':
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return s
}

// resolvesToNonString reports whether YAML reads plain s as null, a bool, a
// number or a timestamp.
func resolvesToNonString(s string) bool {
	switch strings.ToLower(s) {
	case "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf", ".nan":
		return true
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return true
	}
	if _, err := strconv.ParseInt(s, 0, 64); err == nil {
		return true
	}
	// A date (2001-12-14, and timestamps that start with one).
	return len(s) >= 10 && s[4] == '-' && s[7] == '-' && strings.Trim(s[:4]+s[5:7]+s[8:10], "0123456789") == ""
}

// parseConfig reads agent.yaml strictly: unknown or repeated keys, a list
// where a string goes and the reverse are errors naming the line.
func parseConfig(data []byte) (*File, error) {
	text := strings.TrimPrefix(string(data), "\ufeff")
	if err := printable(text); err != nil {
		return nil, err
	}
	var f File
	seen := map[string]bool{}
	list := "" // the key whose block list the next "- item" lines extend
	listIndent := -1
	started := false
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		body := strings.TrimLeft(line, " ")
		indent := len(line) - len(body)
		if strings.HasPrefix(body, "\t") {
			return nil, fmt.Errorf("line %d: a tab indents the line; YAML indents with spaces", n)
		}
		if body == "" || body[0] == '#' {
			continue
		}
		if indent == 0 && (body == "---" || strings.HasPrefix(body, "--- ")) {
			if started {
				return nil, fmt.Errorf("line %d: a second YAML document; agent.yaml is one", n)
			}
			if rest := strings.TrimSpace(body[3:]); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("line %d: content after ---; start the mapping on the next line", n)
			}
			continue
		}
		started = true
		if body == "-" || strings.HasPrefix(body, "- ") {
			if list == "" || (listIndent >= 0 && indent != listIndent) {
				return nil, fmt.Errorf("line %d: a list item where none belongs (only servers is a list)", n)
			}
			listIndent = indent
			v, err := scalarValue(strings.TrimPrefix(body[1:], " "), n)
			if err != nil {
				return nil, err
			}
			if v == "" {
				return nil, fmt.Errorf("line %d: an empty list item", n)
			}
			f.Servers = append(f.Servers, v)
			continue
		}
		if indent != 0 {
			return nil, fmt.Errorf("line %d: unexpected indentation; agent.yaml is a flat list of key: value lines", n)
		}
		list, listIndent = "", -1
		key, value, ok := cutKey(body)
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", n, body)
		}
		if !slices.Contains(configKeys, key) {
			return nil, fmt.Errorf("line %d: unknown key %q (agent.yaml has %s)", n, key, strings.Join(configKeys, ", "))
		}
		if seen[key] {
			return nil, fmt.Errorf("line %d: key %q is given twice", n, key)
		}
		seen[key] = true
		if key == "servers" {
			switch {
			case value == "" || value[0] == '#':
				list = key // a block list follows, or nothing
			case value[0] == '[':
				items, err := flowList(value, n)
				if err != nil {
					return nil, err
				}
				f.Servers = items
			default:
				v, err := scalarValue(value, n)
				if err != nil {
					return nil, err
				}
				if v != "" || value[0] == '"' || value[0] == '\'' {
					return nil, fmt.Errorf("line %d: servers is a list (servers: [host:port, ...] or - host:port lines), not %q", n, v)
				}
			}
			continue
		}
		if value != "" && value[0] == '[' {
			return nil, fmt.Errorf("line %d: %s is a string, not a list", n, key)
		}
		v, err := scalarValue(value, n)
		if err != nil {
			return nil, err
		}
		*f.field(key) = v
	}
	if !started {
		return nil, errors.New("the file is empty (want servers:, ca: and state:)")
	}
	return &f, nil
}

// printable refuses what YAML does not allow in a file: invalid UTF-8 and
// control characters other than tab, CR and LF.
func printable(text string) error {
	line := 1
	for i, r := range text {
		switch {
		case r == '\n':
			line++
		case r == '\r' && !strings.HasPrefix(text[i:], "\r\n"):
			return fmt.Errorf("line %d: a carriage return that does not end the line", line)
		case r == '\t' || r == '\r':
		case r == utf8.RuneError || r < 0x20 || (r >= 0x7f && r <= 0x9f && r != 0x85) || r == 0xfffe || r == 0xffff || (r >= 0xd800 && r <= 0xdfff):
			return fmt.Errorf("line %d: control character or invalid UTF-8 (%U)", line, r)
		}
	}
	return nil
}

// cutKey splits "key: value" (or "key:" at the end of the line).
func cutKey(body string) (key, value string, ok bool) {
	for i := 0; i < len(body); i++ {
		if body[i] == ':' && (i+1 == len(body) || body[i+1] == ' ' || body[i+1] == '\t') {
			key = body[:i]
			if key == "" || strings.ContainsAny(key, " \"'#[]{},&*!|>%@`") {
				return "", "", false
			}
			return key, strings.TrimSpace(body[i+1:]), true
		}
	}
	return "", "", false
}

// scalarValue reads one string value and refuses anything after it but a
// comment. Empty, ~ and null are "".
func scalarValue(s string, n int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '#' {
		return "", nil
	}
	v, rest, err := scalar(s, n, false)
	if err != nil {
		return "", err
	}
	if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("line %d: unexpected %q after the value", n, rest)
	}
	return v, nil
}

// flowList reads [a, "b", 'c'] and refuses anything after it but a
// comment.
func flowList(s string, n int) ([]string, error) {
	rest := strings.TrimSpace(s[1:])
	items := []string{}
	for {
		if rest == "" {
			return nil, fmt.Errorf("line %d: the list is not closed with ] (a list on one line only)", n)
		}
		if rest[0] == ']' {
			break
		}
		v, r, err := scalar(rest, n, true)
		if err != nil {
			return nil, err
		}
		if v == "" {
			return nil, fmt.Errorf("line %d: an empty list item", n)
		}
		items = append(items, v)
		rest = strings.TrimSpace(r)
		if strings.HasPrefix(rest, ",") {
			rest = strings.TrimSpace(rest[1:])
			continue
		}
		if rest == "" {
			return nil, fmt.Errorf("line %d: the list is not closed with ] (a list on one line only)", n)
		}
		if !strings.HasPrefix(rest, "]") {
			return nil, fmt.Errorf("line %d: want , or ] in the list, got %q", n, rest)
		}
	}
	if tail := strings.TrimSpace(rest[1:]); tail != "" && tail[0] != '#' {
		return nil, fmt.Errorf("line %d: unexpected %q after the list", n, tail)
	}
	return items, nil
}

// scalar reads one plain or quoted string at the start of s and returns the
// rest of s. In a flow list, a plain string also ends at , or ].
func scalar(s string, n int, inFlow bool) (v, rest string, err error) {
	switch s[0] {
	case '"':
		return doubleQuoted(s, n)
	case '\'':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				return b.String(), s[i+1:], nil
			}
			b.WriteByte(s[i])
		}
		return "", "", fmt.Errorf("line %d: the quoted value is not closed with ' (a value on one line only)", n)
	case '-', '?', ':':
		if inFlow || len(s) == 1 || s[1] == ' ' || s[1] == '\t' {
			return "", "", fmt.Errorf("line %d: %q: a value starting with %q must be quoted (in a [list], or before a space)", n, s, s[0])
		}
	case '#', '&', '*', '!', '|', '>', '%', '@', '`', '{', '[', ']', '}', ',':
		return "", "", fmt.Errorf("line %d: %q: anchors, aliases, tags, block scalars and nested collections are not supported in agent.yaml; quote the value", n, s)
	}
	end := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '#' && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
			end = i
			break
		}
		if c == ':' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t' || (inFlow && (s[i+1] == ',' || s[i+1] == ']'))) {
			return "", "", fmt.Errorf("line %d: %q: a value with \": \" must be quoted", n, s)
		}
		if inFlow && (c == ',' || c == ']' || c == '[' || c == '{' || c == '}') {
			end = i
			break
		}
	}
	v = strings.TrimRight(s[:end], " \t")
	switch v {
	case "~", "null", "Null", "NULL":
		v = ""
	}
	return v, s[end:], nil
}

// doubleQuoted reads a "double-quoted" YAML string with its escapes.
func doubleQuoted(s string, n int) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", fmt.Errorf("line %d: the quoted value ends in a lone \\", n)
			}
			i++
			simple := map[byte]string{'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v", 'f': "\f",
				'r': "\r", 'e': "\x1b", ' ': " ", '"': "\"", '\\': "\\", 'N': "\u0085", '_': "\u00a0", 'L': "\u2028", 'P': "\u2029"}
			if r, ok := simple[s[i]]; ok {
				b.WriteString(r)
				continue
			}
			digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
			if digits == 0 || i+digits >= len(s) {
				return "", "", fmt.Errorf("line %d: unknown escape \\%c in a quoted value", n, s[i])
			}
			r, err := strconv.ParseUint(s[i+1:i+1+digits], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return "", "", fmt.Errorf("line %d: bad escape \\%s in a quoted value", n, s[i:i+1+digits])
			}
			b.WriteRune(rune(r))
			i += digits
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("line " + strconv.Itoa(n) + `: the quoted value is not closed with " (a value on one line only)`)
}
