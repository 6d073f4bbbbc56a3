package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// Config configures a Store.
type Config struct {
	NodeID string
	// Dir holds raft.db (log and stable store) and the snapshots.
	Dir string
	// RaftAddr is the address Raft listens on for its peers. Ignored when
	// Transport is set.
	RaftAddr string
	// Transport, when set, replaces the plain TCP transport (the daemon
	// passes a TLS one, tests an in-memory one).
	Transport raft.Transport
	// Bootstrap makes this node the first member of a new cluster when it has
	// no Raft state yet. It is harmless on restart.
	Bootstrap bool
	// Peers, with Bootstrap, founds the cluster with these voters instead
	// of this node alone (every founding node must be given the same list).
	Peers    []raft.Server
	Logger   *slog.Logger
	Observer ApplyObserver

	// Raft timing; zero values take hashicorp/raft's defaults.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	// ApplyTimeout bounds how long a proposal waits to be enqueued by Raft.
	ApplyTimeout time.Duration
	// FailStop is told, once, that a write to the Raft log failed and the
	// node has frozen its Raft (see failStopLog); it should end the process
	// (tallyd exits non-zero). Nil logs the error and leaves the node
	// frozen: it never votes, acknowledges or applies again.
	FailStop func(error)
	// Clock stamps commands proposed without a time (nil: the system
	// clock). Tests inject offsets and jumps through it.
	Clock func() time.Time
	// MaxBatch is the most commands packed into one log entry.
	MaxBatch int

	// OnDamage is called, instead of the default, when damage to this
	// node's own Raft data is found while it runs (a log entry that fails
	// its checksum or cannot be decoded). It must not return: the default
	// logs the damage and exits the process with ExitDamaged, before Raft
	// can vote or apply past the entry. Damage found while opening is
	// returned by Open as a *DamageError instead.
	OnDamage func(*DamageError)
	// WrapLogStore, when set, wraps the on-disk log store (below the
	// checksums and the cache), for tests that inject disk faults: a
	// failing fsync, a short write, a full disk
	// (internal/clustertest/failpoint.LogStore). Production leaves it nil.
	WrapLogStore func(raft.LogStore) raft.LogStore
}

// ErrNotLeader is returned by Propose on a follower. It carries the leader's
// Raft address when one is known.
type ErrNotLeader struct{ Leader string }

func (e *ErrNotLeader) Error() string {
	if e.Leader == "" {
		return "this node is not the leader and no leader is known"
	}
	return "this node is not the leader; the leader is " + e.Leader
}

// Store is a node's handle on the replicated ledger.
type Store struct {
	cfg       Config
	log       *slog.Logger
	raft      *raft.Raft
	fsm       *fsm
	logs      raft.LogStore
	bolt      *raftboltdb.BoltStore
	guard     *failStopLog // stops the node on a failed log write
	transport raft.Transport
	proposals chan *proposal
	closing   chan struct{}
	// logFailed is closed when a log write failed and froze Raft
	// (failstop.go).
	logFailed <-chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	// founded is set when Open bootstrapped a brand-new cluster.
	founded bool
	// lastNow is the latest command time this node has submitted to Raft;
	// only proposeLoop touches it.
	lastNow time.Time
	// caughtUpTerm is the term in which this node, leading, last applied
	// every entry its predecessors committed (monotonicNow).
	caughtUpTerm uint64
	// startIndex is the last Raft index the node held on disk (log or
	// snapshot) when it opened: until the FSM has applied that far, the
	// ledger in memory is older than what this node already acknowledged.
	startIndex uint64
	openedAt   time.Time
}

type proposal struct {
	ctx  context.Context
	cmd  ledger.Command
	done chan proposalResult
}

type proposalResult struct {
	res ledger.Result
	err error
}

