// Package cli builds the tally-agent command line: `run` starts the agent in
// the foreground; `checkout`, `release` and `status` talk to a running agent
// over its socket.
//
// Commands never call os.Exit: a failure that was already reported to the
// user comes back as an error for which ExitCode gives the process's exit
// status, so the commands can be run and tested in-process.
//
// Design: docs/design.md#parts.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/agent/svc"
	"github.com/tally-licensing/tally/internal/buildinfo"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// EnrollTokenEnv may carry the enrollment token instead of --enroll-token,
// which other users can read in the process list.
const EnrollTokenEnv = "TALLY_ENROLL_TOKEN"

// exitError is a failure already reported on stdout/stderr.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode is the process exit status for an error returned by a command:
// 0 for nil, the reported status for a failure already printed, else 1.
func ExitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// Execute runs the command line args and returns the exit status. Errors not
// already reported are printed as "tally-agent: <error>" on stderr.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "tally-agent: %v\n", err)
	}
	return ExitCode(err)
}

type globalFlags struct {
	state  string
	socket string
}

// socketPath finds the running agent: --socket, else $TALLY_AGENT_SOCKET,
// else the socket in --state, else in the default state directory, else the
// system service's.
func (g *globalFlags) socketPath() string {
	switch {
	case g.socket != "":
		return g.socket
	case os.Getenv(api.SocketEnv) != "":
		return os.Getenv(api.SocketEnv)
	case g.state != "":
		return filepath.Join(g.state, api.SocketName)
	}
	return api.DefaultSocketPath()
}

// NewRootCommand returns the tally-agent command tree.
func NewRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "tally-agent",
		Short:         "Tally device agent: checks license leases out for local applications",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addVersionFlag(root)
	root.PersistentFlags().StringVar(&g.state, "state", "", "state directory (default "+api.DefaultStateDir()+")")
	root.PersistentFlags().StringVar(&g.socket, "socket", "", "local API socket (default $"+api.SocketEnv+", else STATE/"+api.SocketName+")")
	root.AddCommand(newRunCommand(g), newCheckoutCommand(g), newReleaseCommand(g), newStatusCommand(g), newJWKSCommand(g), newActivateCommand(g),
		newLoginCommand(g), newLogoutCommand(g), newWhoAmICommand(g), newEntitlementCommand(g), newOfflineCommand(g))
	root.AddCommand(newServiceCommands(g)...)
	return root
}

