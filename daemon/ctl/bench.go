package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/daemon/loadgen"
)

// benchCmd is tallyctl bench: the load harness. It starts its own loopback
// clusters (real tallyd processes) and needs no admin connection.
func (a *app) benchCmd() *cobra.Command {
	var (
		cfg      loadgen.Config
		nodes    string
		jsonOut  string
		svgOut   string
		tallyd   string
		agentBin string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Load-test tallyd: N simulated devices against a 1-node and a 3-node loopback cluster",
		Long: `bench starts real tallyd processes on 127.0.0.1 (one cluster per --nodes
entry), simulates --devices devices that each enroll with their own key and
certificate and keep their own QUIC connection, and runs the phases enroll,
checkout storm, steady heartbeats, release storm and, with 3 nodes, leader
kill. It prints a table and writes JSON (--out) and an SVG chart (--svg).

Raft entries per operation come from the leader's applied index (the admin
API's X-Tally-Applied-Index header) before and after each phase; server CPU
and memory from /proc of the tallyd processes (Linux).

The load generator runs on the same machine and takes CPU from the servers:
read the numbers with the loadavg printed next to them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if tallyd == "" {
				tallyd = sibling("tallyd")
			}
			if agentBin == "" {
				agentBin = sibling("tally-agent")
			}
			if _, err := os.Stat(agentBin); err != nil {
				agentBin = ""
			}
			cfg.Tallyd, cfg.Agent = tallyd, agentBin
			cfg.Progress = a.errOut
			rep := &loadgen.Report{Command: "tallyctl " + strings.Join(os.Args[1:], " ")}
			for _, s := range strings.Split(nodes, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					return fmt.Errorf("--nodes %q: want a list such as 1,3", nodes)
				}
				run := cfg
				run.Nodes = n
				run.KillLeader = cfg.KillLeader && n > 1
				res, err := loadgen.Run(ctx, run)
				if err != nil {
					return fmt.Errorf("%d-node run: %w", n, err)
				}
				rep.Runs = append(rep.Runs, res)
			}
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
			if a.opts.json {
				return a.printJSON(rep)
			}
			rep.PrintTable(a.out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&nodes, "nodes", "1,3", "cluster sizes to run, comma-separated (1 and 3)")
	f.IntVar(&cfg.Devices, "devices", 200, "simulated devices, each with its own certificate and QUIC connection")
	f.IntVar(&cfg.Concurrency, "concurrency", 128, "requests in flight at once")
	f.IntVar(&cfg.HeartbeatRounds, "heartbeat-rounds", 3, "heartbeats per device in the steady phase")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", 10*time.Minute, "the clusters' lease TTL")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", 30*time.Second, "the clusters' heartbeat interval")
	f.BoolVar(&cfg.KillLeader, "kill-leader", true, "kill the leader of the 3-node cluster and time the failover")
	f.IntVar(&cfg.PprofBase, "pprof-base", 0, "serve node i's pprof on 127.0.0.1:BASE+i (0: off)")
	f.StringVar(&cfg.ProfileDir, "profile-dir", "", "with --pprof-base: save the leader's CPU profile (from the checkout storm on) and heap profile (after the steady phase) here")
	f.IntVar(&cfg.ProfileSeconds, "profile-seconds", 10, "length of the CPU profile")
	f.StringVar(&cfg.Dir, "dir", "", "where the nodes' data lives (default: a temporary directory, removed afterwards)")
	f.StringVar(&tallyd, "tallyd", "", "tallyd binary (default: next to tallyctl)")
	f.StringVar(&agentBin, "agent", "", "tally-agent binary for the idle-memory measurement (default: next to tallyctl, skipped if absent)")
	f.StringVar(&jsonOut, "out", "", "write the results as JSON to this file")
	f.StringVar(&svgOut, "svg", "", "write an SVG chart to this file")
	return c
}

// sibling is a binary in tallyctl's own directory.
func sibling(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}
