package store_test

// An in-process cluster for fault-injection tests: N Stores, each on its own
// raft-boltdb files in a temporary directory, wired with hashicorp/raft's
// in-memory transport. The network is the fault injector: partitions cut
// links in both directions, heal restores them, and a wrapper transport
// delays, drops requests and drops replies at random from a seeded source.
// Nodes can be stopped (Close) and restarted on the same directory, and
// their Raft log disks can fail (failpoint.LogStore). The fault injectors,
// the workload and the validators live in internal/clustertest.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/cluster/transport"
	"github.com/tally-licensing/tally/protocol"

	"github.com/tally-licensing/tally/internal/clustertest/failpoint"
	"github.com/tally-licensing/tally/internal/clustertest/traffic"
	"github.com/tally-licensing/tally/internal/clustertest/validate"
)

// Test account and pool.
const (
	clAccount = traffic.Account
	clFeature = traffic.Feature
)

// clLongSettings make leases outlive any test run, so that only explicit
// releases free seats and the porcupine model need not know about time.
var clLongSettings = ledger.Settings{LeaseTTL: time.Hour, HeartbeatInterval: time.Minute, MaxSkew: time.Second}

// chaosEnabled reports whether the long variants should run.
func chaosEnabled() bool { return os.Getenv("TALLY_CHAOS") == "1" }

// ---------------------------------------------------------------------------
// Cluster.

type clusterOptions struct {
	nodes int
	// snapshotThreshold, when set, makes Raft snapshot often, so restarts
	// restore the ledger from a snapshot plus the log after it.
	snapshotThreshold uint64
	// seed drives the fault transports' randomness.
	seed uint64
	// tls runs Raft over Tally's own transport (mutual TLS over loopback
	// TCP, certificates from a test cluster CA) instead of the in-memory
	// one; partitions and pauses then block addresses in faultTransport.
	tls bool
	// disks puts a failpoint.LogStore under every node's Raft log, so
	// that failDisk can make it fail.
	disks bool
}

type clusterNode struct {
	idx  int
	id   string
	addr raft.ServerAddress
	dir  string

	// Guarded by testCluster.mu.
	store  *store.Store              // nil while stopped
	inmem  *raft.InmemTransport      // in-memory mode only
	cert   tls.Certificate           // TLS mode only
	layer  *transport.TLSStreamLayer // TLS mode: the first listener, bound before the peers are known
	net    *failpoint.Transport
	faults failpoint.Faults
	opens  int
	disk   *failpoint.LogStore // disks mode; a fresh one (a repaired disk) on every open
	// failStops counts the times the node stopped on a failed log write.
	failStops int
	diskDown  bool // fail-stopped, not restarted yet
}

type testCluster struct {
	t     testing.TB
	opts  clusterOptions
	peers []raft.Server
	trace *validate.ApplyTrace
	start time.Time

	caPool *x509.CertPool // TLS mode

	mu     sync.Mutex
	nodes  []*clusterNode
	cut    map[[2]int]bool // cut[{i,j}] with i<j: no link between i and j
	events []string
}

func newTestCluster(t testing.TB, opts clusterOptions) *testCluster {
	t.Helper()
	c := &testCluster{t: t, opts: opts, trace: validate.NewApplyTrace(), cut: map[[2]int]bool{}, start: time.Now()}
	base := t.TempDir()
	var ca *certs.CA
	if opts.tls {
		var err error
		if ca, err = certs.NewCA("chaos", time.Now()); err != nil {
			t.Fatal(err)
		}
		c.caPool = ca.Pool()
	}
	for i := 0; i < opts.nodes; i++ {
		n := &clusterNode{idx: i, id: fmt.Sprintf("n%d", i), addr: raft.ServerAddress(fmt.Sprintf("inmem-n%d", i))}
		if opts.tls {
			certPEM, keyPEM, err := ca.IssueNode(n.id, nil, time.Now())
			if err == nil {
				n.cert, err = certs.KeyPair(certPEM, keyPEM)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The first listener binds port 0 and keeps the port the
			// kernel chose, which the peers list then names; a restart
			// binds the same port again.
			n.layer, err = transport.Listen(transport.Config{BindAddr: "127.0.0.1:0", Certificate: n.cert, CAs: c.caPool, Logger: c.logger(n.id)})
			if err != nil {
				t.Fatal(err)
			}
			n.addr = raft.ServerAddress(n.layer.Addr().String())
		}
		n.dir = fmt.Sprintf("%s/%s", base, n.id)
		c.nodes = append(c.nodes, n)
		c.peers = append(c.peers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: n.addr})
	}
	t.Cleanup(c.shutdown)
	for i := range c.nodes {
		if err := c.open(i); err != nil {
			t.Fatalf("open %s: %v", c.nodes[i].id, err)
		}
	}
	return c
}