func newRunCommand(g *globalFlags) *cobra.Command {
	var (
		servers    []string
		caFile     string
		token      string
		logLevel   string
		devCode    string
		configFile string
		sockGroup  string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent until SIGINT or SIGTERM (in the foreground, or under the service manager)",
		Long: "Run the agent. `tally-agent install` registers a service that runs `tally-agent run --config FILE`;\n" +
			"flags given on the command line override the file. Under a service manager, logs go to the system logger.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			stateDir := g.state
			socket := g.socket
			if configFile != "" {
				fc, err := svc.LoadConfig(configFile)
				if err != nil {
					return err
				}
				if !f.Changed("server") {
					servers = fc.Servers
				}
				if !f.Changed("ca") {
					caFile = fc.CA
				}
				if !f.Changed("log-level") && fc.LogLevel != "" {
					logLevel = fc.LogLevel
				}
				if stateDir == "" {
					stateDir = fc.State
				}
				if socket == "" {
					socket = fc.Socket
				}
				if sockGroup == "" {
					sockGroup = fc.SocketGroup
				}
				if token == "" {
					if token, err = fc.EnrollToken(); err != nil {
						return err
					}
				}
			} else {
				for _, name := range []string{"server", "ca"} {
					if !f.Changed(name) {
						return fmt.Errorf("required flag --%s not set (or pass --config FILE)", name)
					}
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			if token == "" {
				token = os.Getenv(EnrollTokenEnv)
			}
			if stateDir == "" {
				stateDir = api.DefaultStateDir()
			}
			cfg := agent.Config{
				StateDir:    stateDir,
				Servers:     servers,
				CAFile:      caFile,
				EnrollToken: token,
				SocketPath:  socket,
				DeviceCode:  devCode,
				SocketGroup: sockGroup,
				Logger:      slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
			}
			svcConfig := svc.ServiceConfig(configFile, stateDir)
			if !service.Interactive() {
				// Under systemd, launchd or the SCM: log to the system's logger.
				if h, err := svc.SystemLogHandler(svcConfig, level); err == nil {
					cfg.Logger = slog.New(h)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return svc.Run(ctx, svc.NewProgram(cfg), svcConfig)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "agent configuration file written by `tally-agent install`")
	serverFlag(f, &servers)
	f.StringVar(&caFile, "ca", "", "cluster CA certificate (PEM) that servers must be signed by")
	f.StringVar(&token, "enroll-token", "", "enrollment token for a device not yet enrolled (or $"+EnrollTokenEnv+")")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&sockGroup, "socket-group", "", "let this group's members use the local API (socket 0660, its directory 0750)")
	f.StringVar(&devCode, "device-code", "", "force the Device Code of a device not yet enrolled (support and tests; default: derived from the machine identity)")
	return cmd
}

func newCheckoutCommand(g *globalFlags) *cobra.Command {
	var (
		wait     time.Duration
		asJSON   bool
		user     string
		team     string
		borrow   time.Duration
		priority int
		onExit   bool
	)
	cmd := &cobra.Command{
		Use:   "checkout FEATURE",
		Short: "Check a lease out and print its token",
		Long: "Check out a lease on FEATURE through the running agent and print its token on stdout.\n" +
			"On failure it prints \"tally-agent: <code>: <message>\" on stderr and exits 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if user != "" {
				return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument,
					"--user is gone: who holds a seat is proven, not typed; sign the member in with `tally-agent login --email %s`", user))
			}
			opts := []sdk.CheckoutOption{sdk.WithWait(wait), sdk.WithTeam(team), sdk.WithBorrow(borrow), sdk.WithPriority(priority)}
			if onExit {
				opts = append(opts, sdk.WithReleaseOnExit())
			}
			lease, err := sdk.New(g.socketPath()).Checkout(cmd.Context(), args[0], opts...)
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), api.LeaseResponse{Lease: *lease})
			}
			fmt.Fprintln(cmd.OutOrStdout(), lease.Token)
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "how long to queue for a seat when none is free (0: fail at once)")
	cmd.Flags().StringVar(&user, "user", "", "refused: sign the member in with `tally-agent login` instead")
	_ = cmd.Flags().MarkHidden("user")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the whole lease, or {"error":{...}}, as JSON on stdout`)
	cmd.Flags().StringVar(&team, "team", "", "the team the seat is for (team caps and reservations)")
	cmd.Flags().DurationVar(&borrow, "borrow", 0, "borrow the seat for offline use this long (within the pool's borrow limit)")
	cmd.Flags().IntVar(&priority, "priority", 0, "queue priority when waiting: higher first")
	cmd.Flags().BoolVar(&onExit, "release-on-exit", false, "release the lease when this command's process has exited (mostly for tests; applications use the SDK option)")
	return cmd
}

func newReleaseCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "release FEATURE",
		Short: "Give the device's lease on FEATURE back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sdk.New(g.socketPath()).Release(cmd.Context(), args[0]); err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"released": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "released %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

func newStatusCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the device, its connection and its leases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sdk.New(g.socketPath()).Status(cmd.Context())
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON on stdout")
	return cmd
}

func newJWKSCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "jwks",
		Short: "Print the cluster's public lease-signing keys (JWKS) as the agent received them",
		Long:  "Print the JWKS document applications verify lease tokens with, e.g. `tally-agent jwks > jwks.json`.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := sdk.New(g.socketPath()).JWKS(cmd.Context())
			if err != nil {
				return report(cmd, false, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(doc)))
			return nil
		},
	}
}

func newEntitlementCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "entitlement",
		Short: "Print the vendor entitlements of this device's account, with what applications need to check leases against them",
		Long: "Print the account's vendor entitlements. With --json, print the bundle an application checks leases against offline " +
			"(entitlements, cluster CA, signing-key certificates): `tally-agent entitlement --json > bundle.json`, then " +
			"`tally-vendor verify-lease --pub VENDOR.pub --bundle bundle.json TOKEN`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := sdk.New(g.socketPath()).Entitlements(cmd.Context())
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), b)
			}
			out := cmd.OutOrStdout()
			if len(b.Entitlements) == 0 {
				fmt.Fprintln(out, "no vendor entitlements: this account's leases are not bound to a vendor's entitlement")
				return nil
			}
			for _, jws := range b.Entitlements {
				e, err := entitlement.ParseUnverified(jws)
				if err != nil {
					fmt.Fprintf(out, "unreadable entitlement: %v\n", err)
					continue
				}
				var fs []string
				for _, f := range e.Features {
					fs = append(fs, fmt.Sprintf("%s=%d", f.Name, f.Seats))
				}
				fmt.Fprintf(out, "%s  %s for %s  %s  until %s\n", e.Serial, e.Vendor, e.Customer, strings.Join(fs, ","), e.Expires.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the bundle as JSON")
	return cmd
}

// report prints a failure (JSON on stdout, or "tally-agent: code: message"
// on stderr) and returns the exit status for it.
func report(cmd *cobra.Command, asJSON bool, err error) error {
	pe := api.AsError(err)
	if asJSON {
		_ = printJSON(cmd.OutOrStdout(), api.ErrorResponse{Error: pe})
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "tally-agent: %s: %s\n", pe.Code, pe.Message)
	}
	return &exitError{code: 1}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printStatus(w io.Writer, st *sdk.Status, now time.Time) {
	account := st.Account
	if account == "" {
		account = "-"
	}
	// Say what is known: an open connection proves nothing about a server
	// that died since, so the line gives the time of its last answer.
	server := "not connected"
	if st.Connected {
		server = st.Server + " (connection open, no answer yet)"
	}
	if st.LastAnswer != nil {
		ago := now.Sub(*st.LastAnswer).Round(time.Second)
		if st.Connected && st.LastAnswerFrom == st.Server {
			server = fmt.Sprintf("%s (last answered %s ago)", st.Server, ago)
		} else {
			server = fmt.Sprintf("%s (last answer from %s, %s ago)", server, st.LastAnswerFrom, ago)
		}
	}
	if !st.Enrolled {
		server = "enrolling"
	}
	fmt.Fprintf(w, "Device code:    %s\n", st.DeviceCode)
	fmt.Fprintf(w, "Account:        %s\n", account)
	fmt.Fprintf(w, "Server:         %s\n", server)
	fmt.Fprintf(w, "Servers:        %s\n", strings.Join(st.Servers, ", "))
	if st.Problem != "" {
		fmt.Fprintf(w, "Refused:        %s\n", st.Problem)
	}
	if st.SignedIn != "" {
		fmt.Fprintf(w, "Signed in:      %s\n", st.SignedIn)
	}
	if st.LastHeartbeat != nil {
		fmt.Fprintf(w, "Last heartbeat: %s ago\n", now.Sub(*st.LastHeartbeat).Round(time.Second))
	}
	if len(st.Leases) == 0 {
		fmt.Fprintln(w, "\nNo leases held.")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tLEASE\tKIND\tMEMBER\tEXPIRES IN")
	for _, l := range st.Leases {
		in := "expired"
		if d := l.Expires.Sub(now); d > 0 {
			in = d.Round(time.Second).String()
		}
		member := l.Member
		if member == "" {
			member = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", l.Feature, l.ID, l.Kind, member, in)
	}
	tw.Flush()
}

func newActivateCommand(g *globalFlags) *cobra.Command {
	var (
		email   string
		asJSON  bool
		pwStdin bool
		pwArg   string
	)
	cmd := &cobra.Command{
		Use:   "activate --email EMAIL [--password-stdin]",
		Short: "Sign a user in on this device and join the account (Activate Existing License)",
		Long: "Ask the cluster to admit EMAIL to this device's account under its seat assignment policy:\n" +
			"with a domain policy any address in the domain joins while a seat is free; with a list only listed users.\n" +
			"A user who was removed joins again by activating again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" {
				return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument, "--email is required"))
			}
			if cmd.Flags().Changed("password") {
				return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument,
					"a password on the command line is refused (every user of this machine can read it): type it when asked, or pipe it with --password-stdin"))
			}
			pw := ""
			if f, ok := cmd.InOrStdin().(*os.File); pwStdin || (ok && term.IsTerminal(int(f.Fd()))) {
				var err error
				if pw, err = readPassword(cmd, cmd.InOrStdin(), pwStdin); err != nil {
					return report(cmd, asJSON, err)
				}
			}
			r, err := sdk.New(g.socketPath()).ActivateWithPassword(cmd.Context(), email, pw)
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			verb := "is already a member of"
			if r.Joined {
				verb = "joined"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s (%s, %s)\n", r.Email, verb, r.Account, r.Role, r.Status)
			if r.SignedIn {
				fmt.Fprintf(cmd.OutOrStdout(), "signed in as %s on this device\n", r.Email)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the user's email address")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin: set for a member joining now, checked for an existing one; then sign in")
	cmd.Flags().StringVar(&pwArg, "password", "", "refused: a password must not be a command-line argument")
	_ = cmd.Flags().MarkHidden("password")
	return cmd
}

// addVersionFlag gives root the -v/--version flag cobra gives a command with
// a Version, printing buildinfo.String instead of cobra's "NAME version V".
// It does not go through cobra's Version and SetVersionTemplate: a version
// template is executed with text/template, whose reflective method calls make
// the linker keep every exported method of every type in the binary (3.5 MB
// of the agent's 17.7, 1.8 MiB of its idle RSS; docs/performance.md). root
// runs nothing itself, so cobra answers a bare `tally-agent --version` with
// its help function, which prints the version when the flag is set.
func addVersionFlag(root *cobra.Command) {
	version := root.Flags().BoolP("version", "v", false, "version for "+root.Name())
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if asked, _ := c.Flags().GetBool("help"); c == root && *version && !asked {
			fmt.Fprintln(c.OutOrStdout(), buildinfo.String("tally-agent"))
			return
		}
		help(c, args)
	})
}

// serverFlag defines --server on f: host:port, repeatable or
// comma-separated, as pflag's StringSliceVar does but without its CSV
// reader (encoding/csv is code the agent would carry for a list of
// addresses, which hold neither quotes nor commas; docs/performance.md,
// agent footprint). The help line is the same.
func serverFlag(f *pflag.FlagSet, dst *[]string) {
	f.Var(&serverList{dst: dst}, "server", "tallyd agent address host:port (repeatable or comma-separated)")
}

type serverList struct {
	dst *[]string
	set bool // the first --server replaces the default, later ones append
}

func (s *serverList) String() string {
	if s.dst == nil || len(*s.dst) == 0 {
		return ""
	}
	return "[" + strings.Join(*s.dst, ",") + "]"
}

func (s *serverList) Set(v string) error {
	var items []string
	if v != "" {
		items = strings.Split(v, ",")
	}
	if !s.set {
		*s.dst = items
	} else {
		*s.dst = append(*s.dst, items...)
	}
	s.set = true
	return nil
}

func (s *serverList) Type() string { return "strings" }
