package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/backupcrypt"
)

func (a *app) snapshotCmd() *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Back the cluster up for disaster recovery"}
	var encrypt bool
	var passphraseFile string
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Save the ledger and the cluster CA to FILE (restore with tallyd restore)",
		Long: `save asks the leader for everything committed so far (accounts, pools,
devices, leases, tokens) together with the cluster CA, and writes it to FILE
with owner-only permissions. It needs a cluster-admin token.

With --encrypt the secrets (the CA's private key, members' password hashes)
are sealed under a passphrase read from the terminal or --passphrase-file
(at least 12 characters; scrypt and AES-256-GCM); tallyd restore asks for
it. Without --encrypt the secrets are left out: restoring founds a new CA,
devices enroll again and members set new passwords.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			if encrypt {
				p, err := backupcrypt.ReadPassphrase(passphraseFile, "Passphrase for the backup: ")
				if err != nil {
					return err
				}
				if err := backupcrypt.CheckPassphrase(p); err != nil {
					return err
				}
				if passphraseFile == "" {
					again, err := backupcrypt.ReadPassphrase("", "Again: ")
					if err != nil {
						return err
					}
					if string(again) != string(p) {
						return fmt.Errorf("the two passphrases differ")
					}
				}
				if err := a.call(http.MethodPost, "/v1/backup", api.BackupRequest{Passphrase: string(p)}, &raw); err != nil {
					return codeErr(err)
				}
			} else if err := a.call(http.MethodGet, "/v1/backup", nil, &raw); err != nil {
				return codeErr(err)
			}
			var b api.Backup
			if err := json.Unmarshal(raw, &b); err != nil || b.Version != api.BackupVersion {
				return fmt.Errorf("the server sent an unreadable backup (version %d): %v", b.Version, err)
			}
			if err := certs.WriteFileAtomic(args[0], raw, 0o600); err != nil {
				return err
			}
			return a.printer().print(map[string]any{"file": args[0], "cluster_id": b.ClusterID, "applied_index": b.AppliedIndex, "node": b.Node}, func(out io.Writer) error {
				if _, err := fmt.Fprintf(out, "saved cluster %s up to log index %d (from %s) to %s\n", b.ClusterID, b.AppliedIndex, b.Node, args[0]); err != nil {
					return err
				}
				if b.SecretsOmitted {
					_, err := fmt.Fprintln(out, "the backup holds no CA key and no password hashes (use --encrypt to keep them, sealed): restoring it needs tallyd restore --new-ca and re-enrolling every device")
					return err
				}
				return nil
			})
		},
	}
	save.Flags().BoolVar(&encrypt, "encrypt", false, "keep the secrets (CA key, password hashes), sealed under a passphrase")
	save.Flags().StringVar(&passphraseFile, "passphrase-file", "", "with --encrypt: read the passphrase from this file instead of the terminal")
	c.AddCommand(save)
	return c
}