// Open starts Raft on the node's data directory.
func Open(cfg Config) (*Store, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("store: node ID is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 512
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	s := &Store{
		cfg:       cfg,
		log:       cfg.Logger,
		fsm:       &fsm{state: ledger.New(), observer: cfg.Observer, log: cfg.Logger},
		proposals: make(chan *proposal, 4096),
		closing:   make(chan struct{}),
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hclogFor(cfg.Logger, "raft")
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}

	if cfg.OnDamage == nil {
		cfg.OnDamage = failStop(cfg.Logger)
		s.cfg.OnDamage = cfg.OnDamage
	}
	// The snapshots and the log are checked before Raft starts, so that a
	// damaged node never votes: Raft itself would skip an unreadable
	// snapshot for an older one, and panic on an unreadable log entry.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 3, hclogFor(cfg.Logger, "snapshot"))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	snapIndex, err := checkSnapshots(cfg.Dir, snaps)
	if err != nil {
		return nil, err
	}
	dbFile := filepath.Join(cfg.Dir, "raft.db")
	var logs raft.LogStore
	var at uint64 // the log index being checked, for the report
	err = protect(dbFile, &at, func() error {
		bolt, err := openBolt(dbFile)
		if err != nil {
			return err
		}
		var inner raft.LogStore = bolt
		if cfg.WrapLogStore != nil {
			inner = cfg.WrapLogStore(bolt)
		}
		// A failed write stops the node (failStopLog), below the
		// checksums, which see only what was written.
		s.guard = newFailStopLog(inner, dbFile, s.failStop)
		s.logFailed = s.guard.failed
		inner = s.guard
		sums := &checksumLogStore{inner: inner, file: dbFile}
		if err := checkLog(dbFile, sums, bolt, snapIndex, &at); err != nil {
			bolt.Close()
			return err
		}
		sums.damaged = cfg.OnDamage
		s.bolt = bolt
		if logs, err = raft.NewLogCache(1024, sums); err != nil {
			bolt.Close()
			return fmt.Errorf("raft log cache: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	bolt := s.bolt
	s.logs = logs
	s.fsm.snapshotIndex = func() uint64 {
		if metas, err := snaps.List(); err == nil && len(metas) > 0 {
			return metas[0].Index
		}
		return 0
	}
	s.fsm.damaged = func(index uint64, err error) {
		cfg.OnDamage(undecodable(dbFile, index, err))
	}
	s.transport = cfg.Transport
	if s.transport == nil {
		addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
		if err != nil {
			bolt.Close()
			return nil, fmt.Errorf("raft address %q: %w", cfg.RaftAddr, err)
		}
		t, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, addr, 3, 10*time.Second, hclogFor(cfg.Logger, "raft-net"))
		if err != nil {
			bolt.Close()
			return nil, fmt.Errorf("listen for raft on %s: %w", cfg.RaftAddr, err)
		}
		s.transport = t
	}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, bolt, snaps)
		if err != nil {
			s.closeResources()
			return nil, fmt.Errorf("inspect raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: s.transport.LocalAddr()}}}
			if len(cfg.Peers) > 0 {
				conf.Servers = cfg.Peers
			}
			if err := raft.BootstrapCluster(rc, logs, bolt, snaps, s.transport, conf); err != nil {
				s.closeResources()
				return nil, fmt.Errorf("bootstrap raft: %w", err)
			}
			s.founded = true
		}
	}
	if s.startIndex, err = lastStoredIndex(logs, snaps); err != nil {
		s.closeResources()
		return nil, err
	}
	s.openedAt = time.Now()
	r, err := raft.NewRaft(rc, s.fsm, logs, s.guard.stable(bolt), snaps, s.transport)
	if err != nil {
		s.closeResources()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	s.wg.Add(1)
	go s.proposeLoop()
	return s, nil
}

// failStop reports a failed log write (see Config.FailStop).
func (s *Store) failStop(err error) {
	s.log.Error("raft log write failed: node stopped", "err", err)
	if s.cfg.FailStop != nil {
		s.cfg.FailStop(err)
	}
}

// Abandon releases the files of a store whose Raft froze after a failed log
// write, without waiting for Raft (its goroutines stay blocked in the
// failed write until the process ends). It is for in-process tests that
// restart a fail-stopped node on the same directory; a real node exits.
func (s *Store) Abandon() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.closeResources()
	})
}

// now is the node's clock.
func (s *Store) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Store) closeResources() {
	if c, ok := s.transport.(interface{ Close() error }); ok && s.cfg.Transport == nil {
		c.Close()
	}
	s.bolt.Close()
}

