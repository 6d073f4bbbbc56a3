// Package loadgen is Tally's load harness: it starts a real tallyd cluster on
// loopback (1 or 3 processes), simulates N devices that each enroll with
// their own key and certificate and keep their own QUIC connection, and runs
// the phases enroll, checkout storm, steady heartbeats, release storm and
// (with 3 nodes) leader kill. It measures throughput, latency percentiles,
// Raft entries per operation (from the admin API's applied-index header),
// the server processes' CPU and resident memory, and failover time.
//
// tallyctl bench is its command line; make bench-load runs it.
//
// Design: docs/design.md#scale.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tally-licensing/tally/agent/client"
	agentstate "github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol"
)

// Config says what to run.
type Config struct {
	// Tallyd is the tallyd binary; Agent, when set, the tally-agent binary
	// whose idle memory is measured against the same cluster.
	Tallyd, Agent string
	Nodes         int // 1 or 3
	Devices       int
	// Concurrency is how many requests are in flight at once.
	Concurrency int
	// HeartbeatRounds is how many heartbeats every device sends in the
	// steady phases (as fast as the cluster answers): the first over QUIC,
	// which gives the device its datagram session, the rest by datagram.
	HeartbeatRounds int
	// LeaseTTL and HeartbeatInterval are the cluster's settings: with the
	// defaults (10m, 30s) a heartbeat never moves a horizon, as in a
	// steady fleet.
	LeaseTTL, HeartbeatInterval time.Duration
	// KillLeader runs the leader-kill phase (3 nodes).
	KillLeader bool
	// Dir holds the nodes' data; a temporary directory when empty.
	Dir string
	// PortBase is the first of the ports every listener the bench starts
	// takes (see ports.go for the plan); 0 binds every listener to port 0
	// and reads the bound addresses back (tallyd --addr-file), as tests do.
	PortBase int
	// Self is this binary, started as "floor-server" for the floor phase.
	Self string
	// Pprof starts each node's pprof endpoint (ports.go).
	Pprof bool
	// ProfileDir, with Pprof, receives the leader's CPU profile
	// (ProfileSeconds long, from the checkout storm on) and its heap
	// profile after the steady phase.
	ProfileDir     string
	ProfileSeconds int
	// ProfilePhase is the phase the CPU profile starts with (checkout,
	// heartbeat or release; default checkout).
	ProfilePhase string
	// IdleClose is the simulated agents' idle close (as tally-agent's
	// client.DefaultIdleClose); 0 keeps every device's connection open.
	IdleClose time.Duration
	// Spread sends each device to the node its Device Code hashes to, as
	// tally-agent does; false sends every device to node1 (the leader).
	Spread bool
	// Nonvoters joins every node but the first as a non-voter (tallyd join
	// --nonvoter): they serve agents, commits wait for node1 alone.
	Nonvoters bool
	// RaftTimeout is passed to tallyd --raft-timeout when set.
	RaftTimeout time.Duration
	// SettleTimeout bounds the wait, after the heartbeat phase, for the
	// leader's RSS to stop falling (settle.go); 0 skips the settle phase
	// (tally-bench: DefaultSettleTimeout).
	SettleTimeout time.Duration
	settlePoll    time.Duration // tests: the RSS poll interval (settlePoll)
	// Progress receives one line per step; nil for none.
	Progress io.Writer `json:"-"`
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 1
	}
	if c.Devices == 0 {
		c.Devices = 200
	}
	if c.Concurrency == 0 {
		c.Concurrency = 128
	}
	if c.HeartbeatRounds == 0 {
		c.HeartbeatRounds = 3
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Minute
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 30 * time.Second
	}
	if c.ProfilePhase == "" {
		c.ProfilePhase = "checkout"
	}
}

