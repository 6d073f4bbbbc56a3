package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// The output layer (after etcdctl's printer.go): every command fetches a
// value, then hands it to one printer, which writes it as JSON under --json
// and as the command's table or sentence otherwise. Commands only say how a
// value reads to a person.

// printer writes answers in the format the user asked for.
type printer struct {
	out  io.Writer
	json bool
}

func (a *app) printer() printer { return printer{out: a.out, json: a.opts.json} }

// print writes v as indented JSON under --json; otherwise human writes it.
func (p printer) print(v any, human func(w io.Writer) error) error {
	if p.json {
		return p.writeJSON(v)
	}
	return human(p.out)
}

func (p printer) writeJSON(v any) error {
	enc := json.NewEncoder(p.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes a header and rows, each a tab-separated line, in aligned
// columns; empty, when set and there are no rows, is printed under the
// header.
func (p printer) table(header string, rows []string, empty string) error {
	w := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 && empty != "" {
		_, err := fmt.Fprintln(p.out, empty)
		return err
	}
	return nil
}

// show is a command's whole body: call the admin API, then print the answer
// (out, a pointer) as JSON or as human says.
func (a *app) show(method, path string, in, out any, human func(w io.Writer) error) error {
	if err := a.call(method, path, in, out); err != nil {
		return codeErr(err)
	}
	return a.printer().print(out, human)
}

// done runs a request that answers nothing and prints what happened: the
// sentence, or under --json the object.
func (a *app) done(method, path string, in any, asJSON map[string]string, sentence string) error {
	if err := a.call(method, path, in, nil); err != nil {
		return codeErr(err)
	}
	return a.printer().print(asJSON, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, sentence)
		return err
	})
}

// list describes a list command: GET path(args) answers a JSON array of T,
// printed as a table of header and one row per element (tab-separated).
type list[T any] struct {
	use, short string
	// path builds the request path from the positional arguments; flags
	// the caller adds to the command are visible to it through closures.
	path   func(args []string) string
	header string
	row    func(T) string
	// empty is printed under the header when there are no rows.
	empty string
}

// listCmd builds a list command from its description. Its positional
// arguments are the upper-case words of use ("list ACCOUNT" takes one).
func listCmd[T any](a *app, l list[T]) *cobra.Command {
	return &cobra.Command{
		Use:   l.use,
		Short: l.short,
		Args:  cobra.ExactArgs(countArgs(l.use)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var xs []T
			if err := a.call("GET", l.path(args), nil, &xs); err != nil {
				return codeErr(err)
			}
			if xs == nil {
				xs = []T{} // JSON says [] rather than null
			}
			return a.printer().print(xs, func(w io.Writer) error {
				rows := make([]string, len(xs))
				for i, x := range xs {
					rows[i] = l.row(x)
				}
				if err := a.printer().table(l.header, rows, l.empty); err != nil {
					return err
				}
				a.noteFreshness()
				return nil
			})
		},
	}
}

// countArgs counts the positional placeholders (upper-case words) of a
// command's use line.
func countArgs(use string) int {
	n := 0
	for _, f := range strings.Fields(use)[1:] {
		if f == strings.ToUpper(f) && strings.Trim(f, "[]-.") == f {
			n++
		}
	}
	return n
}

// refuseUnknownSubcommands makes every command that only groups others
// (`tallyctl pools`) fail on a word it does not know (`tallyctl pools
// create`) with exit code 2 and what it might have meant, where cobra would
// print the help and exit 0. With no word at all it still prints the help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil || !c.HasParent() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return &ExitError{Code: 2, Err: unknownCommand(cmd, args[0])}
	}
}

func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, set lazily
	}
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return fmt.Errorf("%s\n%s has: %s (see '%s --help')", msg, cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
}