// note records a harness event for the failure report.
func (c *testCluster) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteLocked(format, args...)
}

func (c *testCluster) noteLocked(format string, args ...any) {
	c.events = append(c.events, fmt.Sprintf("%8.3fs ", time.Since(c.start).Seconds())+fmt.Sprintf(format, args...))
}

// dumpEvents logs the harness events (on failure).
func (c *testCluster) dumpEvents() {
	c.mu.Lock()
	ev := append([]string(nil), c.events...)
	c.mu.Unlock()
	c.t.Logf("cluster events:\n%s", strings.Join(ev, "\n"))
	for i := range c.nodes {
		if s := c.storeOf(i); s != nil {
			c.t.Logf("%s: %+v", c.nodes[i].id, s.Status())
		} else {
			c.t.Logf("%s: stopped", c.nodes[i].id)
		}
	}
}

func (c *testCluster) logger(id string) *slog.Logger {
	if os.Getenv("TALLY_CLUSTER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func linkKey(i, j int) [2]int {
	if i > j {
		i, j = j, i
	}
	return [2]int{i, j}
}

// open starts node i on its directory with a fresh transport at its fixed
// address, linked to every running node it is not partitioned from.
func (c *testCluster) open(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.store != nil {
		return fmt.Errorf("%s is running", n.id)
	}
	var inner raft.Transport
	if c.opts.tls {
		layer := n.layer
		n.layer = nil
		if layer == nil {
			var err error
			if layer, err = transport.Listen(transport.Config{BindAddr: string(n.addr), Certificate: n.cert, CAs: c.caPool, Logger: c.logger(n.id)}); err != nil {
				return err
			}
		}
		inner = transport.NewNetworkTransport(layer, c.logger(n.id))
	} else {
		_, inmem := raft.NewInmemTransportWithTimeout(n.addr, 300*time.Millisecond)
		n.inmem, inner = inmem, inmem
	}
	net := failpoint.NewTransport(inner, rand.New(rand.NewPCG(c.opts.seed, uint64(i)<<32|uint64(n.opens))))
	net.SetFaults(n.faults)
	n.net = net
	for j, o := range c.nodes {
		if j == i || o.store == nil {
			continue
		}
		up := !c.cut[linkKey(i, j)]
		c.linkLocked(i, j, up)
		c.linkLocked(j, i, up)
	}
	// The observer needs the store to learn the index it is applying; it
	// waits for Open to hand it over (Open does not wait for the FSM).
	var s *store.Store
	ready := make(chan struct{})
	cfg := store.Config{
		NodeID: n.id, Dir: n.dir, Transport: net, Bootstrap: true, Peers: c.peers,
		Logger:           c.logger(n.id),
		HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		ApplyTimeout: 2 * time.Second,
		Observer: func(cmd *ledger.Command, res ledger.Result) {
			<-ready
			if s == nil {
				return
			}
			var idx uint64
			s.Read(func(st *ledger.State) { idx = st.AppliedIndex() })
			c.trace.Observe(n.id, idx, cmd, res)
		},
	}
	if c.opts.disks {
		cfg.WrapLogStore = func(inner raft.LogStore) raft.LogStore {
			n.disk = failpoint.NewLogStore(inner)
			return n.disk
		}
	}
	opened := n.opens
	cfg.FailStop = func(err error) {
		<-ready
		c.failStopped(i, opened, s, err)
	}
	if c.opts.snapshotThreshold > 0 {
		cfg.SnapshotThreshold = c.opts.snapshotThreshold
		cfg.SnapshotInterval = 100 * time.Millisecond
	}
	var err error
	s, err = store.Open(cfg)
	close(ready)
	if err != nil {
		net.Close()
		return err
	}
	n.store = s
	n.diskDown = false
	n.opens++
	if n.opens > 1 {
		c.noteLocked("restart %s", n.id)
	}
	return nil
}

// stop crashes node i: its links go down, then the store closes.
func (c *testCluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	s := n.store
	if s == nil {
		c.mu.Unlock()
		return
	}
	n.store = nil
	if n.inmem != nil {
		for j, o := range c.nodes {
			if j != i && o.inmem != nil {
				o.inmem.Disconnect(n.addr)
			}
		}
		n.inmem.DisconnectAll()
	}
	net := n.net
	c.noteLocked("stop %s (was %s)", n.id, s.Raft().State())
	c.mu.Unlock()
	if err := s.Close(); err != nil {
		c.t.Errorf("close %s: %v", n.id, err)
	}
	// The store does not close its transport: a crashed process's
	// listener and connections go away with it.
	if err := net.Close(); err != nil && !errors.Is(err, transport.ErrClosed) {
		c.t.Errorf("close %s's transport: %v", n.id, err)
	}
}

// linkLocked makes node from able (or unable) to reach node to.
func (c *testCluster) linkLocked(from, to int, up bool) {
	a, b := c.nodes[from], c.nodes[to]
	if c.opts.tls {
		if a.net != nil {
			a.net.Block(b.addr, !up)
		}
		return
	}
	switch {
	case a.inmem == nil:
	case up && b.inmem != nil:
		a.inmem.Connect(b.addr, b.inmem)
	case !up:
		a.inmem.Disconnect(b.addr)
	}
}

func (c *testCluster) restart(i int) {
	c.t.Helper()
	if err := c.open(i); err != nil {
		c.t.Fatalf("restart %s: %v", c.nodes[i].id, err)
	}
}

func (c *testCluster) shutdown() {
	for i, n := range c.nodes {
		c.stop(i)
		if n.layer != nil { // bound, never opened
			n.layer.Close()
		}
	}
}

// partition cuts every link between nodes of different groups. Nodes named
// in no group keep their links.
func (c *testCluster) partition(groups ...[]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	group := map[int]int{}
	for g, members := range groups {
		for _, m := range members {
			group[m] = g
		}
	}
	for i := range c.nodes {
		for j := i + 1; j < len(c.nodes); j++ {
			gi, iok := group[i]
			gj, jok := group[j]
			if iok && jok && gi != gj {
				c.cut[linkKey(i, j)] = true
				c.unlinkLocked(i, j)
			}
		}
	}
	c.noteLocked("partition %v", groups)
}

func (c *testCluster) unlinkLocked(i, j int) {
	c.linkLocked(i, j, false)
	c.linkLocked(j, i, false)
}

// heal restores every link between running nodes.
func (c *testCluster) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[[2]int]bool{}
	for i, a := range c.nodes {
		for j, b := range c.nodes {
			if i != j && a.store != nil && b.store != nil {
				c.linkLocked(i, j, true)
			}
		}
	}
	c.noteLocked("heal")
}

