package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/protocol"
)

// newLoginCommand: `tally-agent login [--email E] [--password-stdin]`. The
// password is read from the terminal without echo, or from stdin; it is
// never a command-line argument, which every user of the machine can read
// in the process list.
func newLoginCommand(g *globalFlags) *cobra.Command {
	var (
		email     string
		fromStdin bool
		password  string
		asJSON    bool
		browser   bool
	)
	cmd := &cobra.Command{
		Use:   "login [--email EMAIL] [--password-stdin]",
		Short: "Sign a member in on this device for your OS user",
		Long: "Sign in as a member of the device's account. The password goes to the cluster once, over the\n" +
			"device's mutual-TLS connection; the agent keeps a credential that works only on this device.\n" +
			"From then on your checkouts are the member's (token usr and add-ons), and the account's rules\n" +
			"for members apply. Other OS users on the device have their own sign-in.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("password") {
				return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument,
					"a password on the command line is refused (every user of this machine can read it): type it when asked, or pipe it with --password-stdin"))
			}
			if browser {
				return loginInBrowser(cmd, g, asJSON)
			}
			in := cmd.InOrStdin()
			if email == "" {
				if fromStdin {
					return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument, "--password-stdin needs --email"))
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Email: ")
				line, err := bufio.NewReader(in).ReadString('\n')
				if err != nil && line == "" {
					return report(cmd, asJSON, protocol.Errorf(protocol.CodeInvalidArgument, "no email given"))
				}
				email = strings.TrimSpace(line)
			}
			pw, err := readPassword(cmd, in, fromStdin)
			if err != nil {
				return report(cmd, asJSON, err)
			}
			m, err := sdk.New(g.socketPath()).Login(cmd.Context(), email, pw)
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed in as %s (%s) in account %s on device %s\n", m.Email, m.Role, m.Account, m.Device)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the member's email (asked for when not given)")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input (first line) instead of the terminal")
	f.StringVar(&password, "password", "", "refused: a password must not be a command-line argument")
	_ = f.MarkHidden("password")
	f.BoolVar(&asJSON, "json", false, "print the member as JSON on stdout")
	f.BoolVar(&browser, "browser", false, "sign in without typing the password here: show a code to approve in the console (\"Approve a device\") from your own phone or computer")
	return cmd
}

// loginInBrowser is `login --browser`: print the code, wait for approval.
func loginInBrowser(cmd *cobra.Command, g *globalFlags, asJSON bool) error {
	c := sdk.New(g.socketPath())
	st, err := c.LoginStart(cmd.Context())
	if err != nil {
		return report(cmd, asJSON, err)
	}
	// The code goes to stderr with the instructions, so that --json keeps
	// stdout for the result; scripts read it from there.
	fmt.Fprintf(cmd.ErrOrStderr(), "To sign in, open the Tally console on your own phone or computer, choose \"Approve a device\",\nand enter code %s for account %s with your email and password (valid until %s).\nWaiting...\n",
		st.UserCode, st.Account, st.Expires.Local().Format("15:04:05"))
	m, err := c.LoginWait(cmd.Context())
	if err != nil {
		return report(cmd, asJSON, err)
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), m)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "signed in as %s (%s) in account %s on device %s\n", m.Email, m.Role, m.Account, m.Device)
	return nil
}

// readPassword reads the password: the first line of stdin with
// --password-stdin, else from the terminal without echo.
func readPassword(cmd *cobra.Command, in io.Reader, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", protocol.Errorf(protocol.CodeInvalidArgument, "reading the password from stdin: %v", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", protocol.Errorf(protocol.CodeInvalidArgument, "no password on stdin")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "no terminal to read the password from: use --password-stdin")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "reading the password: %v", err)
	}
	if len(b) == 0 {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "empty password")
	}
	return string(b), nil
}

func newLogoutCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Sign your member out of this device (the cluster revokes the leases held under the sign-in)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := sdk.New(g.socketPath()).Logout(cmd.Context())
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed out %s\n", m.Email)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

func newWhoAmICommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the member signed in on this device for your OS user, as the cluster knows them now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := sdk.New(g.socketPath()).WhoAmI(cmd.Context())
			if err != nil {
				return report(cmd, asJSON, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s, %s) in account %s on device %s\n", m.Email, m.Role, m.Status, m.Account, m.Device)
			if len(m.Teams) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "teams:    %s\n", strings.Join(m.Teams, ", "))
			}
			if len(m.Licenses) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "licenses: %s\n", strings.Join(m.Licenses, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the member as JSON on stdout")
	return cmd
}