// Close stops Raft and releases the data directory. Proposals still queued
// fail with CodeUnavailable.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.wg.Wait()
		done := make(chan error, 1)
		go func() { done <- s.raft.Shutdown().Error() }()
		select {
		case e := <-done:
			if e != nil {
				err = fmt.Errorf("shut down raft: %w", e)
			}
		case <-s.logFailed:
			// A failed log write froze Raft's goroutines for good
			// (failStopLog): waiting for them to stop would wait forever,
			// before or after the failure began. Release the files, as
			// Abandon does.
		}
		s.closeResources()
	})
	return err
}

// openBolt opens raft.db. A file left empty (cut to nothing) would be taken
// for a new log, forgetting this node's term and vote, so it is damage;
// and a file another process holds is refused after a while instead of
// waiting forever.
func openBolt(file string) (*raftboltdb.BoltStore, error) {
	if fi, err := os.Stat(file); err == nil && fi.Size() == 0 {
		return nil, &DamageError{File: file, Reason: "the file is empty (truncated)"}
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: file, BoltOptions: &bbolt.Options{Timeout: 5 * time.Second}})
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return nil, fmt.Errorf("open raft log %s: the file is locked by another process (is another tallyd running on this data dir?)", file)
	case err != nil:
		return nil, &DamageError{File: file, Reason: fmt.Sprintf("the database cannot be opened: %v", err)}
	}
	return bolt, nil
}

// lastStoredIndex is the highest index in the log or the newest snapshot.
func lastStoredIndex(logs raft.LogStore, snaps raft.SnapshotStore) (uint64, error) {
	last, err := logs.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("read the last log index: %w", err)
	}
	metas, err := snaps.List()
	if err != nil {
		return 0, fmt.Errorf("list snapshots: %w", err)
	}
	if len(metas) > 0 && metas[0].Index > last {
		last = metas[0].Index
	}
	return last, nil
}

// StartIndex is the last Raft index this node held on disk when it opened.
// A node must not answer from its ledger before AppliedIndex reaches it
// (or the log was cut back below it by a new leader): until then the FSM
// is replaying and the ledger is older than what the node acknowledged.
func (s *Store) StartIndex() uint64 { return s.startIndex }

// OpenedAt is when Open started Raft.
func (s *Store) OpenedAt() time.Time { return s.openedAt }

// LastIndex is the last index in this node's log (or snapshot).
func (s *Store) LastIndex() uint64 { return s.raft.LastIndex() }

// AppliedIndex is the index of the last command the ledger has applied
// (entries after it, if any, change nothing in the ledger: no-ops,
// configuration changes). An answer read from the ledger now reflects at
// least this index.
func (s *Store) AppliedIndex() uint64 { return s.fsm.index.Load() }

// HasApplied reports whether the ledger reflects every entry up to index.
func (s *Store) HasApplied(index uint64) bool {
	done := s.fsm.index.Load()
	if done >= index {
		return true
	}
	if s.raft.AppliedIndex() < index {
		return false
	}
	// Raft has handed everything up to index to the FSM; what is left is
	// done unless a ledger command lies in between (the FSM goroutine may
	// still be applying it). Usually the range is one no-op.
	var l raft.Log
	for i := done + 1; i <= index; i++ {
		if err := s.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue // compacted: in the snapshot the FSM restored
			}
			return false
		}
		if l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// Founded reports whether Open bootstrapped a new cluster (rather than
// finding Raft state on disk).
func (s *Store) Founded() bool { return s.founded }

// Raft exposes the underlying Raft for cluster management.
func (s *Store) Raft() *raft.Raft { return s.raft }

// LocalAddr is the address peers reach this node's Raft at.
func (s *Store) LocalAddr() string { return string(s.transport.LocalAddr()) }

