// Package node assembles one tallyd node: its data directory, the Raft
// store, the leasing service, the agent (QUIC) and admin (HTTPS) endpoints
// and the reaper.
//
// Design: docs/design.md#parts.
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/tally-licensing/tally/daemon/members"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/cluster/transport"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/agentsrv"
	"github.com/tally-licensing/tally/daemon/enrollment"
	"github.com/tally-licensing/tally/daemon/leasing"
	"github.com/tally-licensing/tally/daemon/metrics"
	"github.com/tally-licensing/tally/daemon/notify"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Config configures a node.
type Config struct {
	DataDir   string
	AgentAddr string
	AdminAddr string
	RaftAddr  string
	// AdvertiseAgent and AdvertiseAdmin are the addresses other machines
	// reach this node at; they default to the bound addresses (with an
	// unspecified host such as 0.0.0.0 replaced by the Raft address's host).
	AdvertiseAgent string
	AdvertiseAdmin string
	// AdvertiseRaft is the Raft address peers dial; required when RaftAddr
	// binds an unspecified host.
	AdvertiseRaft string
	// Bootstrap founds a new cluster with this node as its only member when
	// the data directory has no Raft state.
	Bootstrap bool
	Logger    *slog.Logger
	// DeviceCertValidity is how long enrolled device certificates last.
	DeviceCertValidity time.Duration
	// Raft timing for tests; zero keeps production defaults.
	RaftHeartbeatTimeout time.Duration
	ReapInterval         time.Duration
	// SMTP enables the e-mail reminders to account administrators.
	SMTP           *notify.SMTP
	NotifyInterval time.Duration
	// AgentLimits bound the agent port's connections, streams and
	// handshakes; zero fields take agentsrv's defaults.
	AgentLimits agentsrv.Limits
	// Admin bounds the admin HTTPS server (timeouts, body size) and says
	// where /metrics is served.
	Admin AdminLimits
	// Clock is the node's time (nil: the system clock); every time the
	// node stamps on a command, a lease or a token comes from it. Tests
	// offset it (internal/clock).
	Clock func() time.Time
	// FailStop is told when the node's Raft log disk failed a write and
	// the node froze (store.Config.FailStop); tallyd exits.
	FailStop func(error)
}

// Node is a running tallyd node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	keys    *keys
	Store   *store.Store
	Leasing *leasing.Service
	Metrics *metrics.Metrics
	agents  *agentsrv.Server
	admin   *http.Server
	adminLn net.Listener
	fwd     *forwarder
	signer  *lease.Signer
	// raftNet is node-to-node Raft traffic: TCP with mutual TLS, both
	// sides proving a node certificate of the cluster CA.
	raftNet interface{ Close() error }
	cancel  context.CancelFunc
	ready   *readiness
	wg      sync.WaitGroup
	closed  sync.Once
}

