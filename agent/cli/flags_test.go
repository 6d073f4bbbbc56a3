package cli

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

// TestServerFlagSplitsAndRepeatsLikeStringSlice: --server reads as pflag's
// StringSliceVar read it (without its CSV reader): commas split, repeats
// append, the help line is unchanged.
func TestServerFlagSplitsAndRepeatsLikeStringSlice(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--server", "a:1"}, []string{"a:1"}},
		{[]string{"--server", "a:1,b:2", "--server", "c:3"}, []string{"a:1", "b:2", "c:3"}},
		{[]string{"--server=a:1", "--server="}, []string{"a:1"}},
	} {
		var ours, theirs []string
		f, g := pflag.NewFlagSet("x", pflag.ContinueOnError), pflag.NewFlagSet("x", pflag.ContinueOnError)
		serverFlag(f, &ours)
		g.StringSliceVar(&theirs, "server", nil, "tallyd agent address host:port (repeatable or comma-separated)")
		if err := f.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if err := g.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ours, c.want) || !slices.Equal(ours, theirs) {
			t.Errorf("%v: %q, StringSlice %q, want %q", c.args, ours, theirs, c.want)
		}
		if f.FlagUsages() != g.FlagUsages() {
			t.Errorf("help %q, StringSlice's %q", f.FlagUsages(), g.FlagUsages())
		}
	}
}
