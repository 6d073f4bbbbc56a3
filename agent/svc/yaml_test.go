package svc

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// v3Decode reads data as LoadConfig did before agent.yaml had its own
// reader: yaml.v3, unknown keys refused.
func v3Decode(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

func sameFile(a, b *File) bool {
	if len(a.Servers) == 0 && len(b.Servers) == 0 {
		x, y := *a, *b
		x.Servers, y.Servers = nil, nil
		return reflect.DeepEqual(x, y)
	}
	return reflect.DeepEqual(a, b)
}

var trickyValues = []string{"127.0.0.1:7443", "[::1]:7443", "tally1:7443", `C:\ProgramData\Tally\agent\ca.pem`, "/opt/My Tally/ca.pem",
	"true", "No", "123", "1e3", "0x1F", "1_000", ".inf", "2001-12-14", "a: b", "a #b", "a#b", "-x", "- x", "#x", "?x", " lead", "trail ",
	"é", "x\ny", "tab\there", "null", "~", "a'b", `a"b`, `back\slash`, "{x}", "*x", "&x", "!x", "|x", ">x", "%x", "@x", "`x", "x:", ":x"}

// TestConfigReadsLikeYAMLv3: agent.yaml as written now reads back the same
// with yaml.v3 (what earlier agents read it with) and with parseConfig; what
// yaml.v3 wrote (earlier agents' install) reads the same with parseConfig;
// and for ordinary values the file is byte for byte what yaml.v3 wrote, so
// `install --dry-run` prints what it printed.
func TestConfigReadsLikeYAMLv3(t *testing.T) {
	ordinary := &File{Servers: []string{"tally1.example.com:7443", "10.0.0.2:7443"}, CA: "/etc/tally-agent/ca.pem",
		State: "/var/lib/tally-agent", SocketGroup: "tally", EnrollTokenFile: "/etc/tally-agent/enroll.token", LogLevel: "info"}
	old, err := yaml.Marshal(ordinary)
	if err != nil {
		t.Fatal(err)
	}
	if got := marshalConfig(ordinary); string(got) != string(old) {
		t.Fatalf("written:\n%s\nyaml.v3 wrote:\n%s", got, old)
	}
	if got := marshalConfig(&File{}); string(got) != "servers: []\nca: \"\"\nstate: \"\"\n" {
		t.Fatalf("empty file written as %q", got)
	}
	for _, v := range trickyValues {
		f := &File{Servers: []string{v, "b:1"}, CA: v, State: v, Socket: v, SocketGroup: v, EnrollTokenFile: v, LogLevel: v}
		ours := marshalConfig(f)
		if got, err := v3Decode(ours); err != nil || !sameFile(got, f) {
			t.Errorf("%q: yaml.v3 reads what we write\n%s\nas %+v, %v", v, ours, got, err)
		}
		if got, err := parseConfig(ours); err != nil || !sameFile(got, f) {
			t.Errorf("%q: we read what we write\n%s\nas %+v, %v", v, ours, got, err)
		}
		theirs, _ := yaml.Marshal(f)
		if strings.Contains(string(theirs), "|") { // a block scalar (multi-line value): refused, see below
			continue
		}
		if got, err := parseConfig(theirs); err != nil || !sameFile(got, f) {
			t.Errorf("%q: we read what yaml.v3 writes\n%s\nas %+v, %v", v, theirs, got, err)
		}
	}
}

// TestConfigHandWrittenReadsLikeYAMLv3: the ways a person writes the file
// read as yaml.v3 reads them.
func TestConfigHandWrittenReadsLikeYAMLv3(t *testing.T) {
	for _, doc := range []string{
		"servers: [a:1, 'b:2', \"c:3\"]\nca: /x\nstate: /s\n",
		"# agent\n---\nservers:\n- a:1   # first\n-   b:2\nca: \"/x y\"   # quoted\nstate: '/s''q'\nlog_level: ~\n",
		"servers:\n  - a:1\n  - b:2\n\nca: /x # comment\nstate:\nsocket: null\r\n",
		"\ufeffservers: []\nca: C:\\x\\ca.pem\nstate: \"C:\\\\s\\u00e9\"\n",
		"servers: [ ]\nca: a#b\nstate: x\n",
		"servers:\nca: /x\n",
		"servers: [a:1,b:2]\nstate: /s # trailing\n",
	} {
		want, err := v3Decode([]byte(doc))
		if err != nil {
			t.Fatalf("yaml.v3 refuses the test's document %q: %v", doc, err)
		}
		got, err := parseConfig([]byte(doc))
		if err != nil || !sameFile(got, want) {
			t.Errorf("%q: read as %+v, %v; yaml.v3 reads %+v", doc, got, err, want)
		}
	}
}

// TestConfigRefusesWhatItDoesNotRead: everything outside the subset is an
// error naming the line and the problem, never a guess.
func TestConfigRefusesWhatItDoesNotRead(t *testing.T) {
	for doc, want := range map[string]string{
		"":                                 "empty",
		"# only a comment\n":               "empty",
		"servers: [a:1]\nserver: typo:1\n": `line 2: unknown key "server"`,
		"ca: /x\nca: /y\n":                 `line 2: key "ca" is given twice`,
		"ca: [a, b]\n":                     "ca is a string",
		"servers: a:1\n":                   "servers is a list",
		"state:\n  - a\n":                  "line 2: a list item where none belongs",
		"servers:\n  - a\n   - b\n":        "line 3: a list item where none belongs",
		"ca: &anchor /x\n":                 "anchors",
		"ca: *alias\n":                     "anchors",
		"ca: !!str x\n":                    "tags",
		"ca: |\n  x\n":                     "block scalars",
		"ca: {a: b}\n":                     "nested",
		"ca:\n  sub: x\n":                  "line 2: unexpected indentation",
		"servers:\n- host: a\n":            `must be quoted`,
		"\tca: /x\n":                       "tab",
		"ca: /x\n---\nca: /y\n":            "second YAML document",
		"ca: \"/x\n":                       `not closed with "`,
		"ca: '/x\n":                        "not closed with '",
		"ca: \"\\q\"\n":                    `unknown escape \q`,
		"ca: \"/x\" junk\n":                `unexpected "junk"`,
		"servers: [a, b\n":                 "not closed with ]",
		"servers: [a b] c\n":               `unexpected "c"`,
		"- just\n- a list\n":               "a list item where none belongs",
		"just text\n":                      "want key: value",
		"ca: a: b\n":                       "must be quoted",
		"servers: [a, [b]]\n":              "nested collections",
		"servers:\n  - a\nca: /x\n  - b\n": "line 4: a list item where none belongs",
	} {
		if _, err := parseConfig([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one saying %q", doc, err, want)
		}
	}
}

// FuzzConfigAgreesWithYAMLv3: whatever parseConfig accepts, yaml.v3 reads
// to the same configuration.
func FuzzConfigAgreesWithYAMLv3(f *testing.F) {
	f.Add([]byte("servers: [a:1, 'b:2']\nca: /x\nstate: /s\n"))
	f.Add([]byte("servers:\n    - a:1\nca: \"/x\\ty\"\nstate: '/s''q' # c\n"))
	f.Add([]byte("servers: ~\nlog_level: null\nsocket: -x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseConfig(data)
		if err != nil {
			return
		}
		want, err := v3Decode(data)
		if err != nil {
			t.Fatalf("accepted %q, which yaml.v3 refuses: %v", data, err)
		}
		if !sameFile(got, want) {
			t.Fatalf("%q: read as %+v, yaml.v3 reads %+v", data, got, want)
		}
	})
}