// Phase is what one phase measured.
type Phase struct {
	Name     string `json:"name"`
	Ops      int    `json:"ops"`
	Errors   int    `json:"errors"`
	FirstErr string `json:"first_error,omitempty"`
	// Retries counts transport failures retried with the same request ID,
	// as an agent does (for example a handshake refused while the server's
	// accept queue is full); their time is in the latency.
	Retries int `json:"retries"`
	// FirstRetry is the transport failure behind the first retry.
	FirstRetry string  `json:"first_retry,omitempty"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	P999ms     float64 `json:"p999_ms"`
	// RaftEntries is how far the leader's applied index moved during the
	// phase; EntriesPerOp divides it by the successful operations.
	RaftEntries  uint64  `json:"raft_entries"`
	EntriesPerOp float64 `json:"raft_entries_per_op"`
	// ServerCPUSeconds is the CPU time all tallyd processes used during the
	// phase; ServerCPUPct the same as percent of one core.
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	ServerCPUPct     float64 `json:"server_cpu_pct"`
	// ServerRSSKiB is the sum of the nodes' resident memory at the end.
	ServerRSSKiB int64 `json:"server_rss_kib"`
	// PerNode is each node's CPU during the phase and RSS at its end.
	PerNode []NodeUsage `json:"per_node,omitempty"`
	// QUICFallbacks counts, in the datagram heartbeat phase, heartbeats
	// that went over QUIC after their datagram was not answered "ok".
	QUICFallbacks int `json:"quic_fallbacks,omitempty"`
}

// NodeUsage is one tallyd process's share of a phase.
type NodeUsage struct {
	Node       string  `json:"node"`
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSKiB     int64   `json:"rss_kib"`
}

// Result is a whole run.
type Result struct {
	Nodes       int       `json:"nodes"`
	Devices     int       `json:"devices"`
	Concurrency int       `json:"concurrency"`
	Started     time.Time `json:"started"`
	Cores       int       `json:"cores"`
	// LoadAvg is /proc/loadavg when the run started and ended: the machine
	// is shared, and the numbers mean little without it.
	LoadAvgStart string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`
	Phases       []Phase `json:"phases"`
	// LeaderRSSPerKDevKiB is the leader's resident memory growth from
	// before enrollment to the steady phase, per 1,000 connected devices.
	LeaderRSSPerKDevKiB float64 `json:"leader_rss_per_1000_devices_kib"`
	// ServerCPUPerKDev is server CPU seconds per 1,000 devices per steady
	// heartbeat round.
	ServerCPUmsPerKHeartbeats float64 `json:"server_cpu_ms_per_1000_heartbeats"`
	ServerCPUmsPerKCheckouts  float64 `json:"server_cpu_ms_per_1000_checkouts"`
	// ServerCPUusPerDatagram is server CPU per datagram heartbeat (the
	// rounds after the first, which gave every device its session), and
	// SteadyHeartbeatUs the mix a steady fleet pays with the cluster's
	// default settings (steadyMix).
	ServerCPUusPerDatagram float64 `json:"server_cpu_us_per_datagram_heartbeat"`
	SteadyHeartbeatUs      float64 `json:"server_cpu_us_per_steady_heartbeat"`
	// Failover: from the leader's SIGKILL until a new leader is known, and
	// until the first checkout is granted again (by a device that was
	// connected to the killed leader and fails over as an agent does).
	ElectionSeconds     float64 `json:"election_seconds,omitempty"`
	GrantsResumeSeconds float64 `json:"grants_resume_seconds,omitempty"`
	// Elections counts leader changes seen during the load phases of a
	// healthy cluster (before any kill): it should be 0.
	Elections            int     `json:"spurious_elections"`
	IdleCloseSeconds     float64 `json:"idle_close_seconds"`
	Spread               bool    `json:"spread"`
	AgentIdleRSSKiB      int64   `json:"agent_idle_rss_kib,omitempty"`
	AgentIdleAnonKiB     int64   `json:"agent_idle_rss_anon_kib,omitempty"`
	AgentIdleFileKiB     int64   `json:"agent_idle_rss_file_kib,omitempty"`
	LoadGenCPUSeconds    float64 `json:"loadgen_cpu_seconds"`
	LoadGenRSSKiB        int64   `json:"loadgen_rss_kib"`
	ClientSideBottleneck string  `json:"note,omitempty"`
	// Memory settled after the storms (settle.go): the leader's RSS growth
	// per 1,000 devices once it stopped falling with every device idle,
	// and its live heap growth then (with --pprof; 0 when not measured).
	LeaderRSSSettledPerKDevKiB float64 `json:"leader_rss_settled_per_1000_devices_kib,omitempty"`
	LeaderLiveHeapPerKDevKiB   float64 `json:"leader_live_heap_per_1000_devices_kib,omitempty"`
	SettleSeconds              float64 `json:"settle_seconds,omitempty"`
	MemorySettled              bool    `json:"memory_settled,omitempty"`
}

