package ctl

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
)

func (a *app) adminTokensListCmd() *cobra.Command {
	var account string
	c := &cobra.Command{
		Use:   "list",
		Short: "List admin tokens with their roles and accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/v1/admin-tokens"
			if account != "" {
				path += "?account=" + url.QueryEscape(account)
			}
			var ts []ledger.AdminToken
			if err := a.call(http.MethodGet, path, nil, &ts); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(ts)
			}
			w := a.table()
			fmt.Fprintln(w, "ID\tNAME\tROLE\tACCOUNT\tCREATED\tSTATE")
			for _, t := range ts {
				state := "active"
				if t.Revoked {
					state = "revoked"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, orDash(t.Name), t.Role, orDash(t.Account), t.Created.Local().Format("2006-01-02 15:04"), state)
			}
			return w.Flush()
		},
	}
	c.Flags().StringVar(&account, "account", "", "only this account's tokens")
	return c
}