// Start opens the node's data directory and serves until Close.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = func() time.Time { return time.Now().UTC() }
	}
	if cfg.DeviceCertValidity == 0 {
		cfg.DeviceCertValidity = 365 * 24 * time.Hour
	}
	k, err := loadKeys(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Bootstrap {
		// Only the node that `tallyd init` made founder may found: a node
		// that joined and lost its Raft state must rejoin, never start a
		// second cluster under the same identity.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, fileBootstrap)); err != nil {
			cfg.Bootstrap = false
		}
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", k.id.NodeID), keys: k, ready: newReadiness()}
	signer, err := lease.NewSigner(k.signing)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	n.signer = signer
	n.Leasing = leasing.New(leasing.Config{Now: cfg.Clock, Signer: signer, Logger: n.log, Servers: n.servers, ReapInterval: cfg.ReapInterval, Propose: n.propose,
		OnHeartbeat: func() { n.Metrics.Heartbeat() }})
	n.Metrics = metrics.New(metrics.Source{Leasing: n.Leasing})
	if n.fwd, err = newForwarder(n); err != nil {
		return nil, err
	}
	nodeCert, err := certs.KeyPair(k.nodeCert, k.nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	layer, err := transport.Listen(transport.Config{BindAddr: cfg.RaftAddr, Advertise: cfg.AdvertiseRaft, Certificate: nodeCert, CAs: k.ca.Pool(), Logger: n.log})
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	raftNet := transport.NewNetworkTransport(layer, n.log)
	n.raftNet = raftNet.(interface{ Close() error })
	st, err := store.Open(store.Config{
		NodeID: k.id.NodeID, Dir: filepath.Join(cfg.DataDir, dirRaft), Transport: raftNet,
		Bootstrap: cfg.Bootstrap, Logger: n.log, Observer: n.observe,
		HeartbeatTimeout: cfg.RaftHeartbeatTimeout, ElectionTimeout: cfg.RaftHeartbeatTimeout, LeaderLeaseTimeout: cfg.RaftHeartbeatTimeout,
		Clock: cfg.Clock, FailStop: cfg.FailStop,
	})
	if err != nil {
		n.raftNet.Close()
		return nil, err
	}
	n.Store = st
	n.Leasing.SetStore(st)
	n.Metrics.SetStore(st)
	if err := n.found(ctx); err != nil {
		st.Close()
		n.raftNet.Close()
		return nil, err
	}
	if err := n.listen(); err != nil {
		st.Close()
		n.raftNet.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.goRun(func() { n.watchReadiness(runCtx) })
	if n.Store.Founded() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.register(rctx, signer)
		cancel()
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("register the founding node: %w", err)
		}
		// A new cluster is ready at once; waiting here spares callers a
		// moment of 503s.
		rctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		err = n.WaitReady(rctx)
		cancel()
		if err != nil {
			n.Close()
			return nil, err
		}
	}
	n.goRun(func() { n.Leasing.RunReaper(runCtx) })
	n.goRun(func() {
		members.Run(runCtx, members.Config{Now: cfg.Clock, Store: n.Store, Propose: n.propose, Interval: cfg.ReapInterval, Logger: n.log})
	})
	if cfg.SMTP != nil {
		// Every node runs the notifier; only the leader sends, claiming
		// each reminder through Raft first (it never forwards).
		nt := notify.New(notify.Config{Now: cfg.Clock, SMTP: *cfg.SMTP, Store: n.Store, NodeID: k.id.NodeID, Propose: n.proposeLocal,
			Interval: cfg.NotifyInterval, Logger: n.log.With("component", "notify")})
		n.goRun(func() { nt.Run(runCtx) })
	}
	n.goRun(func() { n.keepRegistered(runCtx, signer) })
	n.goRun(func() {
		if err := n.agents.Serve(runCtx); err != nil {
			n.log.Error("agent server stopped", "err", err)
		}
	})
	n.goRun(func() {
		if err := n.admin.ServeTLS(n.adminLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin server stopped", "err", err)
		}
	})
	if err := n.serveMetrics(runCtx); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Info("tallyd node serving", "cluster", k.id.ClusterID, "agents", n.AgentAddr(), "admin", n.AdminAddr(), "raft", st.LocalAddr())
	return n, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f() }()
}

// found applies the bootstrap record of a cluster this node has just
// founded, so that Start returns with a usable cluster. A node restarting
// does not wait here: it may have no quorum yet, and keepRegistered applies
// any bootstrap record a crash left unapplied.
func (n *Node) found(ctx context.Context) error {
	if !n.cfg.Bootstrap || !n.Store.Founded() {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.Store.WaitForLeader(wctx); err != nil {
		return fmt.Errorf("become leader of the new cluster: %w", err)
	}
	return n.applyBootstrap(wctx)
}

// applyBootstrap proposes the bootstrap record if this node leads a cluster
// whose ledger has no identity yet. Nodes that joined have no record.
func (n *Node) applyBootstrap(ctx context.Context) error {
	var clusterID string
	n.Store.Read(func(st *ledger.State) { clusterID = st.ClusterID() })
	if clusterID != "" || !n.Store.IsLeader() {
		return nil
	}
	var b bootstrapFile
	if err := readJSON(filepath.Join(n.cfg.DataDir, fileBootstrap), &b); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read bootstrap record: %w", err)
	}
	boot := &ledger.Bootstrap{ClusterID: b.ClusterID, Settings: b.Settings}
	if b.AdminTokenID != "" {
		boot.AdminToken = &ledger.AdminToken{ID: b.AdminTokenID, Name: "bootstrap", Hash: b.AdminTokenHash}
	}
	res, err := n.Store.Propose(ctx, ledger.Command{Type: ledger.CmdBootstrap, Payload: boot})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return fmt.Errorf("bootstrap the ledger: %w", err)
	}
	return nil
}