// setFaults changes what node i's outgoing links suffer.
func (c *testCluster) setFaults(i int, f failpoint.Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	n.faults = f
	if n.net != nil {
		n.net.SetFaults(f)
	}
	c.noteLocked("faults %s: %s", n.id, f)
}

// pause freezes node i's network for d, as a stopped process (SIGSTOP)
// would look from outside: nobody reaches it, and whatever it sends waits
// until it resumes and then arrives late, stale term and all. Its own
// timers keep running, which a real pause would not: the test still sees a
// leader that wakes up believing it leads.
func (c *testCluster) pause(i int, d time.Duration) {
	c.mu.Lock()
	n := c.nodes[i]
	if n.store == nil {
		c.mu.Unlock()
		return
	}
	n.net.PauseUntil(time.Now().Add(d))
	for j := range c.nodes {
		if j != i {
			c.linkLocked(j, i, false)
		}
	}
	c.noteLocked("pause %s for %v", n.id, d)
	paused := n.net
	c.mu.Unlock()
	time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.nodes[i].store == nil || c.nodes[i].net != paused {
			return // stopped or restarted meanwhile
		}
		for j, o := range c.nodes {
			if j != i && o.store != nil && !c.cut[linkKey(i, j)] {
				c.linkLocked(j, i, true)
			}
		}
		c.noteLocked("resume %s", n.id)
	})
}

func (c *testCluster) storeOf(i int) *store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].store
}

// running lists the running nodes.
func (c *testCluster) running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, n := range c.nodes {
		if n.store != nil {
			out = append(out, i)
		}
	}
	return out
}

