package ctl

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/protocol/api"
)

func (a *app) clusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "List, grow, shrink and rebalance the cluster's nodes"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the nodes: ID, addresses, role, last contact, applied index",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.ClusterView
			if err := a.call(http.MethodGet, "/v1/cluster", nil, &v); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.out, "cluster %s, leader %s (as seen by %s)\n\n", v.ClusterID, orDash(v.Leader), v.AskedNode)
			now := time.Now()
			w := a.table()
			fmt.Fprintln(w, "ID\tROLE\tSUFFRAGE\tRAFT\tAGENTS\tADMIN\tAPPLIED\tLAST CONTACT")
			for _, m := range v.Members {
				applied, contact := "-", "-"
				if m.Reachable {
					applied = fmt.Sprint(m.AppliedIndex)
					if m.Role == "leader" {
						contact = "(leader)"
					} else if !m.LastContact.IsZero() {
						contact = now.Sub(m.LastContact).Round(time.Millisecond).String() + " ago"
					}
				} else {
					contact = "unreachable: " + m.Error
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Role, m.Suffrage, m.RaftAddr, orDash(m.AgentAddr), orDash(m.AdminAddr), applied, contact)
			}
			return w.Flush()
		},
	}
	join := &cobra.Command{
		Use:   "join NODE-ID RAFT-ADDR",
		Short: "Add a running, provisioned node to the Raft configuration (tallyd join does this itself)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.ClusterView
			if err := a.call(http.MethodPost, "/v1/cluster/nodes", api.AddNodeRequest{NodeID: args[0], RaftAddr: args[1]}, &v); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.out, "added %s at %s; the cluster has %d nodes\n", args[0], args[1], len(v.Members))
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove NODE-ID",
		Short: "Remove a node (dead or alive) from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.call(http.MethodDelete, "/v1/cluster/nodes/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(map[string]string{"removed": args[0]})
			}
			fmt.Fprintf(a.out, "removed %s from the cluster\n", args[0])
			return nil
		},
	}
	transfer := &cobra.Command{
		Use:   "transfer-leader [NODE-ID]",
		Short: "Hand leadership to another node (the most up-to-date one if none is named)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.TransferRequest
			if len(args) == 1 {
				req.NodeID = args[0]
			}
			if err := a.call(http.MethodPost, "/v1/cluster/transfer-leader", req, nil); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(map[string]string{"transferred_to": req.NodeID})
			}
			fmt.Fprintln(a.out, "leadership transferred")
			return nil
		},
	}
	c.AddCommand(list, join, remove, transfer)
	return c
}
