package ctl

import (
	"fmt"
	"io"
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
			return a.show(http.MethodGet, "/v1/cluster", nil, &v, func(w io.Writer) error {
				fmt.Fprintf(w, "cluster %s, leader %s (as seen by %s)\n\n", v.ClusterID, orDash(v.Leader), v.AskedNode)
				rows := make([]string, len(v.Members))
				for i, m := range v.Members {
					rows[i] = clusterRow(m, time.Now())
				}
				return a.printer().table("ID\tROLE\tSUFFRAGE\tRAFT\tAGENTS\tADMIN\tAPPLIED\tLAST CONTACT", rows, "")
			})
		},
	}
	var nonvoter bool
	join := &cobra.Command{
		Use:   "join NODE-ID RAFT-ADDR",
		Short: "Add a running, provisioned node to the Raft configuration (tallyd join does this itself)",
		Long: `join adds a running, provisioned node to the Raft configuration (tallyd join
does this itself). With --nonvoter the node receives the log and serves
agents but has no vote, so commits never wait for it: that is how a cluster
grows agent-facing capacity. Joining a non-voter again without --nonvoter
promotes it to a voter.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.ClusterView
			return a.show(http.MethodPost, "/v1/cluster/nodes", api.AddNodeRequest{NodeID: args[0], RaftAddr: args[1], Nonvoter: nonvoter}, &v, func(w io.Writer) error {
				kind := "voter"
				if nonvoter {
					kind = "non-voter"
				}
				_, err := fmt.Fprintf(w, "added %s at %s as a %s; the cluster has %d nodes\n", args[0], args[1], kind, len(v.Members))
				return err
			})
		},
	}
	join.Flags().BoolVar(&nonvoter, "nonvoter", false, "add the node without a vote: it serves agents and receives the log, commits do not wait for it")
	remove := &cobra.Command{
		Use:   "remove NODE-ID",
		Short: "Remove a node (dead or alive) from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.done(http.MethodDelete, "/v1/cluster/nodes/"+url.PathEscape(args[0]), nil,
				map[string]string{"removed": args[0]}, "removed "+args[0]+" from the cluster")
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
			return a.done(http.MethodPost, "/v1/cluster/transfer-leader", req,
				map[string]string{"transferred_to": req.NodeID}, "leadership transferred")
		},
	}
	c.AddCommand(list, join, remove, transfer)
	return c
}

// clusterRow is one node of `cluster list`. A node that did not answer is
// "unreachable" in the role column, since its role is then unknown, and
// the reason follows once, in the last column.
func clusterRow(m api.ClusterMember, now time.Time) string {
	role, applied, contact := m.Role, "-", "-"
	switch {
	case !m.Reachable:
		role = "unreachable"
		if m.Error != "" {
			contact = m.Error
		}
	case m.Role == "leader":
		applied, contact = fmt.Sprint(m.AppliedIndex), "(leader)"
	default:
		applied = fmt.Sprint(m.AppliedIndex)
		if !m.LastContact.IsZero() {
			contact = now.Sub(m.LastContact).Round(time.Millisecond).String() + " ago"
		}
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", m.ID, role, m.Suffrage, m.RaftAddr, orDash(m.AgentAddr), orDash(m.AdminAddr), applied, contact)
}
