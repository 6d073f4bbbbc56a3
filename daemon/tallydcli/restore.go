package tallydcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/node"
	"github.com/tally-licensing/tally/protocol/backupcrypt"
)

func restoreCmd(stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	var passphraseFile string
	var newCA bool
	c := &cobra.Command{
		Use:   "restore --data NEW-DIR BACKUP-FILE",
		Short: "Found a new cluster from a backup (tallyctl snapshot save), then serve",
		Long: `restore rebuilds a cluster after a disaster: it founds a single node in an
empty data directory with the backup's cluster CA and identity, installs the
backed-up ledger (accounts, pools, devices, leases, admin and enrollment
tokens), and serves. Devices enrolled before keep their certificates and
their leases. Grow the cluster again with tallyd join.

An encrypted backup (tallyctl snapshot save --encrypt) asks for its
passphrase on the terminal, or reads it from --passphrase-file. A backup
saved without --encrypt holds no CA key and no password hashes: restore it
with --new-ca, then re-enroll every device and have members set passwords.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read backup: %w", err)
			}
			var b adminapi.Backup
			if err := json.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("backup %s is not a Tally backup: %w", args[0], err)
			}
			var passphrase []byte
			if b.Sealed != nil {
				if passphrase, err = backupcrypt.ReadPassphrase(passphraseFile, "Backup passphrase: "); err != nil {
					return err
				}
			}
			caKey, led, err := b.Open(passphrase)
			if err != nil {
				return err
			}
			if err := node.InitRestored(f.dataDir, f.nodeID, splitList(f.hosts), b, caKey, led, newCA, time.Now()); err != nil {
				return err
			}
			if caKey == nil || newCA {
				fmt.Fprintln(stderr, "a new cluster CA was made: remove and re-enroll every device (and, if the backup held no secrets, have members set new passwords)")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			f.bootstrap = true
			n, logger, err := f.start(ctx, stdout, stderr)
			if err != nil {
				return err
			}
			defer n.Close()
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err = n.RestoreLedger(rctx, led)
			cancel()
			if err != nil {
				return err
			}
			var leases, accounts int
			n.Store.Read(func(st *ledger.State) {
				leases = len(st.Leases(ledger.LeaseFilter{}))
				accounts = len(st.Accounts())
			})
			fmt.Fprintf(stdout, "restored cluster %s from %s (log index %d): %d accounts, %d leases\ntallyd serving: agents %s (QUIC), admin https://%s\n",
				b.ClusterID, args[0], b.AppliedIndex, accounts, leases, n.AgentAddr(), n.AdminAddr())
			<-ctx.Done()
			logger.Info("shutting down")
			return n.Close()
		},
	}
	f.register(c, ledger.DefaultSettings(), ":7443", ":7444", "127.0.0.1:7445")
	c.Flags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the passphrase of an encrypted backup (default: ask on the terminal)")
	c.Flags().BoolVar(&newCA, "new-ca", false, "found a new cluster CA (required for a backup saved without its secrets; rotates a leaked CA key): devices enroll again")
	return c
}
