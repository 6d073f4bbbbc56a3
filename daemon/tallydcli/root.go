// Package tallydcli implements the tallyd command: init, serve and dev.
//
// Design: docs/design.md#parts.
package tallydcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/daemon/agentsrv"
	"github.com/tally-licensing/tally/daemon/memtrim"
	"github.com/tally-licensing/tally/daemon/node"
	"github.com/tally-licensing/tally/internal/buildinfo"
	"github.com/tally-licensing/tally/internal/clock"
)

// Main runs tallyd with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := NewRootCommand(stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(stderr, "tallyd: %v\n", err)
		if store.IsDamage(err) {
			return store.ExitDamaged
		}
		return 1
	}
	return 0
}

type logOptions struct{ level, format string }

func (o *logOptions) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&o.format, "log-format", "text", "text or json")
}

func (o *logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.level, err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.format)
}

// settingsFlags are the lease settings a new cluster is founded with.
type settingsFlags struct{ ttl, heartbeat, skew, auditRetention time.Duration }

func (s *settingsFlags) register(cmd *cobra.Command, def ledger.Settings) {
	cmd.Flags().DurationVar(&s.ttl, "lease-ttl", def.LeaseTTL, "default lease TTL of a new cluster")
	cmd.Flags().DurationVar(&s.heartbeat, "heartbeat-interval", def.HeartbeatInterval, "heartbeat interval agents are told to use (new cluster)")
	cmd.Flags().DurationVar(&s.skew, "max-skew", def.MaxSkew, "clock skew allowance before a seat is reused (new cluster)")
	cmd.Flags().DurationVar(&s.auditRetention, "audit-retention", def.AuditRetentionOrDefault(), "how long audit records are kept (new cluster)")
}

func (s *settingsFlags) settings() ledger.Settings {
	return ledger.Settings{LeaseTTL: s.ttl, HeartbeatInterval: s.heartbeat, MaxSkew: s.skew, AuditRetention: s.auditRetention}
}

// NewRootCommand builds the tallyd command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "tallyd",
		Short:         "Tally license server",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version(),
	}
	root.SetVersionTemplate(buildinfo.String("tallyd") + "\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(initCmd(stdout, stderr), serveCmd(stdout, stderr), devCmd(stdout, stderr), joinCmd(stdout, stderr), restoreCmd(stdout, stderr))
	return root
}

func defaultDataDir() string {
	if d := os.Getenv("TALLY_DATA"); d != "" {
		return d
	}
	return "/var/lib/tallyd"
}

func initCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, nodeID, hosts string
	var sf settingsFlags
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new cluster's first node: CA, node certificate, signing key and first admin token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := node.Init(dataDir, node.InitOptions{NodeID: nodeID, Hosts: splitList(hosts), Settings: sf.settings()})
			if err != nil {
				return err
			}
			if !res.Created {
				fmt.Fprintf(stdout, "%s is already initialized for cluster %s; nothing changed\n", dataDir, res.ClusterID)
				return nil
			}
			fmt.Fprintf(stdout, "initialized cluster %s in %s\nfirst admin token written to %s/%s (shown only there; keep it safe)\nstart the node with: tallyd serve --data %s\n",
				res.ClusterID, dataDir, dataDir, node.FileAdminToken, dataDir)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", defaultDataDir(), "data directory")
	c.Flags().StringVar(&nodeID, "node-id", "node1", "this node's ID")
	c.Flags().StringVar(&hosts, "hosts", "", "comma-separated DNS names and IPs agents and administrators use to reach this node")
	sf.register(c, ledger.DefaultSettings())
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// exitDiskFailure is tallyd's exit status when its Raft log disk failed a
// write (EX_IOERR).
const exitDiskFailure = 74

type serveFlags struct {
	dataDir, nodeID, hosts                   string
	agentAddr, adminAddr, raftAddr           string
	advertise, advertiseAdmin, advertiseRaft string
	bootstrap                                bool
	raftTimeout, reapInterval                time.Duration
	pprofAddr                                string
	addrFile                                 string
	settings                                 settingsFlags
	log                                      logOptions
	smtp                                     smtpFlags
	agentLimits                              agentsrv.Limits
	admin                                    node.AdminLimits
}