// NodeID is this node's Raft ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// IsLeader reports whether this node believes it is the leader. Use
// VerifyLeader before acting on anything that must be current.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's Raft address and ID, empty when unknown.
func (s *Store) Leader() (addr, id string) {
	a, i := s.raft.LeaderWithID()
	return string(a), string(i)
}

// WaitForLeader blocks until the node is the leader and its FSM has applied
// everything committed before it took office, or until ctx ends.
func (s *Store) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s.IsLeader() {
			return s.Barrier(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leadership: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Barrier waits until every entry committed so far is applied to the FSM.
func (s *Store) Barrier(ctx context.Context) error {
	timeout := s.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := s.raft.Barrier(timeout).Error(); err != nil {
		return mapRaftErr(err)
	}
	return nil
}

// VerifyLeader confirms with a quorum that this node is still the leader.
func (s *Store) VerifyLeader(ctx context.Context) error {
	f := s.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return mapRaftErr(err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("verify leadership: %w", ctx.Err())
	}
}

// Read runs fn against the ledger under the read lock. fn must not keep
// references into the state after it returns; the ledger's accessors return
// copies for that reason.
func (s *Store) Read(fn func(st *ledger.State)) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	fn(s.fsm.state)
}

// Propose replicates cmd and returns the ledger's result once it is applied
// on this node. A command without a time is stamped with the leader's clock.
// Errors from the ledger itself (no_seat, …) are in the Result, not in err;
// err is for failing to replicate (not leader, shutting down, timeout).
func (s *Store) Propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	if !s.IsLeader() {
		addr, _ := s.Leader()
		return ledger.Result{}, &ErrNotLeader{Leader: addr}
	}
	if cmd.Now.IsZero() {
		cmd.Now = s.now()
	}
	if err := s.CheckFormat(&cmd); err != nil {
		return ledger.Result{}, err
	}
	p := &proposal{ctx: ctx, cmd: cmd, done: make(chan proposalResult, 1)}
	select {
	case s.proposals <- p:
	case <-ctx.Done():
		return ledger.Result{}, fmt.Errorf("propose %s: %w", cmd.Type, ctx.Err())
	case <-s.closing:
		return ledger.Result{}, protocol.Errorf(protocol.CodeUnavailable, "the server is shutting down")
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		// The command may still commit; retrying with the same request ID
		// is safe because the ledger is idempotent by request ID.
		return ledger.Result{}, fmt.Errorf("propose %s: %w", cmd.Type, ctx.Err())
	}
}

// proposeLoop packs whatever proposals are waiting into one log entry, so
// that under load many grants share one fsync (DESIGN.md §6), while a lone
// proposal goes out at once.
func (s *Store) proposeLoop() {
	defer s.wg.Done()
	batch := make([]*proposal, 0, s.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-s.proposals:
			batch = append(batch, p)
		case <-s.closing:
			s.failQueued()
			return
		}
	drain:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case p := <-s.proposals:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		live := batch[:0]
		for _, p := range batch {
			if p.ctx.Err() != nil {
				p.done <- proposalResult{err: fmt.Errorf("propose %s: %w", p.cmd.Type, p.ctx.Err())}
				continue
			}
			live = append(live, p)
		}
		if len(live) == 0 {
			continue
		}
		s.submit(append([]*proposal(nil), live...))
	}
}

func (s *Store) failQueued() {
	for {
		select {
		case p := <-s.proposals:
			p.done <- proposalResult{err: protocol.Errorf(protocol.CodeUnavailable, "the server is shutting down")}
		default:
			return
		}
	}
}

// logFormat is the log format the cluster reads (ledger.ClusterLogFormat).
func (s *Store) logFormat() int {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.state.ClusterLogFormat()
}

