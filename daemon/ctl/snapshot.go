package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/api"
)

func (a *app) snapshotCmd() *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Back the cluster up for disaster recovery"}
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Save the ledger and the cluster CA to FILE (restore with tallyd restore)",
		Long: `save asks the leader for everything committed so far (accounts, pools,
devices, leases, tokens) together with the cluster CA, and writes it to FILE
with owner-only permissions. The file holds the CA's private key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			if err := a.call(http.MethodGet, "/v1/backup", nil, &raw); err != nil {
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
				_, err := fmt.Fprintf(out, "saved cluster %s up to log index %d (from %s) to %s\n", b.ClusterID, b.AppliedIndex, b.Node, args[0])
				return err
			})
		},
	}
	c.AddCommand(save)
	return c
}