func (f *serveFlags) register(c *cobra.Command, def ledger.Settings, agentAddr, adminAddr, raftAddr string) {
	c.Flags().StringVar(&f.dataDir, "data", defaultDataDir(), "data directory")
	c.Flags().StringVar(&f.nodeID, "node-id", "node1", "this node's ID (used when the data dir is new)")
	c.Flags().StringVar(&f.hosts, "hosts", "", "extra names and IPs for the node certificate (new data dir)")
	c.Flags().StringVar(&f.agentAddr, "agent-addr", agentAddr, "QUIC address agents connect to")
	c.Flags().StringVar(&f.adminAddr, "admin-addr", adminAddr, "HTTPS address of the admin API")
	c.Flags().StringVar(&f.raftAddr, "raft-addr", raftAddr, "address for Raft traffic between nodes")
	c.Flags().StringVar(&f.advertise, "advertise", "", "agent address to tell agents (default: the bound agent address)")
	c.Flags().StringVar(&f.advertiseRaft, "advertise-raft", "", "Raft address other nodes dial (required when --raft-addr binds all interfaces)")
	c.Flags().StringVar(&f.advertiseAdmin, "advertise-admin", "", "admin address other nodes reach this node at (default: the bound admin address)")
	c.Flags().BoolVar(&f.bootstrap, "bootstrap", true, "found a new single-node cluster if the data dir has no Raft state")
	c.Flags().DurationVar(&f.raftTimeout, "raft-timeout", DefaultRaftTimeout, "Raft heartbeat, election and leader-lease timeout; the default suits nodes on one site's LAN (pre-vote is on, so a node that was cut off cannot depose a healthy leader when it returns)")
	c.Flags().DurationVar(&f.reapInterval, "reap-interval", time.Second, "how often the leader reclaims expired leases")
	f.settings.register(c, def)
	f.log.register(c)
	f.smtp.register(c)
	c.Flags().StringVar(&f.addrFile, "addr-file", "", "once listening, write the bound agent, admin and Raft addresses to this file as JSON (for port 0 in tests and scripts)")
	c.Flags().StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go profiling endpoints (/debug/pprof/) on this address, unauthenticated: keep it on loopback")
	c.Flags().StringVar(&f.admin.MetricsAddr, "metrics-addr", "", "serve /metrics over plain HTTP without a token on this address (default: only on the admin listener, with a cluster-wide token)")
	c.Flags().DurationVar(&f.admin.ReadTimeout, "admin-read-timeout", node.DefaultAdminReadTimeout, "admin API: time to read a whole request")
	c.Flags().DurationVar(&f.admin.WriteTimeout, "admin-write-timeout", node.DefaultAdminWriteTimeout, "admin API: time to write a response")
	c.Flags().DurationVar(&f.admin.IdleTimeout, "admin-idle-timeout", node.DefaultAdminIdleTimeout, "admin API: idle keep-alive connections close after this")
	c.Flags().IntVar(&f.agentLimits.MaxConns, "agent-max-conns", agentsrv.DefaultMaxConns, "agent port: open connections in total")
	c.Flags().IntVar(&f.agentLimits.MaxConnsPerSource, "agent-max-conns-per-source", agentsrv.DefaultMaxConnsPerSource, "agent port: open connections per source IP address")
	c.Flags().IntVar(&f.agentLimits.MaxUnauthenticatedPerSource, "agent-max-anonymous-per-source", agentsrv.DefaultMaxUnauthenticatedPerSrc, "agent port: connections without a device certificate per source IP address")
	c.Flags().IntVar(&f.agentLimits.MaxStreams, "agent-max-streams", agentsrv.DefaultMaxStreams, "agent port: concurrent requests per connection")
	c.Flags().IntVar(&f.agentLimits.HandshakesPerSecond, "agent-handshakes-per-second", agentsrv.DefaultHandshakesPerSecond, "agent port: new connections accepted per second")
}