// CheckFormat refuses a command that a node of the cluster could not read:
// during a rolling upgrade, what the new release adds waits until every
// node runs it (a node of the previous release would skip the entry and
// its ledger would part from the others'). Propose checks it; a follower
// checks it too before forwarding, as a leader of the previous release
// would not.
func (s *Store) CheckFormat(cmd *ledger.Command) error {
	need := cmd.MinFormat()
	if need <= 1 {
		return nil
	}
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	st := s.fsm.state
	if st.ClusterLogFormat() >= need {
		return nil
	}
	var old []string
	for _, n := range st.Nodes() {
		if max(n.LogFormat, 1) < need {
			old = append(old, n.ID)
		}
	}
	return protocol.Errorf(protocol.CodeUnsupportedVersion, "%s needs log format %d, which node(s) %s do not read yet: upgrade every node of the cluster to this release first", cmd.Type, need, strings.Join(old, ", "))
}

// monotonicNow keeps leader time from running backwards along the log.
// Callers stamp Now before their command reaches proposeLoop, so two
// concurrent proposals can enter the log in the opposite order of their
// stamps, even inside one batch. Apply is right at every entry either way,
// but lease intervals in ledger time then overlap: a grant dated before the
// release that freed its seat shows more leases than seats at one instant
// (S1 as DESIGN.md states it, "at every instant of leader time"), which the
// chaos test found. A stamp earlier than one already submitted, or than the
// latest time the ledger applied (a previous leader's), is raised to it.
// The raised time is one a leader's clock has already shown, so nothing is
// reclaimed before a leader has seen its horizon and skew pass (S3).
//
// A new leader first applies everything its predecessors committed (a
// barrier, once per term): until then the latest command time is not in
// its ledger, and a stamp from its own clock could fall before an entry a
// previous leader, whose clock ran ahead, wrote.
func (s *Store) monotonicNow(ps []*proposal) {
	if term := s.raft.CurrentTerm(); term != s.caughtUpTerm && s.raft.State() == raft.Leader {
		if s.raft.Barrier(s.cfg.ApplyTimeout).Error() == nil {
			s.caughtUpTerm = term
		}
	}
	floor := s.lastNow
	s.fsm.mu.RLock()
	if applied := s.fsm.state.LastCommandTime(); applied.After(floor) {
		floor = applied
	}
	s.fsm.mu.RUnlock()
	for _, p := range ps {
		if p.cmd.Now.Before(floor) {
			p.cmd.Now = floor
		}
		floor = p.cmd.Now
	}
	s.lastNow = floor
}

func (s *Store) submit(ps []*proposal) {
	s.monotonicNow(ps)
	cmd := ps[0].cmd
	if len(ps) > 1 {
		cmd = ledger.Command{Type: ledger.CmdBatch, Now: ps[len(ps)-1].cmd.Now, Batch: make([]ledger.Command, len(ps))}
		for i, p := range ps {
			cmd.Batch[i] = p.cmd
		}
	}
	data, err := cmd.EncodeAt(s.logFormat())
	if err != nil {
		for _, p := range ps {
			p.done <- proposalResult{err: err}
		}
		return
	}
	f := s.raft.Apply(data, s.cfg.ApplyTimeout)
	// Wait off the loop so the next batch can be proposed while this one
	// commits: Raft pipelines entries, and a loop that waited would put a
	// full round trip between batches.
	go func() {
		err := f.Error()
		if err != nil {
			err = mapRaftErr(err)
			for _, p := range ps {
				p.done <- proposalResult{err: fmt.Errorf("replicate %s: %w", p.cmd.Type, err)}
			}
			return
		}
		res, _ := f.Response().(ledger.Result)
		if len(ps) == 1 {
			ps[0].done <- proposalResult{res: res}
			return
		}
		for i, p := range ps {
			var r ledger.Result
			if i < len(res.Batch) {
				r = res.Batch[i]
			}
			p.done <- proposalResult{res: r}
		}
	}()
}

// mapRaftErr turns Raft's errors into protocol errors an agent or
// administrator can act on.
func mapRaftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return protocol.Errorf(protocol.CodeNotLeader, "%v", err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return protocol.Errorf(protocol.CodeUnavailable, "the server is shutting down")
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return protocol.Errorf(protocol.CodeTimeout, "the cluster did not accept the command in time")
	}
	return err
}

