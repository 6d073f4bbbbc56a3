package leasing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Config configures a Service.
type Config struct {
	Store  *store.Store
	Signer *lease.Signer
	Logger *slog.Logger
	// Now is the node's clock; tests may replace it.
	Now func() time.Time
	// Servers lists the agent addresses of the cluster, for agents' failover.
	Servers func() []protocol.ServerInfo
	// ReapInterval is how often the leader looks for expired leases.
	ReapInterval time.Duration
	// Propose replicates a command, forwarding it to the leader from a
	// follower. Nil means the store's own Propose (leader only).
	Propose func(ctx context.Context, cmd ledger.Command) (ledger.Result, error)
	// OnHeartbeat, if set, is called for every heartbeat received (metrics).
	OnHeartbeat func()
}

// Service implements the agent-facing operations.
type Service struct {
	cfg    Config
	store  *store.Store
	signer *lease.Signer
	log    *slog.Logger
	now    func() time.Time
	queues *queues

	mu       sync.Mutex
	lastSeen map[uint64]time.Time
}

// New builds a Service. Register its Observe method as the store's observer
// so that queued checkouts wake when seats free.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Servers == nil {
		cfg.Servers = func() []protocol.ServerInfo { return nil }
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = time.Second
	}
	s := &Service{cfg: cfg, store: cfg.Store, signer: cfg.Signer, log: cfg.Logger, now: cfg.Now, lastSeen: map[uint64]time.Time{}}
	s.queues = newQueues(s)
	return s
}

// SetStore attaches the store after construction; the store needs the
// service's observer at open time, so the two are built in that order.
func (s *Service) SetStore(st *store.Store) { s.store = st }

// NewRequestID returns a random request ID for commands that have none.
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// propose stamps the leader's time and replicates cmd, mapping replication
// failures to protocol errors.
func (s *Service) propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	cmd.Now = s.now()
	var res ledger.Result
	var err error
	if s.cfg.Propose != nil {
		res, err = s.cfg.Propose(ctx, cmd)
	} else {
		res, err = s.store.Propose(ctx, cmd)
	}
	if err != nil {
		var nl *store.ErrNotLeader
		switch {
		case errors.As(err, &nl):
			return res, protocol.Errorf(protocol.CodeNotLeader, "%v", nl)
		case protocol.CodeOf(err) != "":
			return res, err
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return res, protocol.Errorf(protocol.CodeTimeout, "the cluster did not answer in time: %v", err)
		}
		return res, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return res, nil
}

// MaxWait is the longest a checkout may wait in a queue: each waiter holds
// a stream and a goroutine on the node.
const MaxWait = time.Hour

// Checkout grants a seat of req.Feature to dev, queueing for up to req.Wait
// (at most MaxWait) when none is free.
func (s *Service) Checkout(ctx context.Context, dev ledger.DeviceRef, req protocol.CheckoutRequest, requestID string) (protocol.Lease, error) {
	return s.CheckoutAs(ctx, dev, "", req, requestID)
}

// CheckoutAs is Checkout for the member of a verified sign-in (empty: the
// device alone). The request's User is never used: who holds the seat is
// what the ledger finds under signIn.
func (s *Service) CheckoutAs(ctx context.Context, dev ledger.DeviceRef, signIn string, req protocol.CheckoutRequest, requestID string) (protocol.Lease, error) {
	if req.Feature == "" {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeBadRequest, "checkout needs a feature")
	}
	if requestID == "" {
		requestID = NewRequestID()
	}
	cmd := ledger.Command{Type: ledger.CmdCheckout, RequestID: requestID, Payload: &ledger.Checkout{
		Account: dev.Account, Device: dev.Code, Feature: req.Feature, SignIn: signIn,
		Team: req.Team, Borrow: req.Borrow.D(),
	}}
	if req.Wait.D() > MaxWait {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeInvalidArgument, "wait %v is longer than the %v a checkout may queue; retry instead", req.Wait.D(), MaxWait)
	}
	var res ledger.Result
	var err error
	if req.Wait > 0 {
		// The client's priority is not trusted: a device could jump its
		// account's queue. Waiters are served first come, first served.
		res, err = s.queues.wait(ctx, poolKey{dev.Account, req.Feature}, cmd, req.Wait.D(), 0)
	} else {
		res, err = s.queues.tryNow(ctx, poolKey{dev.Account, req.Feature}, cmd)
	}
	if err != nil {
		return protocol.Lease{}, err
	}
	if res.Error != nil {
		return protocol.Lease{}, res.Error
	}
	return s.grant(*res.Lease)
}