type device struct {
	code  string
	c     *client.Client
	lease protocol.Lease
}

// Run runs the benchmark and stops the cluster afterwards.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if cfg.Tallyd == "" {
		return nil, errors.New("loadgen: no tallyd binary")
	}
	if cfg.Nodes != 1 && cfg.Nodes != 3 {
		return nil, fmt.Errorf("loadgen: %d nodes: want 1 or 3", cfg.Nodes)
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "tally-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench %d-node: "+format+"\n", append([]any{cfg.Nodes}, args...)...)
		}
	}
	res := &Result{Nodes: cfg.Nodes, Devices: cfg.Devices, Concurrency: cfg.Concurrency, Started: time.Now().UTC(),
		Cores: runtime.NumCPU(), LoadAvgStart: loadavg()}
	selfStart, _ := readProc(os.Getpid())

	say("starting %d tallyd processes", cfg.Nodes)
	cl, err := startCluster(ctx, cfg, dir)
	defer cl.stop()
	if err != nil {
		return nil, err
	}
	leader := cl.nodes[0]
	adm, err := cl.admin(leader)
	if err != nil {
		return nil, err
	}
	if err := adm.Do(ctx, "POST", "/v1/accounts", adminapi.CreateAccountRequest{ID: "bench"}, nil); err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	// Room for every device, and for the leader-kill probes.
	if err := adm.Do(ctx, "PUT", "/v1/accounts/bench/pools/load", adminapi.SetPoolRequest{Seats: cfg.Devices + 1000}, nil); err != nil {
		return nil, fmt.Errorf("set pool: %w", err)
	}
	var tok adminapi.TokenResponse
	// Uses: the simulated devices, the real agent whose footprint is
	// measured, and spares.
	if err := adm.Do(ctx, "POST", "/v1/accounts/bench/enroll-tokens", adminapi.CreateTokenRequest{Name: "bench", Uses: cfg.Devices + 10}, &tok); err != nil {
		return nil, fmt.Errorf("create enrollment token: %w", err)
	}
	// Devices spread over the nodes: every follower must know the token
	// before the first enrollment reaches it.
	if err := cl.waitApplied(ctx, leader); err != nil {
		return nil, err
	}
	baseTLS, err := client.TLSConfig(cl.caFile, nil)
	if err != nil {
		return nil, err
	}
	transports, err := newTransportPool()
	if err != nil {
		return nil, err
	}
	defer transports.close()
	dgrams, err := newDatagramPool()
	if err != nil {
		return nil, err
	}
	defer dgrams.close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	servers := cl.agentAddrs()
	res.IdleCloseSeconds, res.Spread = cfg.IdleClose.Seconds(), cfg.Spread
	opts := func(i int, code string) []client.Option {
		o := []client.Option{client.WithLogger(quiet), client.WithDialTimeout(2 * time.Second),
			client.WithTransport(transports.get(i)), client.WithDatagramSocket(dgrams.get(i))}
		// No idle timer of their own: the phases below close connections
		// explicitly (idle), so that the checkout storm runs on open ones.
		if cfg.Spread {
			o = append(o, client.WithAffinity(code))
		}
		return o
	}
	term0, _ := cl.term(ctx, leader)

	// Keys and CSRs first, outside the measured phase: the phase measures
	// the server, not the load generator's key generation.
	say("generating %d device keys", cfg.Devices)
	devs := make([]*device, cfg.Devices)
	csrs := make([][]byte, cfg.Devices)
	keys := make([][]byte, cfg.Devices)
	if err := parallel(ctx, cfg.Devices, runtime.NumCPU(), func(i int) error {
		key, err := certs.NewDeviceKey()
		if err != nil {
			return err
		}
		devs[i] = &device{code: fmt.Sprintf("bench-%06d", i)}
		if csrs[i], err = certs.CreateCSR(key, devs[i].code); err != nil {
			return err
		}
		keys[i], err = certs.EncodeKeyPEM(key)
		return err
	}); err != nil {
		return nil, err
	}
	defer func() {
		for _, d := range devs {
			if d != nil && d.c != nil {
				d.c.Close()
			}
		}
	}()

	rssBefore, _ := readProc(leader.cmd.Process.Pid)
	var mu sync.Mutex
	ph := newPhaseRunner(ctx, cl, leader, cfg.Concurrency)
	memBase := ph.baseline(ctx, cfg)

	say("enroll: %d devices, each over its own QUIC connection", cfg.Devices)
	p, err := ph.run("enroll", cfg.Devices, func(i int) error {
		d := devs[i]
		c, err := client.New(servers, baseTLS, opts(i, d.code)...)
		if err != nil {
			return err
		}
		defer c.Close()
		var resp protocol.EnrollResponse
		if err := c.Do(ctx, protocol.TypeEnroll, "enroll-"+d.code, protocol.EnrollRequest{Token: tok.Token, DeviceCode: d.code, CSR: csrs[i], Hostname: "bench"}, &resp); err != nil {
			return err
		}
		pair, err := certs.KeyPair(resp.Certificate, keys[i])
		if err != nil {
			return err
		}
		conf := baseTLS.Clone()
		conf.Certificates = []tls.Certificate{pair}
		// Connect now, so that the mutual-TLS handshake counts in this
		// phase and the checkout storm measures checkouts.
		dc, err := client.Dial(ctx, servers, conf, opts(i, d.code)...)
		if err != nil {
			return err
		}
		mu.Lock()
		d.c = dc
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Phases = append(res.Phases, p)

	var profWG sync.WaitGroup
	defer profWG.Wait()
	// profile starts the leader's CPU profile when phase is the one asked.
	profile := func(phase string) {
		if cfg.ProfileDir == "" || !cfg.Pprof || phase != cfg.ProfilePhase {
			return
		}
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			secs := max(cfg.ProfileSeconds, 1)
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", cfg.ports().pprof(0), secs)
			if err := fetch(ctx, url, filepath.Join(cfg.ProfileDir, fmt.Sprintf("cpu-%s-%dnode.pprof", phase, cfg.Nodes))); err != nil {
				say("CPU profile: %v", err)
			}
		}()
	}
	profile("checkout")

	say("checkout storm: one seat per device")
	p, err = ph.run("checkout", cfg.Devices, func(i int) error {
		d := devs[i]
		if d.c == nil {
			return errors.New("not enrolled")
		}
		var resp protocol.CheckoutResponse
		if err := d.c.Do(ctx, protocol.TypeCheckout, "co-"+d.code, protocol.CheckoutRequest{Feature: "load"}, &resp); err != nil {
			return err
		}
		d.lease = resp.Lease
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Phases = append(res.Phases, p)
	cpuCheckout := p.ServerCPUSeconds / float64(max(1, p.Ops-p.Errors)) * 1e6
	// The checkout storm ran on open connections (the devices had just
	// connected), comparable with the floor's round trips. From here on,
	// with an idle close, every device holds no connection between its
	// operations, as a tally-agent between two heartbeats: each operation
	// below opens a resumed connection and closes it afterwards (the idle
	// timer firing), so the heartbeat phase measures that cost.
	idle := func(d *device) {
		if cfg.IdleClose > 0 {
			d.c.Close()
		}
	}
	for _, d := range devs {
		if d.c != nil {
			idle(d)
		}
	}

	// quicHeartbeat is a tally-agent's heartbeat over QUIC; its answer
	// carries the device's datagram session.
	quicHeartbeat := func(d *device) error {
		if d.lease.ID == 0 {
			return errors.New("holds no lease")
		}
		var resp protocol.HeartbeatResponse
		req := protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: d.lease.ID, Feature: d.lease.Feature}}, Datagrams: true}
		if err := d.c.Do(ctx, protocol.TypeHeartbeat, "", req, &resp); err != nil {
			return err
		}
		idle(d)
		if len(resp.Leases) != 1 || resp.Leases[0].State != protocol.LeaseHeld {
			return fmt.Errorf("lease %d not held: %+v", d.lease.ID, resp.Leases)
		}
		return nil
	}
	say("steady heartbeats over QUIC: one per device, each getting its datagram session (no horizon moves: ttl %s, interval %s)", cfg.LeaseTTL, cfg.HeartbeatInterval)
	profile("heartbeat")
	p, err = ph.run("heartbeat", cfg.Devices, func(i int) error { return quicHeartbeat(devs[i]) })
	if err != nil {
		return nil, err
	}
	res.Phases = append(res.Phases, p)
	hbQUIC := p
	rounds := max(1, cfg.HeartbeatRounds-1)
	say("steady heartbeats by datagram: %d rounds per device, as tally-agent sends them (QUIC when not answered ok)", rounds)
	var fallbacks atomic.Int64
	p, err = ph.run("heartbeat-datagram", cfg.Devices*rounds, func(i int) error {
		d := devs[i%cfg.Devices]
		if d.lease.ID == 0 {
			return errors.New("holds no lease")
		}
		ans, err := d.c.QuickHeartbeat(ctx, []uint64{d.lease.ID}, nil)
		if err != nil {
			fallbacks.Add(1)
			return quicHeartbeat(d)
		}
		if len(ans.Expires) != 1 || ans.Expires[0].IsZero() {
			return fmt.Errorf("lease %d: datagram answer %+v", d.lease.ID, ans)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.QUICFallbacks = int(fallbacks.Load())
	res.Phases = append(res.Phases, p)
	res.ServerCPUusPerDatagram = p.ServerCPUSeconds / float64(max(1, p.Ops-p.Errors)) * 1e6
	p = hbQUIC
	if cfg.IdleClose > 0 {
		// Closed connections linger briefly (QUIC's closing period) and the
		// Go runtime returns freed memory to the system gradually.
		time.Sleep(5 * time.Second)
	}
	if rssAfter, err := readProc(leader.cmd.Process.Pid); err == nil && cfg.Devices > 0 {
		res.LeaderRSSPerKDevKiB = float64(rssAfter.RSSKiB-rssBefore.RSSKiB) / float64(cfg.Devices) * 1000
	}
	if cfg.ProfileDir != "" && cfg.Pprof {
		url := fmt.Sprintf("http://%s/debug/pprof/heap", cfg.ports().pprof(0))
		if err := fetch(ctx, url, filepath.Join(cfg.ProfileDir, fmt.Sprintf("heap-%dnode.pprof", cfg.Nodes))); err != nil {
			say("heap profile: %v", err)
		}
	}
	res.ServerCPUmsPerKHeartbeats = p.ServerCPUSeconds / float64(max(1, p.Ops-p.Errors)) * 1e6
	res.ServerCPUmsPerKCheckouts = cpuCheckout
	res.SteadyHeartbeatUs = SteadyMix(ledgerDefaultTTL, ledgerDefaultInterval).Cost(res.ServerCPUmsPerKHeartbeats, res.ServerCPUusPerDatagram)

	settleMemory(ctx, cfg, leader.cmd.Process.Pid, memBase, res, say)

	if cfg.Agent != "" {
		say("agent idle memory")
		if ps, err := agentIdleRSS(ctx, cfg.Agent, filepath.Join(dir, "agent"), servers[0], cl.caFile, tok.Token); err == nil {
			res.AgentIdleRSSKiB, res.AgentIdleAnonKiB, res.AgentIdleFileKiB = ps.RSSKiB, ps.AnonKiB, ps.FileKiB
		} else {
			say("agent idle memory not measured: %v", err)
		}
	}

	say("release storm")
	profile("release")
	p, err = ph.run("release", cfg.Devices, func(i int) error {
		d := devs[i]
		if d.lease.ID == 0 {
			return errors.New("holds no lease")
		}
		defer idle(d)
		return d.c.Do(ctx, protocol.TypeRelease, "rel-"+d.code, protocol.ReleaseRequest{LeaseID: d.lease.ID}, nil)
	})
	if err != nil {
		return nil, err
	}
	res.Phases = append(res.Phases, p)

	if term1, err := cl.term(ctx, leader); err == nil {
		res.Elections = int(term1 - term0)
	}
	if cfg.KillLeader && cfg.Nodes > 1 {
		say("leader kill")
		if err := leaderKill(ctx, cl, leader, devs, res, say); err != nil {
			return nil, err
		}
	}
	selfEnd, _ := readProc(os.Getpid())
	res.LoadGenCPUSeconds = (selfEnd.CPU - selfStart.CPU).Seconds()
	res.LoadGenRSSKiB = selfEnd.RSSKiB
	res.LoadAvgEnd = loadavg()
	return res, nil
}

// leaderKill SIGKILLs the leader while devices keep checking out, and times
// how long until a new leader is known and until a grant succeeds again.
func leaderKill(ctx context.Context, cl *cluster, leader *node, devs []*device, res *Result, say func(string, ...any)) error {
	// Probes: a few devices that check out and release in a loop, as apps
	// starting and stopping would, each failing over as an agent does.
	probes := devs[:min(len(devs), 16)]
	var firstGrant atomic.Int64 // unix nanos of the first grant after the kill
	var killedAt atomic.Int64
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for pi, d := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; pctx.Err() == nil; n++ {
				var resp protocol.CheckoutResponse
				started := time.Now().UnixNano()
				err := d.c.Do(pctx, protocol.TypeCheckout, fmt.Sprintf("lk-%d-%d", pi, n), protocol.CheckoutRequest{Feature: "load"}, &resp)
				if err != nil {
					var pe *protocol.Error
					if errors.As(err, &pe) && (pe.Code == protocol.CodeNotLeader || pe.Code.Temporary()) {
						d.c.Failover()
					}
					select {
					case <-pctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				// Only a checkout asked after the kill shows that grants
				// resumed; one in flight across it may have committed before.
				if k := killedAt.Load(); k != 0 && started > k {
					firstGrant.CompareAndSwap(0, time.Now().UnixNano())
				}
				_ = d.c.Do(pctx, protocol.TypeRelease, fmt.Sprintf("lkr-%d-%d", pi, n), protocol.ReleaseRequest{LeaseID: resp.Lease.ID}, nil)
			}
		}()
	}
	time.Sleep(time.Second) // the probes run against the healthy cluster first
	t0 := time.Now()
	killedAt.Store(t0.UnixNano())
	cl.kill(leader)
	say("killed %s (pid %d)", leader.id, leader.cmd.Process.Pid)
	if err := waitFor(ctx, 30*time.Second, "a new leader", func() error {
		n, err := cl.leader(ctx)
		if err == nil && n == leader {
			err = errors.New("old leader still named")
		}
		return err
	}); err != nil {
		return err
	}
	res.ElectionSeconds = time.Since(t0).Seconds()
	if err := waitFor(ctx, 60*time.Second, "grants to resume", func() error {
		if firstGrant.Load() == 0 {
			return errors.New("no grant yet")
		}
		return nil
	}); err != nil {
		return err
	}
	res.GrantsResumeSeconds = time.Duration(firstGrant.Load() - t0.UnixNano()).Seconds()
	stop()
	wg.Wait()
	return nil
}

// agentIdleRSS starts a real tally-agent against the cluster, lets it enroll
// and settle, and reads its resident memory.
func agentIdleRSS(ctx context.Context, bin, state, server, caFile, token string) (procStat, error) {
	socket := filepath.Join(state, "agent.sock")
	cmd := exec.CommandContext(ctx, bin, "run", "--state", state, "--server", server, "--ca", caFile,
		"--enroll-token", token, "--socket", socket, "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		return procStat{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitFor(ctx, 20*time.Second, "the agent's certificate", func() error {
		_, err := os.Stat(filepath.Join(state, agentstate.CertFile))
		return err
	}); err != nil {
		return procStat{}, err
	}
	time.Sleep(3 * time.Second)
	return readProc(cmd.Process.Pid)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// measurer runs n operations with bounded concurrency and measures them,
// with the server CPU and memory that stats reports.
type measurer struct {
	ctx   context.Context
	conc  int
	stats func() (cpu time.Duration, rssKiB int64)
	// perNode, when set, reports each server process's usage.
	perNode func() []NodeUsage
}

func (m measurer) run(name string, n int, op func(i int) error) (Phase, error) {
	p := Phase{Name: name, Ops: n}
	cpu0, _ := m.stats()
	var nodes0 []NodeUsage
	if m.perNode != nil {
		nodes0 = m.perNode()
	}
	lat := make([]time.Duration, n)
	var errs, retries atomic.Int64
	var firstErr, firstRetry atomic.Value
	t0 := time.Now()
	err := parallel(m.ctx, n, m.conc, func(i int) error {
		s := time.Now()
		err := op(i)
		for attempt := 1; err != nil && attempt <= 5 && retryable(err) && m.ctx.Err() == nil; attempt++ {
			retries.Add(1)
			firstRetry.CompareAndSwap(nil, err.Error())
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			err = op(i)
		}
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			lat[i] = -1
			return nil
		}
		lat[i] = time.Since(s)
		return nil
	})
	elapsed := time.Since(t0)
	if err != nil {
		return p, err
	}
	cpu1, rss := m.stats()
	if m.perNode != nil {
		for i, u := range m.perNode() {
			if i < len(nodes0) {
				u.CPUSeconds -= nodes0[i].CPUSeconds
			}
			p.PerNode = append(p.PerNode, u)
		}
	}
	p.Errors = int(errs.Load())
	p.Retries = int(retries.Load())
	if s, ok := firstErr.Load().(string); ok {
		p.FirstErr = s
	}
	if s, ok := firstRetry.Load().(string); ok {
		p.FirstRetry = s
	}
	ok := n - p.Errors
	p.Seconds = elapsed.Seconds()
	p.OpsPerSec = float64(ok) / elapsed.Seconds()
	good := slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	slices.Sort(good)
	p.P50ms, p.P99ms, p.P999ms = pct(good, 0.50), pct(good, 0.99), pct(good, 0.999)
	p.ServerCPUSeconds = (cpu1 - cpu0).Seconds()
	p.ServerCPUPct = p.ServerCPUSeconds / elapsed.Seconds() * 100
	p.ServerRSSKiB = rss
	return p, nil
}

// phaseRunner measures a phase against the cluster, with the Raft entries
// it wrote (the leader's applied index before and after).
type phaseRunner struct {
	ctx    context.Context
	cl     *cluster
	leader *node
	m      measurer
}

func newPhaseRunner(ctx context.Context, cl *cluster, leader *node, conc int) *phaseRunner {
	r := &phaseRunner{ctx: ctx, cl: cl, leader: leader}
	r.m = measurer{ctx: ctx, conc: conc, stats: r.serverStats, perNode: r.perNode}
	return r
}

func (r *phaseRunner) serverStats() (cpu time.Duration, rss int64) {
	for _, n := range r.cl.nodes {
		if n.dead {
			continue
		}
		if ps, err := readProc(n.cmd.Process.Pid); err == nil {
			cpu += ps.CPU
			rss += ps.RSSKiB
		}
	}
	return cpu, rss
}

func (r *phaseRunner) perNode() []NodeUsage {
	var out []NodeUsage
	for _, n := range r.cl.nodes {
		u := NodeUsage{Node: n.id}
		if !n.dead {
			if ps, err := readProc(n.cmd.Process.Pid); err == nil {
				u.CPUSeconds, u.RSSKiB = ps.CPU.Seconds(), ps.RSSKiB
			}
		}
		out = append(out, u)
	}
	return out
}

func (r *phaseRunner) run(name string, n int, op func(i int) error) (Phase, error) {
	idx0, err := r.cl.appliedIndex(r.ctx, r.leader)
	if err != nil {
		return Phase{Name: name}, err
	}
	p, err := r.m.run(name, n, op)
	if err != nil {
		return p, err
	}
	idx1, err := r.cl.appliedIndex(r.ctx, r.leader)
	if err != nil {
		return p, err
	}
	// The two admin reads (status) do not write; the index moves by what
	// the phase proposed.
	p.RaftEntries = idx1 - idx0
	if ok := p.Ops - p.Errors; ok > 0 {
		p.EntriesPerOp = float64(p.RaftEntries) / float64(ok)
	}
	return p, nil
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * q)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// parallel runs f(0..n-1) on conc goroutines; the first error stops it.
func parallel(ctx context.Context, n, conc int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// retryable is a transport failure (not a refusal by the server), which an
// agent retries with the same request ID.
func retryable(err error) bool {
	var te *client.TransportError
	return errors.As(err, &te)
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