// Status is a node's view of Raft for administrators.
type Status struct {
	NodeID       string    `json:"node_id"`
	State        string    `json:"state"`
	Leader       string    `json:"leader"`
	LeaderID     string    `json:"leader_id"`
	Term         uint64    `json:"term"`
	AppliedIndex uint64    `json:"applied_index"`
	CommitIndex  uint64    `json:"commit_index"`
	LastContact  time.Time `json:"last_contact,omitempty"`
}

// Status reports this node's Raft state.
func (s *Store) Status() Status {
	addr, id := s.Leader()
	st := Status{
		NodeID: s.cfg.NodeID, State: s.raft.State().String(), Leader: addr, LeaderID: id,
		Term: s.raft.CurrentTerm(), AppliedIndex: s.raft.AppliedIndex(), CommitIndex: s.raft.CommitIndex(),
	}
	if s.raft.State() != raft.Leader {
		st.LastContact = s.raft.LastContact()
	}
	return st
}

// Member is one server of the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Members lists the Raft configuration as this node knows it.
func (s *Store) Members() ([]Member, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	_, leader := s.Leader()
	var out []Member
	for _, srv := range f.Configuration().Servers {
		out = append(out, Member{ID: string(srv.ID), Address: string(srv.Address), Suffrage: srv.Suffrage.String(), Leader: string(srv.ID) == leader})
	}
	return out, nil
}

// AddVoter adds a node to the cluster (leader only). Adding a node that is
// already a voter at the same address changes nothing.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.timeout(ctx)).Error(); err != nil {
		return mapRaftErr(fmt.Errorf("add %s (%s) to the cluster: %w", id, addr, err))
	}
	return nil
}

// AddNonvoter adds a node that receives the log but has no vote (leader
// only): it adds agent-facing capacity without slowing commits. A node that
// is already a voter stays one.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	if err := s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.timeout(ctx)).Error(); err != nil {
		return mapRaftErr(fmt.Errorf("add non-voter %s (%s) to the cluster: %w", id, addr, err))
	}
	return nil
}

// RemoveServer removes a node from the cluster (leader only).
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, s.timeout(ctx)).Error(); err != nil {
		return mapRaftErr(fmt.Errorf("remove %s from the cluster: %w", id, err))
	}
	return nil
}

// TransferLeadership hands leadership to id, or to the most up-to-date
// follower when id is empty.
func (s *Store) TransferLeadership(id, addr string) error {
	var f raft.Future
	if id == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		f = s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := f.Error(); err != nil {
		return mapRaftErr(fmt.Errorf("transfer leadership: %w", err))
	}
	return nil
}

func (s *Store) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return s.cfg.ApplyTimeout
}

// LedgerSnapshot serialises the ledger as this node has applied it.
func (s *Store) LedgerSnapshot(w io.Writer) error {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.state.WriteSnapshot(w)
}

// RestoreLedger replaces the whole ledger with a serialised one, through
// Raft (leader only): the restored state becomes a snapshot every node
// installs, and the log before it is discarded.
func (s *Store) RestoreLedger(ctx context.Context, data []byte) error {
	// Parse first so that a corrupt backup is refused before Raft sees it.
	if err := ledger.New().ReadSnapshot(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("backup is not a ledger snapshot: %w", err)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(data))}
	if err := s.raft.Restore(meta, bytes.NewReader(data), s.timeout(ctx)); err != nil {
		return mapRaftErr(fmt.Errorf("restore the ledger: %w", err))
	}
	return nil
}

// WaitApplied blocks until the FSM has applied index, or ctx ends. Reads
// that must see a write this node (or a client, through another node) knows
// to be committed at index wait here first.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	if s.HasApplied(index) {
		return nil
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !s.HasApplied(index) {
		select {
		case <-ctx.Done():
			return protocol.Errorf(protocol.CodeUnavailable, "this node has applied Raft index %d, not yet %d; retry (here or at another node)", s.AppliedIndex(), index)
		case <-s.closing:
			return protocol.Errorf(protocol.CodeUnavailable, "the server is shutting down")
		case <-t.C:
		}
	}
	return nil
}