// grant signs a token for a committed lease. Its exp is the committed
// horizon, never later (S2).
func (s *Service) grant(l ledger.Lease) (protocol.Lease, error) {
	tok, l, err := s.signCurrent(l)
	if err != nil {
		return protocol.Lease{}, err
	}
	s.touch(l.ID)
	return protocol.Lease{ID: l.ID, Feature: l.Feature, Kind: string(l.Kind), Token: tok, Expires: l.Horizon, Since: l.Since, Member: l.User, Team: l.Team}, nil
}

// SignLease signs the token for a lease as the ledger holds it now. The
// lease is read again rather than trusted from the caller: a result
// replayed from the idempotency record may name a lease released, revoked
// or reclaimed since, whose seat another device may hold (S1); no token is
// signed for it, nor for a lease of another device than the one asked for.
func (s *Service) SignLease(l ledger.Lease) (string, error) {
	tok, _, err := s.signCurrent(l)
	return tok, err
}

// signCurrent is SignLease, also returning the lease as signed.
func (s *Service) signCurrent(l ledger.Lease) (string, ledger.Lease, error) {
	var cluster string
	var skew time.Duration
	registered := false
	var gone *protocol.Error
	asked := l
	s.store.Read(func(st *ledger.State) {
		cluster = st.ClusterID()
		skew = st.Settings().MaxSkew
		registered = st.HasSigningKey(s.signer.KeyID())
		l, gone = st.Lease(asked.ID)
	})
	switch {
	case gone != nil && gone.Code == protocol.CodeLeaseNotFound:
		// This node's copy has not applied the grant yet (a trailing
		// follower): the committed lease it was handed stands. The ledger
		// itself refuses to replay a grant whose lease has ended
		// (ledger/idempotency.go), so a replay cannot get here with one.
		l = asked
	case gone != nil:
		return "", l, gone // released, expired, reclaimed: no token
	case l.Account != asked.Account || l.Device != asked.Device:
		return "", l, protocol.Errorf(protocol.CodeNotHolder, "lease %d is held by another device", asked.ID)
	case l.Revoked:
		return "", l, protocol.Errorf(protocol.CodeLeaseRevoked, "lease %d was revoked by an administrator", asked.ID)
	}
	if !registered {
		// A token signed with a key missing from the JWKS would verify
		// nowhere; wait until this node's key is in the ledger.
		return "", l, protocol.Errorf(protocol.CodeUnavailable, "this node's signing key is not registered with the cluster yet; retry shortly")
	}
	now := s.now()
	if !l.Horizon.Truncate(time.Second).After(now.Truncate(time.Second)) {
		// This node's clock runs ahead of the ledger time the horizon was
		// set in (clock error, or a node forwarding to a leader whose clock
		// lags): date the token at its not-before instead of failing to
		// sign it; whether it is still valid is the verifier's to decide.
		now = l.Since.Add(-skew)
	}
	tok, err := s.signer.Sign(lease.Claims{
		Issuer: cluster, Device: l.Device, Account: l.Account, User: l.User, Feature: l.Feature, AddOns: l.AddOns, Entitlement: l.Entitlement,
		LeaseID: l.ID, Kind: lease.Kind(l.Kind), IssuedAt: now,
		// Back-dated by the skew allowance so that a device whose clock lags
		// the leader's by less than that accepts a token granted this instant.
		NotBefore: l.Since.Add(-skew),
		Expires:   l.Horizon,
	})
	if err != nil {
		return "", l, protocol.Errorf(protocol.CodeInternal, "sign lease %d: %v", l.ID, err)
	}
	return tok, l, nil
}

