package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/daemon/loadgen"
)

// benchCmd is the load harness. It starts its own loopback clusters (real
// tallyd processes) and its own floor server, and needs no admin
// connection.
func benchCmd(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var (
		cfg      loadgen.Config
		nodes    string
		jsonOut  string
		svgOut   string
		mdOut    string
		tallyd   string
		agentBin string
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "tally-bench",
		Short: "Load-test tallyd: a floor, then N simulated devices against 1- and 3-node loopback clusters",
		Long: `tally-bench first measures the floor: a separate process serving raw quic-go
with mutual TLS, N connections (as many as --devices), one round trip per
connection, a resumed connection per operation, and Ed25519 signatures on one
core. Then it starts real tallyd processes on 127.0.0.1 (one cluster per
--nodes entry), simulates --devices devices that each enroll with their own
key and certificate, and runs the phases enroll, checkout storm, steady
heartbeats, release storm and, with 3 nodes, leader kill. Every figure is
printed beside its floor and the ratio to it.

Every listener takes its port from --port-base: node i (0-based) uses
BASE+10*i+{0 agent/UDP, 1 admin, 2 raft, 3 pprof}, the floor server BASE+90.
The bench raises its own open-file limit (RLIMIT_NOFILE), which the tallyd
processes inherit.

Raft entries per operation come from the leader's applied index (the admin
API's X-Tally-Applied-Index header) before and after each phase; server CPU
and memory from /proc of the tallyd processes (Linux). The load generator
runs on the same machine and takes CPU from the servers: read the numbers as
ratios to the floor, with the loadavg printed next to them.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tallyd == "" {
				tallyd = sibling("tallyd")
			}
			if agentBin == "" {
				agentBin = sibling("tally-agent")
			}
			if _, err := os.Stat(agentBin); err != nil {
				agentBin = ""
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary for the floor server: %w", err)
			}
			cfg.Tallyd, cfg.Agent, cfg.Self = tallyd, agentBin, self
			cfg.Progress = stderr
			var sizes []int
			for _, s := range strings.Split(nodes, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || (n != 1 && n != 3) {
					return fmt.Errorf("--nodes %q: want a list of 1 and 3, such as 1,3", nodes)
				}
				sizes = append(sizes, n)
			}
			rep, err := loadgen.Bench(ctx, cfg, sizes, "tally-bench "+strings.Join(os.Args[1:], " "))
			if err != nil {
				return err
			}
			rep.ComputeTargets()
			if jsonOut != "" {
				b, _ := json.MarshalIndent(rep, "", "  ")
				if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			if svgOut != "" {
				if err := os.WriteFile(svgOut, []byte(rep.SVG()), 0o644); err != nil {
					return err
				}
			}
			if mdOut != "" {
				f, err := os.Create(mdOut)
				if err != nil {
					return err
				}
				fmt.Fprintf(f, "# tally-bench %s\n\n```\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
				rep.PrintTable(f)
				fmt.Fprintln(f, "```")
				if err := f.Close(); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.PrintTable(stdout)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&nodes, "nodes", "1,3", "cluster sizes to run, comma-separated (1 and 3)")
	f.IntVar(&cfg.Devices, "devices", 200, "simulated devices, each with its own certificate and QUIC connection")
	f.IntVar(&cfg.Concurrency, "concurrency", 128, "requests in flight at once")
	f.IntVar(&cfg.HeartbeatRounds, "heartbeat-rounds", 3, "heartbeats per device in the steady phase: the first over QUIC (it gets the device its datagram session), the others by datagram")
	f.IntVar(&cfg.PortBase, "port-base", loadgen.DefaultPortBase, "first port of the listeners the bench starts (BASE..BASE+90); 0 binds them all to port 0 and reads the addresses back")
	f.DurationVar(&cfg.IdleClose, "idle-close", client.DefaultIdleClose, "the simulated agents close an idle connection after this and resume a new one per operation, as tally-agent does (0: keep every connection open)")
	f.BoolVar(&cfg.Spread, "spread", true, "each device talks to the node its Device Code hashes to, as tally-agent does (false: all to node1)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", 10*time.Minute, "the clusters' lease TTL")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", 30*time.Second, "the clusters' heartbeat interval")
	f.DurationVar(&cfg.RaftTimeout, "raft-timeout", 0, "tallyd --raft-timeout for the clusters (0: tallyd's default)")
	f.DurationVar(&cfg.SettleTimeout, "settle-timeout", loadgen.DefaultSettleTimeout, "after the heartbeat phase of the 1-node run, wait up to this long (devices idle) for a garbage collection and for the leader's RSS to stop falling, and report it settled, with the live heap under --pprof (0: skip)")
	f.BoolVar(&cfg.Nonvoters, "nonvoters", false, "join nodes 2 and 3 as non-voters (they serve agents; no leader kill then)")
	f.BoolVar(&cfg.KillLeader, "kill-leader", true, "kill the leader of the 3-node cluster and time the failover")
	f.BoolVar(&cfg.Pprof, "pprof", false, "serve each node's pprof on its pprof port (see --port-base)")
	f.StringVar(&cfg.ProfileDir, "profile-dir", "", "with --pprof: save the leader's CPU profile (from --profile-phase on) and heap profile (after the steady phase) here")
	f.IntVar(&cfg.ProfileSeconds, "profile-seconds", 10, "length of the CPU profile")
	f.StringVar(&cfg.ProfilePhase, "profile-phase", "checkout", "the phase the CPU profile starts with: checkout, heartbeat or release")
	f.StringVar(&cfg.Dir, "dir", "", "where the nodes' data lives (default: a temporary directory, removed afterwards)")
	f.StringVar(&tallyd, "tallyd", "", "tallyd binary (default: next to tally-bench)")
	f.StringVar(&agentBin, "agent", "", "tally-agent binary for the idle-memory measurement (default: next to tally-bench, skipped if absent)")
	f.StringVar(&jsonOut, "out", "", "write the results as JSON to this file")
	f.StringVar(&svgOut, "svg", "", "write an SVG chart to this file")
	f.StringVar(&mdOut, "md", "", "write the printed tables (with the command and commit) as Markdown to this file")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	c.AddCommand(floorServerCmd(ctx))
	return c
}

// floorServerCmd is the floor's server process, started by the bench itself.
func floorServerCmd(ctx context.Context) *cobra.Command {
	var addr, dir string
	c := &cobra.Command{
		Use:    "floor-server",
		Short:  "serve raw QUIC round trips with mutual TLS (started by the bench for its floor phase)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return loadgen.ServeFloor(ctx, addr, dir)
		},
	}
	c.Flags().StringVar(&addr, "addr", "", "UDP address to serve on")
	c.Flags().StringVar(&dir, "dir", "", "directory with the certificates the bench wrote")
	c.MarkFlagRequired("addr")
	c.MarkFlagRequired("dir")
	return c
}

// sibling is a binary in tally-bench's own directory.
func sibling(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}
