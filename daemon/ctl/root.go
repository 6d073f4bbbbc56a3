// Package ctl implements tallyctl, the administrators' command line.
//
// Design: docs/design.md#parts.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/daemon/adminclient"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
)

// options are the connection settings every command shares.
type options struct {
	addr, token, cacert string
	json, consistent    bool
	timeout             time.Duration
}

type app struct {
	opts   options
	out    io.Writer
	errOut io.Writer
	// fresh is what the latest answer said about its own freshness.
	fresh adminclient.Freshness
}

// ExitError carries a process exit code out of a command without calling
// os.Exit inside the library.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs tallyctl with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := NewRootCommand(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "tallyctl: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "tallyctl: %v\n", err)
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return 2 // a usage error, as for unknown subcommands
	}
	return 1
}

// NewRootCommand builds the tallyctl command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	a := &app{out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:   "tallyctl",
		Short: "Administer a Tally license cluster",
		Long: `tallyctl talks to a tallyd node's admin API over HTTPS.

Connection settings come from flags or the environment:
  --addr   / TALLY_ADDR     admin address, host:port (default 127.0.0.1:7444);
                            several, comma-separated (a,b,c), are tried in
                            order until one answers, and tallyctl says which did
  --token  / TALLY_TOKEN    admin token (tat_…)
  --cacert / TALLY_CACERT   the cluster CA certificate (ca.pem)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.opts.addr, "addr", envOr("TALLY_ADDR", "127.0.0.1:7444"), "admin API address, or several comma-separated nodes tried in order")
	pf.StringVar(&a.opts.token, "token", os.Getenv("TALLY_TOKEN"), "admin token")
	pf.StringVar(&a.opts.cacert, "cacert", os.Getenv("TALLY_CACERT"), "cluster CA certificate file")
	pf.BoolVar(&a.opts.json, "json", false, "print JSON instead of tables")
	pf.DurationVar(&a.opts.timeout, "timeout", 30*time.Second, "how long to wait for the server")
	pf.BoolVar(&a.opts.consistent, "consistent", false, "read the leader's current view (any node otherwise answers from its own, possibly trailing, copy)")
	root.AddCommand(
		a.statusCmd(), a.leasesCmd(), a.revokeCmd(), a.queueCmd(),
		a.accountsCmd(), a.poolsCmd(), a.enrollTokensCmd(), a.devicesCmd(), a.adminTokensCmd(),
		a.jwksCmd(), a.verifyCmd(), a.clusterCmd(), a.snapshotCmd(),
	)
	root.AddCommand(a.productsCmd(), a.licensesCmd(), a.importCmd(), a.exportCmd())
	root.AddCommand(a.policyCmd(), a.eventsCmd())
	root.AddCommand(a.usersCmd(), a.invitationsCmd(), a.teamsCmd(), a.seatsCmd(), a.subscriptionCmd(), a.usageCmd())
	root.AddCommand(a.auditCmd(), a.reportCmd())
	root.AddCommand(a.vendorsCmd(), a.entitlementsCmd(), a.offlineCmd())
	refuseUnknownSubcommands(root)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (a *app) client() (*adminclient.Client, error) {
	tok := a.opts.token
	if tok == "" {
		return nil, errors.New("no admin token: pass --token or set TALLY_TOKEN (tallyd writes the first one to admin.token in its data dir)")
	}
	if strings.HasPrefix(tok, "@") {
		b, err := os.ReadFile(tok[1:])
		if err != nil {
			return nil, fmt.Errorf("read admin token: %w", err)
		}
		tok = string(b)
	}
	return adminclient.New(a.opts.addr, tok, a.opts.cacert)
}

// call runs one admin API request with the command's timeout.
func (a *app) call(method, path string, in, out any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	c.Consistent = a.opts.consistent
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.timeout)
	defer cancel()
	err = c.Do(ctx, method, path, in, out)
	a.fresh = c.LastFreshness()
	a.noteFailovers(c.Failovers(), err == nil || isAPIError(err))
	return err
}

// noteFailovers says on stderr which listed nodes did not answer and which
// one did, so that a reader of the output knows where it came from.
func (a *app) noteFailovers(failed []string, answered bool) {
	if len(failed) == 0 {
		return
	}
	for _, f := range failed {
		fmt.Fprintf(a.errOut, "tallyctl: no answer from %s\n", f)
	}
	if answered {
		fmt.Fprintf(a.errOut, "tallyctl: answered by %s at %s\n", orDash(a.fresh.Node), a.fresh.Addr)
	}
}

func isAPIError(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe)
}

// noteFreshness tells the reader of a table when it came from a follower's
// copy of the ledger, which may trail the leader.
func (a *app) noteFreshness() {
	if a.fresh.Node != "" && (a.fresh.RaftState != "Leader" || a.fresh.Consistency == api.ConsistencyLeader) {
		fmt.Fprintf(a.out, "\nanswered by %s; --consistent reads the leader's current view\n", a.fresh)
	}
}

func (a *app) table() *tabwriter.Writer { return tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0) }

// when prints a time relative to now, for tables.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %s)", t.Local().Format("15:04:05"), d)
	case d < 0:
		return fmt.Sprintf("%s (%s ago)", t.Local().Format("15:04:05"), -d)
	}
	return t.Local().Format("15:04:05") + " (now)"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// codeErr makes protocol errors read "code: message" on stderr.
func codeErr(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return &ExitError{Code: 1, Err: pe}
	}
	return err
}