// keepRegistered makes sure the ledger knows this node's signing key and
// addresses, retrying (through the leader) until it does. A node serves
// agents only once its key is in the JWKS.
func (n *Node) keepRegistered(ctx context.Context, signer *lease.Signer) {
	for attempt := 0; ; attempt++ {
		err := n.register(ctx, signer)
		if err == nil {
			return
		}
		if attempt%20 == 5 {
			n.log.Warn("cannot register this node with the cluster yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (n *Node) register(ctx context.Context, signer *lease.Signer) error {
	if n.Store.IsLeader() {
		if err := n.Store.Barrier(ctx); err != nil {
			return err
		}
		if err := n.applyBootstrap(ctx); err != nil {
			return err
		}
	}
	self := ledger.Node{ID: n.keys.id.NodeID, RaftAddr: n.raftAddr(), AgentAddr: n.advertisedAgent(), AdminAddr: n.advertisedAdmin(), LogFormat: ledger.LogFormat}
	var haveKey, haveNode bool
	n.Store.Read(func(st *ledger.State) {
		haveKey = st.HasSigningKey(signer.KeyID()) && st.SigningKeyCertified(signer.KeyID())
		for _, x := range st.Nodes() {
			if x.ID == self.ID {
				haveNode = x.RaftAddr == self.RaftAddr && x.AgentAddr == self.AgentAddr && x.AdminAddr == self.AdminAddr && x.LogFormat == self.LogFormat
			}
		}
	})
	var cmds []ledger.Command
	if !haveKey {
		keyCert, err := n.keys.ca.IssueSigningKey(signer.PublicKey(), signer.KeyID(), n.keys.id.ClusterID, time.Now())
		if err != nil {
			return fmt.Errorf("certify the lease-signing key: %w", err)
		}
		cmds = append(cmds, ledger.Command{Type: ledger.CmdRegisterKey, Payload: &ledger.SigningKey{KeyID: signer.KeyID(), PublicKey: signer.PublicKey(), NodeID: self.ID, Certificate: keyCert}})
	}
	if !haveNode {
		cmds = append(cmds, ledger.Command{Type: ledger.CmdRegisterNode, Payload: &self})
	}
	for _, c := range cmds {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := n.propose(cctx, c)
		cancel()
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Type, err)
		}
	}
	return nil
}

func (n *Node) listen() error {
	cert, err := certs.KeyPair(n.keys.nodeCert, n.keys.nodeKey)
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	enroller := &enrollment.Enroller{
		CA: n.keys.ca, Read: n.Store.Read, Servers: n.servers, Validity: n.cfg.DeviceCertValidity, CatchUp: n.CatchUp,
		Now:     n.cfg.Clock,
		Propose: func(ctx context.Context, c ledger.Command) (ledger.Result, error) { return n.propose(ctx, c) },
	}
	brake := &adminapi.LedgerBrake{Read: n.Store.Read, Propose: n.propose, Logger: n.log}
	signIns := newMemberSignIns(n, brake)
	n.agents, err = agentsrv.Listen(agentsrv.Config{
		Addr: n.cfg.AgentAddr, Certificate: cert, ClientCAs: n.keys.ca.Pool(), StatelessResetKey: &n.keys.reset,
		Leasing: n.Leasing, Enroller: enroller, Read: n.Store.Read, Logger: n.log, JWKS: n.JWKS,
		Activate: signIns.activate, Ready: n.Ready, CatchUp: n.CatchUp, SignIns: signIns, Limits: n.cfg.AgentLimits,
	})
	if err != nil {
		return err
	}
	n.Metrics.Register(n.agents.Collectors()...)
	n.adminLn, err = net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		n.agents.Close()
		return fmt.Errorf("listen for administrators on %s: %w", n.cfg.AdminAddr, err)
	}
	adminLim := n.cfg.Admin.withDefaults()
	n.admin = &http.Server{
		Handler: adminapi.New(adminapi.Config{
			Now:   n.cfg.Clock,
			Store: n.Store, Leasing: n.Leasing, Logger: n.log, JWKS: n.JWKS,
			Propose: n.propose, ProposeLocal: n.proposeLocal, NodeCAs: n.keys.ca.Pool(), Metrics: n.Metrics.Handler(), Brake: brake, SignReport: n.signReport, Enroll: enroller.Enroll,
			Cluster: adminapi.ClusterConfig{CA: n.keys.ca, ForwardToLeader: n.fwd.forwardHTTP, NodeStatus: n.fwd.nodeStatus},
			Ready:   n.Ready, CatchUp: n.CatchUp,
		}),
		// Client certificates are optional: administrators use tokens,
		// nodes forwarding commands present their node certificate.
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: n.keys.ca.Pool()},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       adminLim.ReadTimeout,
		WriteTimeout:      adminLim.WriteTimeout,
		IdleTimeout:       adminLim.IdleTimeout,
	}
	return nil
}

