package ledger

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// How long the ledger remembers applied request IDs and ended leases. Both
// are pruned deterministically against command time, oldest first.
const (
	RequestMemory   = 15 * time.Minute
	TombstoneMemory = time.Hour
	// maxTombstones bounds memory when a storm ends many leases at once.
	maxTombstones = 200_000
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID reports whether s may be used as an account ID, feature name or
// Device Code: 1 to 64 characters of letters, digits, '.', '_' and '-'.
func ValidID(s string) bool { return idPattern.MatchString(s) }

type poolKey struct{ account, feature string }

type requestRecord struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Result Result    `json:"result"`
	// Owner and Digest say who sent the request and what it asked
	// (idempotency.go); a reuse must match both.
	Owner  string `json:"owner,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// State is the ledger. It is not safe for concurrent use: the store applies
// commands one at a time and serialises readers against Apply.
type State struct {
	clusterID   string
	settings    Settings
	accounts    map[string]*Account
	devices     map[DeviceRef]*Device
	leases      map[uint64]*Lease
	nextLeaseID uint64
	keys        map[string]*SigningKey
	nodes       map[string]*Node
	adminTokens map[string]*AdminToken
	enrollTok   map[string]*EnrollToken
	lic         *licenseBook
	pol         policyBook
	mem         *memberBook
	signins     *signInBook
	audit       auditLog
	notified    map[string]*NotificationClaim
	brake       brakeBook // sign-in failures (brake.go)
	ven         *vendorBook

	// Idempotency and tombstones, in application order for pruning.
	requests     map[string]*requestRecord
	requestOrder []string
	ended        map[uint64]EndedLease
	endedOrder   []uint64

	// Derived indexes, rebuilt on restore.
	byPool   map[poolKey]map[uint64]*Lease
	byDevice map[DeviceRef]map[uint64]*Lease
	// seatScratch is seatUse's set of a pool's devices, kept between
	// grants (emptied each time) so that a grant into a large pool does
	// not allocate and grow a set of its size: scratch space of Apply,
	// which holds the write lock, and never part of the state.
	seatScratch map[string]struct{}

	// lastNow is the latest command time applied; reads use it when they
	// need the ledger's own notion of time.
	lastNow time.Time
	// appliedIndex is the Raft index of the last applied entry.
	appliedIndex uint64
	// adminReqs are the idempotency keys of admin writes, by caller and
	// key, in claim order (admin_requests.go).
	adminReqs     map[string]*AdminRequestRecord
	adminReqOrder []string
	// format is the log format of the entry being applied (log.go), set
	// by apply for each command: what changed meaning between formats
	// asks it (since).
	format int
}

// New returns an empty ledger.
func New() *State {
	s := &State{}
	s.reset()
	return s
}

func (s *State) reset() {
	s.clusterID = ""
	s.settings = DefaultSettings()
	s.accounts = map[string]*Account{}
	s.devices = map[DeviceRef]*Device{}
	s.leases = map[uint64]*Lease{}
	s.nextLeaseID = 1
	s.keys = map[string]*SigningKey{}
	s.nodes = map[string]*Node{}
	s.adminTokens = map[string]*AdminToken{}
	s.enrollTok = map[string]*EnrollToken{}
	s.lic = newLicenseBook()
	s.pol = policyBook{Policies: map[string]*Policy{}}
	s.mem = &memberBook{orgs: map[string]*Org{}}
	s.signins = newSignInBook()
	s.audit = auditLog{}
	s.notified = map[string]*NotificationClaim{}
	s.brake = brakeBook{}
	s.adminReqs, s.adminReqOrder = map[string]*AdminRequestRecord{}, nil
	s.ven = newVendorBook()
	s.requests = map[string]*requestRecord{}
	s.requestOrder = nil
	s.ended = map[uint64]EndedLease{}
	s.endedOrder = nil
	s.byPool = map[poolKey]map[uint64]*Lease{}
	s.byDevice = map[DeviceRef]map[uint64]*Lease{}
	s.lastNow = time.Time{}
	s.appliedIndex = 0
}

// Apply applies one command at Raft index idx and returns its result. It is
// deterministic: the same sequence of commands yields the same state and
// results on every node.
func (s *State) Apply(idx uint64, c *Command) Result {
	if idx > s.appliedIndex {
		s.appliedIndex = idx
	}
	return s.apply(c)
}

func (s *State) apply(c *Command) Result {
	s.format = c.Format
	if s.format == 0 {
		s.format = LogFormat
	}
	if c.Now.After(s.lastNow) {
		s.lastNow = c.Now
	}
	s.prune(c.Now)
	if c.RequestID != "" {
		if rec, ok := s.requests[c.RequestID]; ok {
			r, _ := s.checkReplay(rec, c)
			return r
		}
	}
	r := s.dispatch(c)
	s.record(c, r)
	// Only successes are remembered: a refusal changed nothing, so applying
	// the same request again is harmless, and a queued checkout retried
	// under its request ID must get a fresh decision, not the old no_seat.
	if c.RequestID != "" && c.Type != CmdBatch && r.Error == nil {
		s.requests[c.RequestID] = &requestRecord{ID: c.RequestID, At: c.Now, Result: r.clone(), Owner: requestOwner(c), Digest: requestDigest(c)}
		s.requestOrder = append(s.requestOrder, c.RequestID)
	}
	return r
}

func fail(code protocol.Code, format string, args ...any) Result {
	return Result{Error: protocol.Errorf(code, format, args...)}
}

// since reports whether the entry being applied is of log format v or
// newer: rules added in format v apply only to such entries, so that an
// older entry means what it meant to the release that wrote it.
func (s *State) since(v int) bool { return s.format >= v }

// ClusterLogFormat is the newest log format every registered node reads:
// the format the leader writes. A cluster with no node registered yet
// (bootstrapping) writes the newest.
func (s *State) ClusterLogFormat() int {
	f := LogFormat
	for _, n := range s.nodes {
		f = min(f, max(n.LogFormat, 1))
	}
	return f
}

func (s *State) removeNode(_ time.Time, r *RemoveNode) Result {
	if _, ok := s.nodes[r.ID]; !ok {
		return fail(protocol.CodeNotFound, "no node %q", r.ID)
	}
	delete(s.nodes, r.ID)
	return Result{}
}

func (s *State) prune(now time.Time) {
	s.pruneAudit(now)
	s.pruneNotifications(now)
	s.pruneAdminRequests(now)
	s.pruneDenials(now)
	cut := now.Add(-RequestMemory)
	n := 0
	for n < len(s.requestOrder) {
		rec := s.requests[s.requestOrder[n]]
		if rec != nil && !rec.At.Before(cut) {
			break
		}
		delete(s.requests, s.requestOrder[n])
		n++
	}
	if n > 0 {
		s.requestOrder = dropFront(s.requestOrder, n)
	}
	cut = now.Add(-TombstoneMemory)
	n = 0
	for n < len(s.endedOrder) {
		e, ok := s.ended[s.endedOrder[n]]
		if ok && !e.At.Before(cut) && len(s.endedOrder)-n <= maxTombstones {
			break
		}
		delete(s.ended, s.endedOrder[n])
		n++
	}
	if n > 0 {
		s.endedOrder = dropFront(s.endedOrder, n)
	}
}

func (s *State) bootstrap(now time.Time, b *Bootstrap) Result {
	if s.clusterID != "" {
		if s.clusterID == b.ClusterID {
			return Result{}
		}
		return fail(protocol.CodeAlreadyExists, "cluster is already bootstrapped as %q", s.clusterID)
	}
	if b.ClusterID == "" {
		return fail(protocol.CodeInvalidArgument, "bootstrap needs a cluster ID")
	}
	if err := b.Settings.Validate(); err != nil {
		return fail(protocol.CodeInvalidArgument, "%v", err)
	}
	s.clusterID = b.ClusterID
	s.settings = b.Settings
	if b.AdminToken != nil {
		if r := s.createAdminToken(now, b.AdminToken); r.Error != nil {
			return r
		}
	}
	return Result{}
}

// Validate checks settings for values that would make leases unsafe or useless.
func (st Settings) Validate() error {
	switch {
	case st.LeaseTTL < time.Second:
		return fmt.Errorf("lease TTL %v is below the 1s minimum", st.LeaseTTL)
	case st.HeartbeatInterval <= 0:
		return fmt.Errorf("heartbeat interval must be positive, got %v", st.HeartbeatInterval)
	case st.HeartbeatInterval*2 > st.LeaseTTL:
		return fmt.Errorf("heartbeat interval %v must be at most half the lease TTL %v, or a single lost heartbeat loses the seat", st.HeartbeatInterval, st.LeaseTTL)
	case st.MaxSkew < 0:
		return fmt.Errorf("max skew must not be negative, got %v", st.MaxSkew)
	}
	return nil
}

func (s *State) setSettings(_ time.Time, st *Settings) Result {
	if err := st.Validate(); err != nil {
		return fail(protocol.CodeInvalidArgument, "%v", err)
	}
	s.settings = *st
	return Result{}
}

func (s *State) registerKey(now time.Time, k *SigningKey) Result {
	if k.KeyID == "" || len(k.PublicKey) == 0 {
		return fail(protocol.CodeInvalidArgument, "signing key needs a key ID and a public key")
	}
	if old, ok := s.keys[k.KeyID]; ok {
		if string(old.PublicKey) != string(k.PublicKey) {
			return fail(protocol.CodeAlreadyExists, "key ID %s is registered with another public key", k.KeyID)
		}
		if len(k.Certificate) > 0 {
			// A key registered before certificates existed gets one.
			old.Certificate = k.Certificate
		}
		return Result{}
	}
	c := *k
	c.Added = now
	s.keys[k.KeyID] = &c
	return Result{}
}

func (s *State) registerNode(now time.Time, n *Node) Result {
	if !ValidID(n.ID) || n.RaftAddr == "" {
		return fail(protocol.CodeInvalidArgument, "a node needs a valid ID and a Raft address")
	}
	c := *n
	c.Updated = now
	s.nodes[n.ID] = &c
	return Result{}
}

func (s *State) createAdminToken(now time.Time, t *AdminToken) Result {
	if t.ID == "" || t.Hash == "" {
		return fail(protocol.CodeInvalidArgument, "admin token needs an ID and a hash")
	}
	if _, ok := s.adminTokens[t.ID]; ok {
		return fail(protocol.CodeAlreadyExists, "admin token %s already exists", t.ID)
	}
	if r := s.checkTokenScope(t); r.Error != nil {
		return r
	}
	if t.Session != "" {
		if r := s.checkSession(t); r.Error != nil {
			return r
		}
	}
	s.pruneSessions(now)
	c := *t
	c.Created = now
	s.adminTokens[t.ID] = &c
	return Result{}
}

func (s *State) revokeAdminToken(_ time.Time, r *RevokeAdminToken) Result {
	t, ok := s.adminTokens[r.ID]
	if !ok {
		return fail(protocol.CodeNotFound, "no admin token %s", r.ID)
	}
	if t.Session != "" {
		delete(s.adminTokens, r.ID) // a signed-out session needs no tombstone
		return Result{}
	}
	t.Revoked = true
	return Result{}
}

func (s *State) createAccount(now time.Time, a *CreateAccount) Result {
	if !ValidID(a.ID) {
		return fail(protocol.CodeInvalidArgument, "account ID %q must be 1-64 letters, digits, '.', '_' or '-'", a.ID)
	}
	if _, ok := s.accounts[a.ID]; ok {
		return fail(protocol.CodeAlreadyExists, "account %s already exists", a.ID)
	}
	model := a.Model
	if model == "" {
		model = ModelFloating
	}
	if !model.Valid() {
		return fail(protocol.CodeInvalidArgument, "unknown licensing model %q (want standard, floating or mixed)", a.Model)
	}
	name := a.Name
	if name == "" {
		name = a.ID
	}
	s.accounts[a.ID] = &Account{
		ID: a.ID, Name: name, AdminEmail: a.AdminEmail, Model: model,
		Created: now, SubscriptionEnd: a.SubscriptionEnd, Pools: map[string]*Pool{},
	}
	return Result{}
}

func (s *State) setPool(now time.Time, p *SetPool) Result {
	acct, ok := s.accounts[p.Account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", p.Account)
	}
	if !ValidID(p.Feature) {
		return fail(protocol.CodeInvalidArgument, "feature name %q must be 1-64 letters, digits, '.', '_' or '-'", p.Feature)
	}
	if p.Seats < 0 {
		return fail(protocol.CodeInvalidArgument, "seats must not be negative, got %d", p.Seats)
	}
	if p.LeaseTTL != 0 && p.LeaseTTL < time.Second {
		return fail(protocol.CodeInvalidArgument, "lease TTL %v is below the 1s minimum", p.LeaseTTL)
	}
	if perr := s.checkEntitledSeats(now, p.Account, p.Feature, p.Seats); perr != nil {
		return Result{Error: perr}
	}
	pool, ok := acct.Pools[p.Feature]
	if !ok {
		acct.Pools[p.Feature] = &Pool{Feature: p.Feature, Seats: p.Seats, LeaseTTL: p.LeaseTTL, Created: now}
		return Result{}
	}
	ended := s.reclaimPool(now, poolKey{p.Account, p.Feature})
	if inUse := len(s.byPool[poolKey{p.Account, p.Feature}]); p.Seats < inUse {
		r := fail(protocol.CodeSeatsInUse, "cannot lower %s/%s to %d seats: %s in use; release or revoke leases first", p.Account, p.Feature, p.Seats, seatCount(inUse))
		r.Ended = ended
		return r
	}
	pool.Seats = p.Seats
	if p.LeaseTTL != 0 {
		pool.LeaseTTL = p.LeaseTTL
	}
	return Result{Ended: ended}
}

func seatCount(n int) string {
	if n == 1 {
		return "1 seat is"
	}
	return fmt.Sprintf("%d seats are", n)
}

func (s *State) createEnrollToken(now time.Time, t *EnrollToken) Result {
	if _, ok := s.accounts[t.Account]; !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", t.Account)
	}
	if t.ID == "" || t.Hash == "" {
		return fail(protocol.CodeInvalidArgument, "enrollment token needs an ID and a hash")
	}
	if _, ok := s.enrollTok[t.ID]; ok {
		return fail(protocol.CodeAlreadyExists, "enrollment token %s already exists", t.ID)
	}
	if !t.Expires.After(now) {
		return fail(protocol.CodeInvalidArgument, "enrollment token would expire at %s, which is not in the future", t.Expires.Format(time.RFC3339))
	}
	if r := checkEnrollLimits(t); r.Error != nil {
		return r
	}
	c := *t
	c.Created = now
	c.Uses = 0
	c.Revoked = false
	s.enrollTok[t.ID] = &c
	return Result{}
}

func (s *State) revokeEnrollToken(_ time.Time, r *RevokeEnrollToken) Result {
	t, ok := s.enrollTok[r.ID]
	if !ok || (r.Account != "" && t.Account != r.Account) {
		return fail(protocol.CodeNotFound, "no enrollment token %s in account %q", r.ID, r.Account)
	}
	t.Revoked = true
	return Result{}
}

// CheckEnrollToken reports whether token id may enroll a device at now.
func (s *State) CheckEnrollToken(id string, now time.Time) (*EnrollToken, *protocol.Error) {
	t, ok := s.enrollTok[id]
	if !ok {
		return nil, protocol.Errorf(protocol.CodeEnrollTokenInvalid, "enrollment token is not known to this cluster")
	}
	if t.Revoked {
		return nil, protocol.Errorf(protocol.CodeEnrollTokenRevoked, "enrollment token %s was revoked", t.ID)
	}
	if !now.Before(t.Expires) {
		return nil, protocol.Errorf(protocol.CodeEnrollTokenExpired, "enrollment token %s expired at %s", t.ID, t.Expires.UTC().Format(time.RFC3339))
	}
	c := *t
	return &c, nil
}

func (s *State) enrollDevice(now time.Time, e *EnrollDevice) Result {
	tok, perr := s.CheckEnrollToken(e.TokenID, now)
	if perr != nil {
		return Result{Error: perr}
	}
	if tok.Account != e.Account {
		return fail(protocol.CodeEnrollTokenInvalid, "enrollment token %s belongs to another account", e.TokenID)
	}
	if !ValidID(e.Code) {
		return fail(protocol.CodeInvalidArgument, "Device Code %q must be 1-64 letters, digits, '.', '_' or '-'", e.Code)
	}
	if e.KeyFingerprint == "" {
		return fail(protocol.CodeInvalidArgument, "enrollment needs the device key's fingerprint")
	}
	ref := DeviceRef{e.Account, e.Code}
	if d, ok := s.devices[ref]; ok {
		if d.KeyFingerprint != e.KeyFingerprint {
			return fail(protocol.CodeDeviceConflict, "Device Code %s is already enrolled in account %s with another key: this may be a cloned device; an administrator must remove the old device before it can enroll again", e.Code, e.Account)
		}
		c := *d
		return Result{Device: &c}
	}
	if r := checkEnrollUse(tok, e.Code); r.Error != nil {
		return r
	}
	d := &Device{Account: e.Account, Code: e.Code, KeyFingerprint: e.KeyFingerprint, Hostname: e.Hostname, Enrolled: now, EnrollTokenID: e.TokenID}
	s.devices[ref] = d
	s.enrollTok[e.TokenID].Uses++
	c := *d
	return Result{Device: &c}
}

func (s *State) ttlFor(account string, pool *Pool, requested time.Duration) time.Duration {
	if requested > 0 {
		return requested
	}
	return s.EffectivePolicy(account, pool.Feature).LeaseTTL
}

// horizonAt caps a horizon at the account's subscription end, so that no
// token outlives the subscription.
func horizonAt(acct *Account, h time.Time) time.Time {
	if !acct.SubscriptionEnd.IsZero() && h.After(acct.SubscriptionEnd) {
		return acct.SubscriptionEnd
	}
	return h
}

func subscriptionOver(acct *Account, now time.Time) bool {
	return !acct.SubscriptionEnd.IsZero() && !now.Before(acct.SubscriptionEnd)
}

// checkoutCounted is the checkout command: a checkout, and a refusal
// counted against the entitlement's denial statistics (entitlements.go).
func (s *State) checkoutCounted(now time.Time, c *Checkout) Result {
	r := s.checkout(now, c)
	if r.Error != nil {
		s.countDenial(now, c, r.Error.Code)
	}
	return r
}

func (s *State) checkout(now time.Time, c *Checkout) Result {
	acct, ok := s.accounts[c.Account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", c.Account)
	}
	if subscriptionOver(acct, now) {
		return fail(protocol.CodeSubscriptionExpired, "the subscription of account %s ended at %s", acct.ID, acct.SubscriptionEnd.UTC().Format(time.RFC3339))
	}
	if s.vendorManaged(acct.ID) {
		if _, perr := s.entitlementFor(acct.ID, c.Feature, now); perr != nil {
			return Result{Error: perr}
		}
	}
	pool, ok := acct.Pools[c.Feature]
	if !ok {
		return fail(protocol.CodeUnknownFeature, "account %s has no seats for feature %q", acct.ID, c.Feature)
	}
	if _, ok := s.devices[DeviceRef{c.Account, c.Device}]; !ok {
		return fail(protocol.CodeNotEnrolled, "device %s is not enrolled in account %s", c.Device, c.Account)
	}
	c, perr := s.checkoutHolder(c)
	if perr != nil {
		return Result{Error: perr}
	}
	pol := s.EffectivePolicy(c.Account, c.Feature)
	ttl := s.ttlFor(c.Account, pool, c.TTL)
	if c.Borrow > 0 {
		if pol.BorrowDays == 0 {
			return fail(protocol.CodePolicyDenied, "borrowing is not allowed for %s/%s (its borrow limit is 0 days)", acct.ID, c.Feature)
		}
		if limit := time.Duration(pol.BorrowDays) * 24 * time.Hour; c.Borrow > limit {
			return fail(protocol.CodeInvalidArgument, "borrow of %v exceeds the %d-day borrow limit of %s/%s", c.Borrow, pol.BorrowDays, acct.ID, c.Feature)
		}
		ttl = c.Borrow
	}
	if r, held := s.checkoutAgain(now, acct, c, &pol, ttl); held {
		return r
	}
	return s.grant(now, acct, pool, &pol, c, ttl)
}

// checkoutAgain answers a device asking again for a feature it holds with
// the same lease: one device never takes two seats of one feature for one
// user. A lingering lease (released under a linger policy) comes back the
// same way.
func (s *State) checkoutAgain(now time.Time, acct *Account, c *Checkout, pol *Policy, ttl time.Duration) (Result, bool) {
	for _, l := range s.byDevice[DeviceRef{c.Account, c.Device}] {
		if l.Feature != c.Feature || !(l.User == c.User || (l.Kind == KindNodeLocked && s.since(2))) || l.Revoked || l.Reusable(now, s.settings.MaxSkew) {
			continue
		}
		// A node-locked seat is the device's: whoever signs in on the
		// device takes it over (and the previous member's token, still
		// valid to its horizon, is for the same seat).
		l.User, l.SignIn, l.Vacant = c.User, c.SignIn, false
		if l.Kind == KindBorrowed && c.Borrow == 0 {
			cp := *l
			return Result{Lease: &cp}, true
		}
		h, perr := s.horizonFor(now, acct, l, pol, ttl)
		if perr != nil {
			return Result{Error: perr}, true
		}
		if h.After(l.Horizon) {
			l.Horizon = h
		}
		l.LingerUntil = time.Time{}
		l.License, l.AddOns = s.licenseClaims(l.Account, l.Feature, l.User)
		cp := *l
		return Result{Lease: &cp}, true
	}
	return Result{}, false
}

// grant gives a checkout a new lease if the pool and its policy admit it.
func (s *State) grant(now time.Time, acct *Account, pool *Pool, pol *Policy, c *Checkout, ttl time.Duration) Result {
	pk := poolKey{c.Account, c.Feature}
	// Expired leases are only swept when they stand in the way: a pool with a
	// free seat grants without scanning its leases.
	var ended []EndedLease
	if len(s.byPool[pk]) >= pool.Seats {
		ended = s.reclaimPool(now, pk)
	}
	kind, perr := s.admit(now, acct, pool, pol, c, s.byPool[pk])
	if perr != nil && len(pol.Reserve) > 0 && ended == nil {
		// Reservations can refuse below the seat count: sweep and retry.
		if ended = s.reclaimPool(now, pk); ended != nil {
			kind, perr = s.admit(now, acct, pool, pol, c, s.byPool[pk])
		}
	}
	if perr != nil {
		return Result{Error: perr, Ended: ended}
	}
	if c.Borrow > 0 {
		kind = KindBorrowed
	}
	l := &Lease{
		ID: s.nextLeaseID, Account: c.Account, Feature: c.Feature, Device: c.Device, User: c.User, Team: c.Team,
		Kind: kind, Since: now, SignIn: c.SignIn,
	}
	l.Horizon, _ = s.horizonFor(now, acct, l, pol, ttl)
	l.License, l.AddOns = s.licenseClaims(c.Account, c.Feature, c.User)
	s.nextLeaseID++
	s.insertLease(l)
	s.trackOverage(now, acct, pool)
	cp := *l
	return Result{Lease: &cp, Ended: ended}
}

// horizonFor is now+ttl capped by the subscription end and the pool's
// maximum checkout duration counted from the lease's grant.
func (s *State) horizonFor(now time.Time, acct *Account, l *Lease, pol *Policy, ttl time.Duration) (time.Time, *protocol.Error) {
	h, perr := s.grantEntitlement(now, l, horizonAt(acct, now.Add(ttl)))
	if perr != nil {
		return l.Horizon, perr
	}
	if pol.MaxCheckout > 0 && l.Kind != KindNodeLocked && l.Kind != KindBorrowed {
		end := l.Since.Add(pol.MaxCheckout)
		if !now.Before(end) {
			return l.Horizon, protocol.Errorf(protocol.CodeMaxCheckout, "lease %d reached the %v maximum checkout duration of %s/%s", l.ID, pol.MaxCheckout, l.Account, l.Feature)
		}
		if h.After(end) {
			h = end
		}
	}
	return h, nil
}

func (s *State) insertLease(l *Lease) {
	s.leases[l.ID] = l
	pk := poolKey{l.Account, l.Feature}
	if s.byPool[pk] == nil {
		s.byPool[pk] = map[uint64]*Lease{}
	}
	s.byPool[pk][l.ID] = l
	dr := DeviceRef{l.Account, l.Device}
	if s.byDevice[dr] == nil {
		s.byDevice[dr] = map[uint64]*Lease{}
	}
	s.byDevice[dr][l.ID] = l
}

// endLease removes a lease and leaves a tombstone.
func (s *State) endLease(now time.Time, l *Lease, why EndReason) EndedLease {
	delete(s.leases, l.ID)
	pk := poolKey{l.Account, l.Feature}
	delete(s.byPool[pk], l.ID)
	if len(s.byPool[pk]) == 0 {
		delete(s.byPool, pk)
	}
	dr := DeviceRef{l.Account, l.Device}
	delete(s.byDevice[dr], l.ID)
	if len(s.byDevice[dr]) == 0 {
		delete(s.byDevice, dr)
	}
	e := EndedLease{ID: l.ID, Account: l.Account, Feature: l.Feature, Device: l.Device, Reason: why, At: now}
	s.ended[l.ID] = e
	s.endedOrder = append(s.endedOrder, l.ID)
	return e
}

// reclaimPool ends every lease of a pool whose seat is reusable at now. The
// result is sorted by lease ID so that it is the same on every node.
func (s *State) reclaimPool(now time.Time, pk poolKey) []EndedLease {
	var due []*Lease
	for _, l := range s.byPool[pk] {
		if l.Reusable(now, s.settings.MaxSkew) {
			due = append(due, l)
		}
	}
	return s.endAll(now, due)
}

func (s *State) endAll(now time.Time, due []*Lease) []EndedLease {
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].ID < due[j].ID })
	out := make([]EndedLease, 0, len(due))
	for _, l := range due {
		why := EndExpired
		if l.Revoked {
			why = EndRevoked
		}
		out = append(out, s.endLease(now, l, why))
	}
	return out
}

// goneError explains why a lease is not in the ledger.
func (s *State) goneError(id uint64) *protocol.Error {
	e, ok := s.ended[id]
	if !ok {
		return protocol.Errorf(protocol.CodeLeaseNotFound, "lease %d is not known to the cluster", id)
	}
	switch e.Reason {
	case EndRevoked:
		return protocol.Errorf(protocol.CodeLeaseRevoked, "lease %d was revoked by an administrator", id)
	case EndExpired:
		return protocol.Errorf(protocol.CodeLeaseExpired, "lease %d expired at its horizon and its seat was reclaimed at %s", id, e.At.UTC().Format(time.RFC3339))
	}
	return protocol.Errorf(protocol.CodeLeaseNotFound, "lease %d was %s at %s", id, e.Reason, e.At.UTC().Format(time.RFC3339))
}

func (s *State) renew(now time.Time, r *Renew) Result {
	out := Result{Renewed: make([]RenewResult, 0, len(r.Leases))}
	acct := s.accounts[r.Account]
	for _, id := range r.Leases {
		l, ok := s.leases[id]
		switch {
		case !ok:
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: s.goneError(id)})
		case l.Account != r.Account || l.Device != r.Device:
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: protocol.Errorf(protocol.CodeNotHolder, "lease %d is held by another device", id)})
		case l.Revoked:
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: protocol.Errorf(protocol.CodeLeaseRevoked, "lease %d was revoked by an administrator", id)})
		case l.Vacant:
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: vacantError(l)})
		case l.Reusable(now, s.settings.MaxSkew):
			out.Ended = append(out.Ended, s.endLease(now, l, EndExpired))
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: s.goneError(id)})
		case acct != nil && subscriptionOver(acct, now):
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: protocol.Errorf(protocol.CodeSubscriptionExpired, "the subscription of account %s ended at %s", acct.ID, acct.SubscriptionEnd.UTC().Format(time.RFC3339))})
		default:
			ttl := r.TTL
			if pool := s.poolOf(l); pool != nil {
				ttl = s.ttlFor(l.Account, pool, r.TTL)
			} else if ttl == 0 {
				ttl = s.settings.LeaseTTL
			}
			if !l.LingerUntil.IsZero() {
				// Released under linger: it waits for its device to check
				// out again, heartbeats do not keep it.
				out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: protocol.Errorf(protocol.CodeLeaseLingering, "lease %d was released and lingers until %s", id, l.LingerUntil.UTC().Format(time.RFC3339))})
				continue
			}
			if l.Kind == KindBorrowed {
				// Borrowed leases are not renewable: the horizon stays.
				cp := *l
				out.Renewed = append(out.Renewed, RenewResult{ID: id, Lease: &cp})
				continue
			}
			h := now.Add(ttl)
			if acct != nil {
				pol := s.EffectivePolicy(l.Account, l.Feature)
				var perr *protocol.Error
				if h, perr = s.horizonFor(now, acct, l, &pol, ttl); perr != nil {
					out.Renewed = append(out.Renewed, RenewResult{ID: id, Error: perr})
					continue
				}
			}
			if h.After(l.Horizon) {
				l.Horizon = h
			}
			// A renewed token carries the add-ons the license has now.
			l.License, l.AddOns = s.licenseClaims(l.Account, l.Feature, l.User)
			cp := *l
			out.Renewed = append(out.Renewed, RenewResult{ID: id, Lease: &cp})
		}
	}
	s.trackEnded(now, out.Ended)
	return out
}

func (s *State) poolOf(l *Lease) *Pool {
	if a := s.accounts[l.Account]; a != nil {
		return a.Pools[l.Feature]
	}
	return nil
}

func (s *State) release(now time.Time, r *Release) Result {
	l, ok := s.leases[r.LeaseID]
	if !ok {
		return Result{Error: s.goneError(r.LeaseID)}
	}
	if l.Account != r.Account || l.Device != r.Device {
		return fail(protocol.CodeNotHolder, "lease %d is held by another device; a stale release changes nothing", r.LeaseID)
	}
	if l.Kind == KindNodeLocked {
		// A node-locked seat stays with the device; only an administrator
		// frees it.
		cp := *l
		return Result{Lease: &cp}
	}
	if linger := s.EffectivePolicy(l.Account, l.Feature).Linger; linger > 0 && l.Kind == KindFloating && !l.Revoked {
		if l.LingerUntil.IsZero() {
			l.LingerUntil = now.Add(linger)
			if l.LingerUntil.After(l.Horizon) {
				l.Horizon = l.LingerUntil
				if acct := s.accounts[l.Account]; acct != nil {
					l.Horizon = horizonAt(acct, l.Horizon)
				}
			}
		}
		cp := *l
		return Result{Lease: &cp}
	}
	cp := *l
	ended := s.endLease(now, l, EndReleased)
	if acct := s.accounts[l.Account]; acct != nil {
		if pool := acct.Pools[l.Feature]; pool != nil {
			s.trackOverage(now, acct, pool)
		}
	}
	return Result{Lease: &cp, Ended: []EndedLease{ended}}
}

func (s *State) revoke(now time.Time, r *Revoke) Result {
	l, ok := s.leases[r.LeaseID]
	if !ok {
		return Result{Error: s.goneError(r.LeaseID)}
	}
	if !l.Revoked {
		l.Revoked = true
		l.RevokedAt = now
	}
	cp := *l
	return Result{Lease: &cp}
}

func (s *State) reclaim(now time.Time, r *Reclaim) Result {
	var due []*Lease
	seen := make(map[uint64]bool, len(r.Leases))
	for _, id := range r.Leases {
		if l, ok := s.leases[id]; ok && !seen[id] && l.Reusable(now, s.settings.MaxSkew) {
			seen[id] = true
			due = append(due, l)
		}
	}
	ended := s.endAll(now, due)
	s.trackEnded(now, ended)
	return Result{Ended: ended}
}

// dropFront removes the first n elements of a bounded, append-only list
// (audit records, request and tombstone order, policy events) without
// copying the rest: once such a list is at its cap every command drops one
// element, and copying the remaining 100,000 audit records on each apply
// made a 50,000-device release storm quadratic (41 % of tallyd's CPU in
// pruneAudit, plus the GC of the copies; TestPruningAtTheCapCopiesNothing).
// The dropped prefix stays in the backing array until the next append
// outgrows it and moves the live elements (amortised O(1) per element), so
// memory stays within the list's cap plus growth headroom. Elements are
// never written in place, so a slice a reader took earlier stays as it was.
func dropFront[T any](s []T, n int) []T {
	if n <= 0 {
		return s
	}
	return s[n:]
}
