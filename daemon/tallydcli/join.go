package tallydcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/adminclient"
	"github.com/tally-licensing/tally/daemon/node"
)

func joinCmd(stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	var joinAddr, token, tokenFile, caFile string
	var nonvoter bool
	c := &cobra.Command{
		Use:   "join --join ADMIN-ADDR --token-file FILE --cacert ca.pem",
		Short: "Join an existing cluster as a new node, then serve",
		Long: `join asks a node of an existing cluster (any node: followers pass the request
to the leader) for the cluster CA, prepares this node's data directory with
its own node certificate and signing key, starts Raft, and asks the leader to
add it as a voter. Later starts are plain "tallyd serve --data DIR".

The admin token is read from --token-file or from $TALLY_TOKEN; --token
works too but puts the token on the command line, where ps shows it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokenFile != "" {
				if cmd.Flags().Changed("token") {
					return errors.New("give the admin token once: --token-file or --token, not both")
				}
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if token == "" {
				token = os.Getenv("TALLY_TOKEN")
			}
			if joinAddr == "" || token == "" || caFile == "" {
				return errors.New("join needs --join (a node's admin address), --token-file (or $TALLY_TOKEN: an admin token) and --cacert (the cluster's ca.pem)")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return joinAndServe(ctx, &f, joinAddr, token, caFile, nonvoter, stdout, stderr)
		},
	}
	f.register(c, ledger.DefaultSettings(), ":7443", ":7444", "127.0.0.1:7445")
	c.Flags().StringVar(&joinAddr, "join", "", "admin address of a node of the cluster to join")
	c.Flags().StringVar(&tokenFile, "token-file", "", "file holding an admin token of that cluster (default: $TALLY_TOKEN)")
	c.Flags().StringVar(&token, "token", "", "admin token of that cluster (visible in ps: prefer --token-file or $TALLY_TOKEN)")
	c.Flags().StringVar(&caFile, "cacert", os.Getenv("TALLY_CACERT"), "that cluster's CA certificate (ca.pem)")
	c.Flags().BoolVar(&nonvoter, "nonvoter", false, "join without a vote: serve agents and receive the log, but never hold commits up (tallyctl cluster join --nonvoter)")
	return c
}

// joinAndServe prepares the data dir from a join bundle if it is new, starts
// the node, asks the cluster to add it, and serves until ctx ends.
func joinAndServe(ctx context.Context, f *serveFlags, joinAddr, token, caFile string, nonvoter bool, stdout, stderr io.Writer) error {
	client, err := adminclient.New(joinAddr, token, caFile)
	if err != nil {
		return err
	}
	if !node.Initialized(f.dataDir) {
		var b adminapi.JoinBundle
		if err := client.Do(ctx, http.MethodPost, "/v1/cluster/join-bundle", adminapi.JoinBundleRequest{NodeID: f.nodeID}, &b); err != nil {
			return fmt.Errorf("ask %s for a join bundle: %w", joinAddr, err)
		}
		if err := node.InitJoined(f.dataDir, f.nodeID, splitList(f.hosts), b, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "prepared %s as node %s of cluster %s\n", f.dataDir, f.nodeID, b.ClusterID)
	}
	f.bootstrap = false
	n, logger, err := f.start(ctx, stdout, stderr)
	if err != nil {
		return err
	}
	defer n.Close()
	// Ask to be added until the leader agrees: it may be electing. Adding a
	// node that is already a member changes nothing, so restarts are safe.
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = client.Do(actx, http.MethodPost, "/v1/cluster/nodes", adminapi.AddNodeRequest{NodeID: n.Store.NodeID(), RaftAddr: n.Store.LocalAddr(), Nonvoter: nonvoter}, nil)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		logger.Warn("the cluster has not added this node yet", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() == nil {
		fmt.Fprintf(stdout, "joined: agents %s (QUIC), admin https://%s\n", n.AgentAddr(), n.AdminAddr())
		<-ctx.Done()
	}
	logger.Info("shutting down")
	return n.Close()
}