// start initializes the data dir if needed and starts the node.
func (f *serveFlags) start(ctx context.Context, stdout, stderr io.Writer) (*node.Node, *slog.Logger, error) {
	logger, err := f.log.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	if f.pprofAddr != "" {
		if err := servePprof(ctx, f.pprofAddr, logger); err != nil {
			return nil, nil, fmt.Errorf("--pprof-addr: %w", err)
		}
	}
	if !node.Initialized(f.dataDir) {
		if !f.bootstrap {
			return nil, nil, fmt.Errorf("data dir %s is not initialized: run `tallyd init --data %s`, or serve with --bootstrap", f.dataDir, f.dataDir)
		}
		res, err := node.Init(f.dataDir, node.InitOptions{NodeID: f.nodeID, Hosts: splitList(f.hosts), Settings: f.settings.settings()})
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(stdout, "initialized new cluster %s in %s; first admin token in %s/%s\n", res.ClusterID, f.dataDir, f.dataDir, node.FileAdminToken)
	}
	smtpCfg, err := f.smtp.config()
	if err != nil {
		return nil, nil, err
	}
	n, err := node.Start(ctx, node.Config{
		SMTP: smtpCfg, NotifyInterval: f.smtp.interval,
		DataDir: f.dataDir, AgentAddr: f.agentAddr, AdminAddr: f.adminAddr, RaftAddr: f.raftAddr,
		AdvertiseAgent: f.advertise, AdvertiseAdmin: f.advertiseAdmin, AdvertiseRaft: f.advertiseRaft, Bootstrap: f.bootstrap, Logger: logger,
		RaftHeartbeatTimeout: f.raftTimeout, ReapInterval: f.reapInterval,
		AgentLimits: f.agentLimits, Admin: f.admin,
		Clock: clock.FromEnv(logger),
		FailStop: func(err error) {
			// Exit rather than serve from a log the disk may not hold;
			// a supervisor restarts the node, which reads the disk back.
			logger.Error("tallyd stops: its Raft log disk failed", "err", err)
			os.Exit(exitDiskFailure)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	// The process gives a storm's memory back to the OS once it is over
	// (the trimmer is per process, so it starts here and not in node).
	go memtrim.Run(ctx, memtrim.Config{Logger: logger.With("component", "memtrim")})
	if f.addrFile != "" {
		if err := writeAddrFile(f.addrFile, n); err != nil {
			n.Close()
			return nil, nil, err
		}
	}
	return n, logger, nil
}

func serveCmd(stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	var configFile string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a tallyd node",
		Long: `Run a tallyd node from its data directory.

Settings come from flags or from a YAML file (--config); a flag on the
command line wins over the file. In the file, "bootstrap: true" founds a new
cluster with this node when the data dir is new, and a "join" block (addr,
cacert, token_file) joins an existing cluster instead:

  node_id: node2
  data: /var/lib/tally
  agent_addr: ":7443"
  admin_addr: ":7444"
  raft_addr: "10.0.0.2:7445"
  join:
    addr: 10.0.0.1:7444
    cacert: /etc/tally/ca.pem
    token_file: /etc/tally/admin.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if configFile != "" {
				join, err := applyConfigFile(cmd, configFile)
				if err != nil {
					return err
				}
				if join != nil {
					return joinAndServe(ctx, &f, join.addr, join.token, join.caFile, join.nonvoter, stdout, stderr)
				}
			}
			n, logger, err := f.start(ctx, stdout, stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "tallyd serving: agents %s (QUIC), admin https://%s\n", n.AgentAddr(), n.AdminAddr())
			<-ctx.Done()
			logger.Info("shutting down")
			if err := n.Close(); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	f.register(c, ledger.DefaultSettings(), ":7443", ":7444", "127.0.0.1:7445")
	c.Flags().StringVar(&configFile, "config", "", "YAML configuration file (see above)")
	return c
}

// DefaultRaftTimeout is Raft's heartbeat, election and leader-lease timeout
// for nodes on one site: a leader kill is detected within 0.5–1 s and grants
// resume in about 1.2 s (tally-bench), where hashicorp/raft's 1 s default
// took 2–2.5 s. Pre-vote (hashicorp/raft ≥ 1.7, on by default with its
// network transport) keeps a node that was partitioned from starting an
// election that would depose a healthy leader. Nodes spread over a WAN want
// a longer timeout.
const DefaultRaftTimeout = 500 * time.Millisecond
