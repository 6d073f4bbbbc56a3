package ctl

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// An unknown subcommand is a usage error: exit 2, naming the word, the
// command, and what it has (issue 15: `tallyctl pools create` printed the
// help and exited 0).
func TestUnknownSubcommandExitsNonZeroWithSuggestion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pools", "create", "demo"}, []string{`unknown command "create" for "tallyctl pools"`, "list, set-seats"}},
		{[]string{"pools", "lst"}, []string{"did you mean list?"}},
		{[]string{"pool"}, []string{`unknown command "pool"`, "pools"}},
		{[]string{"cluster", "members"}, []string{`unknown command "members" for "tallyctl cluster"`, "list"}},
	} {
		var out, errOut bytes.Buffer
		code := Main(tc.args, &out, &errOut)
		if code != 2 {
			t.Errorf("tallyctl %s: exit %d, want 2\n%s", strings.Join(tc.args, " "), code, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("tallyctl %s: stderr lacks %q:\n%s", strings.Join(tc.args, " "), w, errOut.String())
			}
		}
		if out.Len() != 0 {
			t.Errorf("tallyctl %s printed the help on stdout:\n%s", strings.Join(tc.args, " "), out.String())
		}
	}
}

// Every grouping command refuses a word it does not know; none falls back
// to cobra's print-help-and-succeed.
func TestEveryGroupRefusesUnknownWords(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.HasSubCommands() {
				path := strings.Fields(sub.CommandPath())[1:]
				var out, errOut bytes.Buffer
				if code := Main(append(path, "no-such-thing"), &out, &errOut); code != 2 {
					t.Errorf("%s no-such-thing: exit %d, want 2 (%s)", sub.CommandPath(), code, errOut.String())
				}
				walk(sub)
			}
		}
	}
	walk(NewRootCommand(&bytes.Buffer{}, &bytes.Buffer{}))
}

// A group named alone still shows its help and succeeds.
func TestGroupAloneShowsHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"pools"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "set-seats") {
		t.Fatalf("tallyctl pools: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func TestListArgsComeFromUse(t *testing.T) {
	for use, want := range map[string]int{"list": 0, "list ACCOUNT": 1, "show ACCOUNT EMAIL": 2, "leases": 0} {
		if got := countArgs(use); got != want {
			t.Errorf("countArgs(%q) = %d, want %d", use, got, want)
		}
	}
}
