package tallydcli

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/daemon/node"
	"github.com/tally-licensing/tally/daemon/passwords"
	"github.com/tally-licensing/tally/protocol"
)

// The demo that `make run` starts.
const (
	demoAccount = "demo"
	demoFeature = "countthings"
	demoSeats   = 5
	// demoOwner signs in to the console with the password in
	// DIR/owner.password.
	demoOwner = "owner@demo.example"
)

// devSettings make the demo lively: a killed agent's seat comes back in
// about a minute instead of five.
var devSettings = ledger.Settings{LeaseTTL: time.Minute, HeartbeatInterval: 10 * time.Second, MaxSkew: 5 * time.Second}

func devCmd(stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	var noAgent bool
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a single-node cluster with a demo account and a local agent, everything generated",
		Long: `dev starts a complete single-node Tally on loopback with no configuration:
a cluster CA, signing key and admin token, a "demo" account with a floating
pool "countthings" of 5 seats, an enrollment token, and one local agent.
It writes ca.pem, jwks.json, admin.token, enroll.token, tally.env and
owner.password (the console password of owner@demo.example) into the data dir. Ctrl-C stops the agent (releasing its leases) and the node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			dir, err := filepath.Abs(f.dataDir)
			if err != nil {
				return err
			}
			f.dataDir = dir
			n, logger, err := f.start(ctx, stdout, stderr)
			if err != nil {
				return err
			}
			defer n.Close()
			// On an existing data dir the ledger replays its log first:
			// reading it before would find no demo account and try to
			// create it again.
			if err := n.WaitReady(ctx); err != nil {
				return err
			}
			enrollTok, err := prepareDemo(ctx, n, dir)
			if err != nil {
				return err
			}
			agentDone := make(chan error, 1)
			agentCtx, stopAgent := context.WithCancel(context.Background())
			defer stopAgent()
			socket := filepath.Join(dir, "agent", "agent.sock")
			if !noAgent {
				go func() {
					agentDone <- agent.Run(agentCtx, agent.Config{
						StateDir: filepath.Join(dir, "agent"), Servers: []string{n.AgentAddr()},
						CAFile: filepath.Join(dir, "ca.pem"), EnrollToken: enrollTok, SocketPath: socket,
						Logger: logger.With("component", "agent"),
					})
				}()
			} else {
				close(agentDone)
			}
			if err := writeEnv(dir, n, socket); err != nil {
				return err
			}
			printNextSteps(stdout, dir, n.AdminAddr())
			select {
			case <-ctx.Done():
			case err := <-agentDone:
				if err != nil {
					return fmt.Errorf("local agent stopped: %w", err)
				}
				<-ctx.Done()
			}
			fmt.Fprintln(stdout, "\nstopping: the agent releases its leases, then the node shuts down")
			stopAgent()
			if !noAgent {
				select {
				case <-agentDone:
				case <-time.After(10 * time.Second):
					logger.Warn("agent did not stop within 10s")
				}
			}
			return n.Close()
		},
	}
	f.register(c, devSettings, "127.0.0.1:7443", "127.0.0.1:7444", "127.0.0.1:7445")
	c.Flags().Lookup("data").DefValue = ".tally-dev"
	c.Flags().Set("data", ".tally-dev")
	c.Flags().BoolVar(&noAgent, "no-agent", false, "do not start the local agent")
	return c
}

// prepareDemo makes sure the demo account, its pool and a usable enrollment
// token exist, and writes the client files. It returns the enrollment token.
func prepareDemo(ctx context.Context, n *node.Node, dir string) (string, error) {
	var hasAccount, hasPool bool
	n.Store.Read(func(st *ledger.State) {
		acct, ok := st.Account(demoAccount)
		hasAccount = ok
		_, hasPool = acct.Pools[demoFeature]
	})
	if !hasAccount {
		if err := apply(ctx, n, ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{
			ID: demoAccount, Name: "Demo Ltd", AdminEmail: "licenses@demo.example", Model: ledger.ModelFloating,
		}}); err != nil {
			return "", err
		}
	}
	if !hasPool {
		if err := apply(ctx, n, ledger.Command{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: demoAccount, Feature: demoFeature, Seats: demoSeats}}); err != nil {
			return "", err
		}
	}
	if err := prepareDemoOwner(ctx, n, dir); err != nil {
		return "", err
	}
	tokFile := filepath.Join(dir, "enroll.token")
	if b, err := os.ReadFile(tokFile); err == nil {
		if tok, err := authtoken.Parse(authtoken.Enroll, string(b)); err == nil {
			var perr *protocol.Error
			n.Store.Read(func(st *ledger.State) { _, perr = st.CheckEnrollToken(tok.ID, time.Now()) })
			if perr == nil {
				return tok.String(), n.WriteClientFiles(dir)
			}
		}
	}
	tok, err := authtoken.New(authtoken.Enroll)
	if err != nil {
		return "", err
	}
	if err := apply(ctx, n, ledger.Command{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{
		// Many uses: `make run` and the demo enroll several agents with it.
		ID: tok.ID, Account: demoAccount, Name: "tallyd dev", Hash: tok.Hash(), Expires: time.Now().Add(30 * 24 * time.Hour), MaxUses: 1000,
	}}); err != nil {
		return "", err
	}
	if err := certs.WriteFileAtomic(tokFile, []byte(tok.String()+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok.String(), n.WriteClientFiles(dir)
}

// prepareDemoOwner gives the demo account member seats and an owner who
// can sign in to the console with a password generated once and kept in
// DIR/owner.password (0600).
func prepareDemoOwner(ctx context.Context, n *node.Node, dir string) error {
	pwFile := filepath.Join(dir, "owner.password")
	var exists bool
	var seats int
	n.Store.Read(func(st *ledger.State) {
		_, exists = st.User(demoAccount, demoOwner)
		u, _ := st.MemberUsage(demoAccount)
		seats = u.Purchased
	})
	if _, err := os.Stat(pwFile); exists && err == nil {
		return nil
	}
	if seats < demoSeats {
		if err := apply(ctx, n, ledger.Command{Type: ledger.CmdSetSeats, Payload: &ledger.SetSeats{Account: demoAccount, Seats: demoSeats}}); err != nil {
			return err
		}
	}
	secret := make([]byte, 10)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	password := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
	hash, err := passwords.Hash(password)
	if err != nil {
		return err
	}
	cmd := ledger.Command{Type: ledger.CmdAddUser, Payload: &ledger.AddUser{Account: demoAccount, Email: demoOwner, Role: ledger.RoleOwner, PasswordHash: hash}}
	if exists {
		// The password file was lost: set a new one.
		cmd = ledger.Command{Type: ledger.CmdSetPassword, Payload: &ledger.SetPassword{Account: demoAccount, Email: demoOwner, PasswordHash: hash}}
	}
	if err := apply(ctx, n, cmd); err != nil {
		return err
	}
	return certs.WriteFileAtomic(pwFile, []byte(password+"\n"), 0o600)
}

func apply(ctx context.Context, n *node.Node, c ledger.Command) error {
	res, err := n.Propose(ctx, c)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return fmt.Errorf("set up demo (%s): %w", c.Type, err)
	}
	return nil
}

// writeEnv writes tally.env: sourcing it points tallyctl and tally-agent at
// this dev cluster and puts the binaries on PATH.
func writeEnv(dir string, n *node.Node, socket string) error {
	tok, err := os.ReadFile(filepath.Join(dir, node.FileAdminToken))
	if err != nil {
		return fmt.Errorf("read admin token: %w", err)
	}
	var b strings.Builder
	if exe, err := os.Executable(); err == nil {
		fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(filepath.Dir(exe)))
	}
	fmt.Fprintf(&b, "export TALLY_ADDR=%s\n", shellQuote(n.AdminAddr()))
	fmt.Fprintf(&b, "export TALLY_TOKEN=%s\n", shellQuote(strings.TrimSpace(string(tok))))
	fmt.Fprintf(&b, "export TALLY_CACERT=%s\n", shellQuote(filepath.Join(dir, "ca.pem")))
	fmt.Fprintf(&b, "export TALLY_JWKS=%s\n", shellQuote(filepath.Join(dir, "jwks.json")))
	fmt.Fprintf(&b, "export TALLY_AGENT_SOCKET=%s\n", shellQuote(socket))
	return certs.WriteFileAtomic(filepath.Join(dir, "tally.env"), []byte(b.String()), 0o600)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printNextSteps(w io.Writer, dir, adminAddr string) {
	rel := dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(w, `
Tally is running: one node, a "demo" account with 5 seats of "countthings", and a local agent.
In another terminal, try:

  source %s/tally.env
  tally-agent checkout countthings                                   # take a seat: prints a signed lease token
  tallyctl leases                                                    # who holds which seat
  tallyctl verify --jwks "$TALLY_JWKS" "$(tally-agent checkout countthings)"   # verify the token offline

The web console is at https://%s/: sign in to account demo as %s with the
password in %s/owner.password, or with the admin token in %s/admin.token (the
certificate is signed by the cluster's own CA, %s/ca.pem, which the browser does not know yet).

Ctrl-C here stops everything.
`, rel, adminAddr, demoOwner, rel, rel, rel)
}
