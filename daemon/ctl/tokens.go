package ctl

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
)

func (a *app) adminTokensListCmd() *cobra.Command {
	var account string
	c := listCmd(a, list[ledger.AdminToken]{
		use:   "list",
		short: "List admin tokens with their roles and accounts",
		path: func([]string) string {
			if account != "" {
				return "/v1/admin-tokens?account=" + url.QueryEscape(account)
			}
			return "/v1/admin-tokens"
		},
		header: "ID\tNAME\tROLE\tACCOUNT\tCREATED\tSTATE",
		row: func(t ledger.AdminToken) string {
			state := "active"
			if t.Revoked {
				state = "revoked"
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.ID, orDash(t.Name), t.Role, orDash(t.Account), t.Created.Local().Format("2006-01-02 15:04"), state)
		},
	})
	c.Flags().StringVar(&account, "account", "", "only this account's tokens")
	return c
}