// RestoreLedger installs a backed-up ledger on this (leading) node, drops
// the addresses of nodes that are not members of this cluster, and
// registers this node again, since the backup predates it.
func (n *Node) RestoreLedger(ctx context.Context, data []byte) error {
	if err := n.Store.RestoreLedger(ctx, data); err != nil {
		return err
	}
	members, err := n.Store.Members()
	if err != nil {
		return err
	}
	isMember := map[string]bool{}
	for _, m := range members {
		isMember[m.ID] = true
	}
	var stale []string
	n.Store.Read(func(st *ledger.State) {
		for _, x := range st.Nodes() {
			if !isMember[x.ID] {
				stale = append(stale, x.ID)
			}
		}
	})
	for _, id := range stale {
		if _, err := n.propose(ctx, ledger.Command{Type: ledger.CmdRemoveNode, Payload: &ledger.RemoveNode{ID: id}}); err != nil {
			return fmt.Errorf("forget old node %s: %w", id, err)
		}
	}
	return n.register(ctx, n.signer)
}

// observe is the store's apply observer: the leasing service's queues and
// the metrics both follow what is applied.
func (n *Node) observe(cmd *ledger.Command, res ledger.Result) {
	n.Leasing.Observe(cmd, res)
	n.Metrics.Observe(cmd, res)
}

// Propose stamps the time and replicates an administrative command.
func (n *Node) Propose(ctx context.Context, c ledger.Command) (ledger.Result, error) {
	return n.propose(ctx, c)
}