func (c *testCluster) all() []int {
	out := make([]int, len(c.nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

// leader returns the running node that believes it leads (the one with the
// highest term if a deposed leader has not noticed yet), or -1.
func (c *testCluster) leader() (int, *store.Store) {
	best, bestTerm := -1, uint64(0)
	var bestStore *store.Store
	for _, i := range c.running() {
		s := c.storeOf(i)
		if s == nil || !s.IsLeader() {
			continue
		}
		if term := s.Raft().CurrentTerm(); best < 0 || term > bestTerm {
			best, bestTerm, bestStore = i, term, s
		}
	}
	return best, bestStore
}

// waitLeader polls until exactly one node of among leads and has applied
// everything committed before its term (a barrier), and returns it.
func (c *testCluster) waitLeader(ctx context.Context, among []int) (int, error) {
	for {
		var leaders []int
		for _, i := range among {
			if s := c.storeOf(i); s != nil && s.IsLeader() {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 {
			s := c.storeOf(leaders[0])
			bctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.Barrier(bctx)
			cancel()
			if err == nil && s.IsLeader() {
				return leaders[0], nil
			}
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return -1, fmt.Errorf("no single leader among %v: %w", among, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error { return traffic.SleepCtx(ctx, d) }

// retryable reports whether a Propose error may go away on another attempt,
// possibly on another node.
func retryable(err error) bool {
	var nl *store.ErrNotLeader
	return errors.As(err, &nl) || protocol.CodeOf(err).Temporary() || errors.Is(err, context.DeadlineExceeded)
}

// propose is proposeOnLeader: it sends cmd to whichever node leads and
// retries, on any node, with the same request ID, until a node answers or
// ctx ends. A retried command may already have been applied; the ledger
// answers a repeated request ID with the recorded result.
func (c *testCluster) propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	var last error
	for attempt := 1; ; attempt++ {
		if _, s := c.leader(); s != nil {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			res, err := s.Propose(actx, cmd)
			cancel()
			if err == nil {
				return res, nil
			}
			if !retryable(err) {
				return res, err
			}
			last = err
		} else {
			last = errors.New("no leader")
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return ledger.Result{}, fmt.Errorf("%s %s: gave up after %d attempts, last: %v: %w", cmd.Type, cmd.RequestID, attempt, last, err)
		}
	}
}

// Propose is propose, for traffic.Workload.
func (c *testCluster) Propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	return c.propose(ctx, cmd)
}

// mustPropose proposes and fails the test on any error, including the
// ledger's.
func (c *testCluster) mustPropose(ctx context.Context, cmd ledger.Command) ledger.Result {
	c.t.Helper()
	res, err := c.propose(ctx, cmd)
	if err != nil {
		c.t.Fatalf("propose %s: %v", cmd.Type, err)
	}
	if res.Error != nil {
		c.t.Fatalf("%s: %v", cmd.Type, res.Error)
	}
	return res
}

// seed bootstraps the ledger with one account, one pool and devices d0…dN-1.
func (c *testCluster) seed(ctx context.Context, settings ledger.Settings, seats, devices int) {
	c.t.Helper()
	c.mustPropose(ctx, ledger.Command{Type: ledger.CmdBootstrap, RequestID: "seed-bootstrap", Payload: &ledger.Bootstrap{ClusterID: "cluster-test", Settings: settings}})
	c.mustPropose(ctx, ledger.Command{Type: ledger.CmdCreateAccount, RequestID: "seed-account", Payload: &ledger.CreateAccount{ID: clAccount}})
	c.mustPropose(ctx, ledger.Command{Type: ledger.CmdSetPool, RequestID: "seed-pool", Payload: &ledger.SetPool{Account: clAccount, Feature: clFeature, Seats: seats}})
	c.mustPropose(ctx, ledger.Command{Type: ledger.CmdCreateEnrollToken, RequestID: "seed-token", Payload: &ledger.EnrollToken{ID: "et", Account: clAccount, Hash: "h", Expires: time.Now().Add(24 * time.Hour)}})
	for i := 0; i < devices; i++ {
		c.mustPropose(ctx, ledger.Command{Type: ledger.CmdEnrollDevice, RequestID: fmt.Sprint("seed-enroll-", i), Payload: &ledger.EnrollDevice{Account: clAccount, TokenID: "et", Code: fmt.Sprint("d", i), KeyFingerprint: fmt.Sprint("key-", i)}})
	}
}

var (
	checkoutCmd = traffic.CheckoutCmd
	renewCmd    = traffic.RenewCmd
	releaseCmd  = traffic.ReleaseCmd
)

func snapshotOf(s *store.Store) []byte {
	var b bytes.Buffer
	s.Read(func(st *ledger.State) {
		if err := st.WriteSnapshot(&b); err != nil {
			panic(err)
		}
	})
	return b.Bytes()
}

// failStopped is what the harness does when node i's store fail-stops
// after a failed log write, as tallyd exits: the node is down (its links
// go, its files are released) until restarted. opened tells a late report
// from an earlier incarnation apart.
func (c *testCluster) failStopped(i, opened int, s *store.Store, err error) {
	c.mu.Lock()
	n := c.nodes[i]
	if s == nil || n.store != s || n.opens != opened+1 {
		c.mu.Unlock()
		if s != nil {
			s.Abandon()
		}
		return
	}
	n.store = nil
	n.failStops++
	n.diskDown = true
	if n.inmem != nil {
		for j, o := range c.nodes {
			if j != i && o.inmem != nil {
				o.inmem.Disconnect(n.addr)
			}
		}
		n.inmem.DisconnectAll()
	}
	net := n.net
	c.noteLocked("%s fail-stopped: %v", n.id, err)
	c.mu.Unlock()
	net.Close()
	s.Abandon()
}

// failStops counts node i's fail-stops.
func (c *testCluster) failStops(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].failStops
}

// failDisk makes node i's next Raft log write, and every one after it, fail
// with f until the node restarts on a repaired disk (repairDisks).
func (c *testCluster) failDisk(i int, f failpoint.DiskFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.store == nil || n.disk == nil {
		return
	}
	n.disk.Arm(f)
	c.noteLocked("disk of %s: %s armed", n.id, f)
}

// diskFailed reports whether node i's disk has failed a write.
func (c *testCluster) diskFailed(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.store == nil || n.disk == nil {
		return false
	}
	f, _ := n.disk.Failed()
	return f != failpoint.NoDiskFault
}

// repairDisks disarms every disk fault and restarts each node that
// fail-stopped on its disk, or whose disk failed a write it has not stopped
// for yet, on a repaired disk.
func (c *testCluster) repairDisks() {
	c.t.Helper()
	for i, n := range c.nodes {
		c.mu.Lock()
		d, down := n.disk, n.diskDown
		c.mu.Unlock()
		if d == nil {
			continue
		}
		d.Arm(failpoint.NoDiskFault)
		if c.diskFailed(i) {
			c.stop(i)
			down = true
		}
		if down {
			c.restart(i)
		}
	}
}

// converge ends every fault (heal, no lossy links, repaired disks, every
// node running),
// waits for a leader, puts a barrier through it and waits until every node
// has applied the same ledger, byte for byte. It returns that ledger's
// snapshot and the leader.
func (c *testCluster) converge(ctx context.Context) ([]byte, int) {
	c.t.Helper()
	c.repairDisks()
	c.heal()
	for i := range c.nodes {
		c.setFaults(i, failpoint.Faults{})
		if c.storeOf(i) == nil {
			c.restart(i)
		}
	}
	c.heal()
	for {
		li, err := c.waitLeader(ctx, c.all())
		if err != nil {
			c.dumpEvents()
			c.t.Fatalf("converge: %v", err)
		}
		ls := c.storeOf(li)
		want := snapshotOf(ls)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lagging := c.waitSame(pctx, want)
		cancel()
		if len(lagging) == 0 {
			return want, li
		}
		if ctx.Err() != nil {
			c.dumpEvents()
			for _, n := range c.nodes {
				if s := c.storeOf(n.idx); s != nil {
					c.t.Logf("%s ledger: %s", n.id, snapshotOf(s))
				}
			}
			c.t.Fatalf("converge: nodes %v never reached the leader's ledger (applied index %d)", lagging, appliedIndex(ls))
		}
	}
}

// waitSame polls until every node's ledger snapshot equals want, and
// returns the nodes that still differ when ctx ends.
func (c *testCluster) waitSame(ctx context.Context, want []byte) []string {
	for {
		var lagging []string
		for _, n := range c.nodes {
			s := c.storeOf(n.idx)
			if s == nil || !bytes.Equal(snapshotOf(s), want) {
				lagging = append(lagging, n.id)
			}
		}
		if len(lagging) == 0 || sleepCtx(ctx, 10*time.Millisecond) != nil {
			return lagging
		}
	}
}

func appliedIndex(s *store.Store) uint64 {
	var idx uint64
	s.Read(func(st *ledger.State) { idx = st.AppliedIndex() })
	return idx
}

func leasesOf(s *store.Store) []ledger.Lease {
	var out []ledger.Lease
	s.Read(func(st *ledger.State) { out = st.Leases(ledger.LeaseFilter{}) })
	return out
}

// waitCaughtUp polls until node i has applied everything the leader had
// committed when it was called.
func (c *testCluster) waitCaughtUp(ctx context.Context, i int) error {
	var target uint64
	for target == 0 {
		if _, ls := c.leader(); ls != nil {
			target = ls.Raft().CommitIndex()
		} else if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("no leader: %w", err)
		}
	}
	for {
		if s := c.storeOf(i); s != nil && s.Raft().AppliedIndex() >= target {
			return nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("%s did not reach index %d: %w", c.nodes[i].id, target, err)
		}
	}
}