func (s *Service) touch(ids ...uint64) {
	now := s.now()
	s.mu.Lock()
	for _, id := range ids {
		s.lastSeen[id] = now
	}
	s.mu.Unlock()
}

// LastSeen reports when the device last heartbeated a lease on this node.
func (s *Service) LastSeen(id uint64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lastSeen[id]
	return t, ok
}

// HeartbeatInterval is the interval agents are told to heartbeat at.
func (s *Service) HeartbeatInterval() time.Duration {
	var d time.Duration
	s.store.Read(func(st *ledger.State) { d = st.Settings().HeartbeatInterval })
	return d
}

// leaseVerdict is what a heartbeat does with one lease the device lists.
type leaseVerdict int

const (
	// heldFromMemory: the device's, live, its horizon at least half a TTL
	// away; answered from the applied state without Raft (S4).
	heldFromMemory leaseVerdict = iota
	// throughRaft: renewed through Raft, which also gives the answer when
	// this node's copy cannot (see heartbeatVerdict).
	throughRaft
	// lostVacant: the seat was vacated (a node-locked seat moved on).
	lostVacant
)

// heartbeatVerdict classifies lease id for a heartbeat of dev at now; the
// QUIC heartbeat and the datagram heartbeat (which answers ok only when
// every lease is heldFromMemory) share it.
func heartbeatVerdict(st *ledger.State, dev ledger.DeviceRef, id uint64, now time.Time) (ledger.Lease, leaseVerdict) {
	l, gone := st.Lease(id)
	switch {
	case gone != nil || l.Account != dev.Account || l.Device != dev.Code || l.Revoked:
		// Only the ledger at apply time may say a lease is lost: this
		// node's copy may trail the leader (a grant it has not applied
		// yet, or a restart still replaying), and an agent told "lost"
		// drops a lease it holds. The renewal through Raft answers
		// not_found, not_holder or revoked itself.
		return l, throughRaft
	case l.Vacant:
		return l, lostVacant
	case l.Horizon.Sub(now) < st.LeaseTTL(l.Account, l.Feature)/2:
		return l, throughRaft
	}
	return l, heldFromMemory
}

// Heartbeat renews every lease a device lists. A lease whose horizon is far
// enough away is answered from memory without touching Raft (S4); the others
// are renewed together in one command and get fresh tokens.
func (s *Service) Heartbeat(ctx context.Context, dev ledger.DeviceRef, req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	if s.cfg.OnHeartbeat != nil {
		s.cfg.OnHeartbeat()
	}
	now := s.now()
	resp := protocol.HeartbeatResponse{ServerTime: now, Servers: s.cfg.Servers(), Leases: make([]protocol.LeaseStatus, len(req.Leases))}
	var renew []uint64
	renewAt := map[uint64]int{}
	s.store.Read(func(st *ledger.State) {
		resp.Interval, resp.Policy = agentPolicy(st, dev.Account, req.Leases)
		for i, ref := range req.Leases {
			l, verdict := heartbeatVerdict(st, dev, ref.ID, now)
			switch verdict {
			case throughRaft:
				renewAt[ref.ID] = i
				renew = append(renew, ref.ID)
			case lostVacant:
				resp.Leases[i] = protocol.LeaseStatus{ID: ref.ID, State: protocol.LeaseLost, Error: ledger.VacantError(l)}
			default:
				resp.Leases[i] = protocol.LeaseStatus{ID: ref.ID, State: protocol.LeaseHeld, Expires: l.Horizon}
			}
		}
	})
	if len(renew) > 0 {
		res, err := s.propose(ctx, ledger.Command{Type: ledger.CmdRenew, Payload: &ledger.Renew{Account: dev.Account, Device: dev.Code, Leases: renew}})
		if err != nil {
			return protocol.HeartbeatResponse{}, err
		}
		for _, r := range res.Renewed {
			i := renewAt[r.ID]
			if r.Error != nil {
				resp.Leases[i] = protocol.LeaseStatus{ID: r.ID, State: protocol.LeaseLost, Error: r.Error}
				continue
			}
			tok, err := s.SignLease(*r.Lease)
			if err != nil {
				return protocol.HeartbeatResponse{}, err
			}
			resp.Leases[i] = protocol.LeaseStatus{ID: r.ID, State: protocol.LeaseHeld, Token: tok, Expires: r.Lease.Horizon}
		}
	}
	var held []uint64
	for _, ls := range resp.Leases {
		if ls.State == protocol.LeaseHeld {
			held = append(held, ls.ID)
		}
	}
	s.touch(held...)
	return resp, nil
}