// On the leader the command is applied here; a follower forwards it to the
// leader. Request IDs make the forwarded retry of a command that did commit
// harmless.
func (n *Node) propose(ctx context.Context, c ledger.Command) (ledger.Result, error) {
	if c.RequestID == "" {
		c.RequestID = leasing.NewRequestID()
	}
	// During an election there is no leader to take the command, or the
	// one this node knows is dead. Rather than answer "try elsewhere" and
	// send every agent hopping between nodes that are all waiting for the
	// same election, hold the command for about one election and try
	// again; the request ID makes a retry of a command that did commit
	// harmless. A node cut off from the majority still answers
	// unavailable once the wait is over, and agents then fail over.
	deadline := time.Now().Add(n.leaderWait())
	for {
		res, err := n.proposeOnce(ctx, c)
		if err == nil || !electionPending(err) || !time.Now().Before(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) proposeOnce(ctx context.Context, c ledger.Command) (ledger.Result, error) {
	if n.Store.IsLeader() {
		res, err := n.proposeLocal(ctx, c)
		if err == nil || !isNotLeader(err) {
			return res, err
		}
	}
	if err := n.Store.CheckFormat(&c); err != nil {
		return ledger.Result{}, err // the leader may run a release that cannot check
	}
	return n.fwd.propose(ctx, c)
}

// leaderWait is how long a command waits for a leader: three Raft
// timeouts, about what an election takes when the leader died.
func (n *Node) leaderWait() time.Duration {
	t := n.cfg.RaftHeartbeatTimeout
	if t <= 0 {
		t = time.Second // the store's default
	}
	return 3 * t
}

// electionPending reports whether err means the leader is unknown or
// unreachable right now, which an election resolves.
func electionPending(err error) bool {
	return isNotLeader(err) || protocol.CodeOf(err) == protocol.CodeUnavailable
}

// proposeLocal applies on this node, which must lead.
func (n *Node) proposeLocal(ctx context.Context, c ledger.Command) (ledger.Result, error) {
	if c.Now.IsZero() {
		c.Now = n.cfg.Clock()
	}
	start := time.Now()
	res, err := n.Store.Propose(ctx, c)
	if err == nil {
		n.Metrics.Committed(time.Since(start))
	}
	var nl *store.ErrNotLeader
	if errors.As(err, &nl) {
		return res, protocol.Errorf(protocol.CodeNotLeader, "%v", nl)
	}
	return res, err
}

// servers is the cluster's agent addresses as agents should use them, the
// leader first: it answers without forwarding.
func (n *Node) servers() []protocol.ServerInfo {
	if n.Store == nil {
		return nil
	}
	_, leader := n.Store.Leader()
	var out []protocol.ServerInfo
	n.Store.Read(func(st *ledger.State) {
		for _, x := range st.Nodes() {
			if x.AgentAddr != "" {
				out = append(out, protocol.ServerInfo{ID: x.ID, Addr: x.AgentAddr, Leader: x.ID == leader})
			}
		}
	})
	if len(out) == 0 && n.agents != nil {
		out = append(out, protocol.ServerInfo{ID: n.keys.id.NodeID, Addr: n.advertisedAgent(), Leader: n.Store.IsLeader()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Leader && !out[j].Leader })
	return out
}

func (n *Node) raftAddr() string { return n.Store.LocalAddr() }

func (n *Node) advertisedAgent() string {
	if n.cfg.AdvertiseAgent != "" {
		return n.cfg.AdvertiseAgent
	}
	return n.dialable(n.agents.Addr().String())
}

func (n *Node) advertisedAdmin() string {
	if n.cfg.AdvertiseAdmin != "" {
		return n.cfg.AdvertiseAdmin
	}
	return n.dialable(n.adminLn.Addr().String())
}

// dialable replaces an unspecified host (0.0.0.0, ::) with the Raft
// address's host, which peers can reach by construction.
func (n *Node) dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		rh, _, err := net.SplitHostPort(n.raftAddr())
		if err != nil || rh == "" || net.ParseIP(rh).IsUnspecified() {
			rh = "127.0.0.1"
		}
		return net.JoinHostPort(rh, port)
	}
	return addr
}

// signReport signs a true-up report with this node's lease-signing key and
// puts the key's certificate and the CA in the header, so a vendor checks
// it with nothing but the file.
func (n *Node) signReport(r entitlement.Report) (string, error) {
	var keyCert []byte
	n.Store.Read(func(st *ledger.State) {
		for _, k := range st.SigningKeys() {
			if k.KeyID == n.signer.KeyID() {
				keyCert = k.Certificate
			}
		}
	})
	if len(keyCert) == 0 {
		return "", protocol.Errorf(protocol.CodeUnavailable, "this node's signing key has no certificate in the ledger yet; retry shortly")
	}
	return entitlement.SignReport(r, n.keys.signing, keyCert, n.keys.ca.CertPEM())
}

// JWKS returns the cluster's public lease-signing keys as a JWKS document.
func (n *Node) JWKS() ([]byte, error) {
	var pubs []ed25519.PublicKey
	n.Store.Read(func(st *ledger.State) {
		for _, k := range st.SigningKeys() {
			pubs = append(pubs, ed25519.PublicKey(k.PublicKey))
		}
	})
	return lease.NewKeySet(pubs...).MarshalJSON()
}

// ClusterID is the cluster's identity.
func (n *Node) ClusterID() string { return n.keys.id.ClusterID }

// CAPEM is the cluster CA certificate.
func (n *Node) CAPEM() []byte { return n.keys.ca.CertPEM() }

// AgentAddr is the bound agent (QUIC) address.
func (n *Node) AgentAddr() string { return n.agents.Addr().String() }

// AdminAddr is the bound admin (HTTPS) address.
func (n *Node) AdminAddr() string { return n.adminLn.Addr().String() }

// Close stops serving and closes the store. Agents keep their leases: their
// horizons are in the log and a restarted node honours them.
func (n *Node) Close() error {
	var err error
	n.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.admin.Shutdown(ctx)
		n.cancel()
		n.agents.Close()
		n.wg.Wait()
		err = n.Store.Close()
		n.raftNet.Close()
	})
	return err
}

// WriteClientFiles writes what administrators and agents need to talk to
// the cluster: the CA certificate and the JWKS.
func (n *Node) WriteClientFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, "ca.pem"), n.CAPEM(), 0o644); err != nil {
		return err
	}
	jwks, err := n.JWKS()
	if err != nil {
		return err
	}
	return certs.WriteFileAtomic(filepath.Join(dir, "jwks.json"), jwks, 0o644)
}