// Release gives a device's seat back at once.
func (s *Service) Release(ctx context.Context, dev ledger.DeviceRef, leaseID uint64, requestID string) error {
	if requestID == "" {
		requestID = NewRequestID()
	}
	res, err := s.propose(ctx, ledger.Command{Type: ledger.CmdRelease, RequestID: requestID, Payload: &ledger.Release{Account: dev.Account, Device: dev.Code, LeaseID: leaseID}})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	return nil
}

// Revoke ends a lease on an administrator's order. The seat frees at the
// lease's horizon plus skew, when no valid token for it can remain.
func (s *Service) Revoke(ctx context.Context, leaseID uint64, by string) (ledger.Lease, error) {
	res, err := s.propose(ctx, ledger.Command{Type: ledger.CmdRevoke, RequestID: NewRequestID(), Actor: by, Payload: &ledger.Revoke{LeaseID: leaseID}})
	if err != nil {
		return ledger.Lease{}, err
	}
	if res.Error != nil {
		return ledger.Lease{}, res.Error
	}
	return *res.Lease, nil
}

// Observe is the store's apply observer: it forgets ended leases and wakes
// the queue of every pool that may have a free seat now.
func (s *Service) Observe(cmd *ledger.Command, res ledger.Result) {
	if cmd.Type == ledger.CmdBatch {
		for i := range cmd.Batch {
			if i < len(res.Batch) {
				s.Observe(&cmd.Batch[i], res.Batch[i])
			}
		}
		return
	}
	if len(res.Ended) > 0 {
		s.mu.Lock()
		for _, e := range res.Ended {
			delete(s.lastSeen, e.ID)
		}
		s.mu.Unlock()
		for _, e := range res.Ended {
			s.queues.kick(poolKey{e.Account, e.Feature})
		}
	}
	if cmd.Type == ledger.CmdSetPool && res.Error == nil && ledger.PayloadOf[ledger.SetPool](cmd) != nil {
		s.queues.kick(poolKey{ledger.PayloadOf[ledger.SetPool](cmd).Account, ledger.PayloadOf[ledger.SetPool](cmd).Feature})
	}
}

// Waiting lists the queued checkouts, for administrators.
func (s *Service) Waiting() []Waiter { return s.queues.list() }

// RunReaper reclaims, while this node leads, every lease whose horizon plus
// skew has passed. The ledger re-checks each lease at apply time, so a lease
// renewed between the scan and the commit survives (S3).
func (s *Service) RunReaper(ctx context.Context) {
	store.EveryWhileLeading(ctx, s.cfg.ReapInterval, s.store.IsLeader, s.reap)
}

// reap reclaims the leases due now, and raises the reminders due.
func (s *Service) reap(ctx context.Context) {
	var due []uint64
	now := s.now()
	s.store.Read(func(st *ledger.State) { due = st.ReclaimDue(now) })
	s.remind(ctx, now)
	if len(due) == 0 {
		return
	}
	res, err := s.propose(ctx, ledger.Command{Type: ledger.CmdReclaim, Payload: &ledger.Reclaim{Leases: due}})
	if err != nil {
		s.log.Warn("reaper could not reclaim expired leases", "count", len(due), "err", err)
		return
	}
	for _, e := range res.Ended {
		s.log.Info("reclaimed lease", "lease", e.ID, "account", e.Account, "feature", e.Feature, "device", e.Device, "reason", e.Reason)
	}
}
