package agent

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// errEnrolling answers requests that need the cluster before enrollment is done.
var errEnrolling = protocol.Errorf(protocol.CodeUnavailable, "the agent is still enrolling this device")

// retryBackoff spaces the retries of one request after transport failures.
var retryBackoff = client.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}

// loop heartbeats the held leases and refreshes the server list until ctx
// ends. The first round runs at once, so that cached leases are confirmed
// (or dropped) right after a restart.
func (a *agent) loop(ctx context.Context) {
	go a.enforcePolicy(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var serversFetched time.Time // real time, not the device clock: this is scheduling
	var signInsChecked time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
			// A new lease: plan the next heartbeat around it.
			timer.Stop()
			timer.Reset(a.nextHeartbeat())
			continue
		case <-timer.C:
		}
		switch {
		case a.heldCount() > 0:
			_ = a.heartbeat(ctx)
			signInsChecked = time.Now()
		case a.signInCount() > 0 && time.Since(signInsChecked) >= signInCheckInterval:
			// Nothing to renew: ask now and then whether the sign-ins
			// still stand, without keeping an idle agent connected.
			if a.heartbeat(ctx) == nil {
				signInsChecked = time.Now()
			}
		}
		if serversFetched.IsZero() || time.Since(serversFetched) >= ServersRefreshInterval {
			if err := a.refreshServers(ctx); err == nil {
				serversFetched = time.Now()
			} else if ctx.Err() == nil {
				a.log.Warn("cannot fetch the server list", "err", err)
			}
		}
		timer.Reset(a.nextHeartbeat())
	}
}

// nextHeartbeat is the server's interval, but never later than a third of
// the remaining life of the soonest-expiring lease: whatever the interval,
// a lease gets at least two chances to be renewed before its token runs out.
func (a *agent) nextHeartbeat() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := a.interval
	if !a.recheckAt.IsZero() {
		next = min(next, time.Until(a.recheckAt))
	}
	now := a.now()
	for _, l := range a.leases {
		if l.Kind == "borrowed" || l.Kind == "node-locked" {
			continue
		}
		if left := l.Expires.Sub(now) / 3; left < next {
			next = left
		}
	}
	return clampInterval(next)
}

// poke asks the heartbeat loop to re-plan without blocking.
func (a *agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *agent) heldCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.leases)
}

// signInCheckInterval is how often an agent holding sign-ins but no lease
// asks whether they still stand (the answer also records it as seen).
const signInCheckInterval = time.Minute

func (a *agent) signInCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.signins)
}

// heartbeat renews every held lease in one request and applies the answer.
func (a *agent) heartbeat(ctx context.Context) error {
	c := a.client.Load()
	if c == nil {
		return errEnrolling
	}
	a.mu.Lock()
	refs := make([]protocol.LeaseRef, 0, len(a.leases))
	for _, l := range a.leases {
		refs = append(refs, protocol.LeaseRef{ID: l.ID, Feature: l.Feature})
	}
	signIns := a.signInIDsLocked()
	a.mu.Unlock()
	if len(refs) == 0 && len(signIns) == 0 {
		return nil
	}
	slices.SortFunc(refs, func(x, y protocol.LeaseRef) int {
		return cmp.Or(strings.Compare(x.Feature, y.Feature), cmp.Compare(x.ID, y.ID))
	})

	qctx, qcancel := context.WithTimeout(ctx, datagramBudget)
	quick := a.quickHeartbeat(qctx, c, refs, signIns)
	qcancel()
	if quick {
		a.heartbeatSucceeded()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var resp protocol.HeartbeatResponse
	err := c.Do(ctx, protocol.TypeHeartbeat, newRequestID(), protocol.HeartbeatRequest{Leases: refs, SignIns: signIns, AgentVersion: Version(), Datagrams: true}, &resp)
	if err != nil {
		if protocol.CodeOf(err).Temporary() {
			c.Failover()
		}
		a.refusedByCluster(err)
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			a.log.Warn("heartbeat failed", "leases", len(refs), "err", err)
		}
		return err
	}
	a.applyHeartbeat(&resp)
	a.dropSignIns(resp.SignedOut)
	a.heartbeatSucceeded()
	return nil
}

// heartbeatSucceeded clears the device's problems after a heartbeat the
// cluster answered, and saves the lease cache.
func (a *agent) heartbeatSucceeded() {
	a.mu.Lock()
	a.problem = ""
	a.refusals, a.recheckAt = nil, time.Time{}
	a.mu.Unlock()
	a.persist()
}

// Refusals of the device itself are acted on only once confirmed: a server
// that has just restarted may answer from a ledger it has not finished
// replaying (older servers did, and a damaged or misconfigured node might),
// and dropping leases on its word alone would free seats the device still
// uses. A refusal counts once it has been received refusalConfirmations
// more times, each at least refusalConfirmGap after the previous one.
const (
	refusalConfirmations = 2
	refusalConfirmGap    = 2 * time.Second
)

// refusedByCluster handles the cluster's authoritative refusals of the
// device itself: an administrator removed it (not_enrolled), another key
// holds its Device Code (device_conflict), or its certificate is refused.
// Its leases were revoked with it, so once the refusal is confirmed the
// cached tokens are dropped rather than served offline, and status reports
// the problem until a heartbeat succeeds again.
func (a *agent) refusedByCluster(err error) {
	switch protocol.CodeOf(err) {
	case protocol.CodeNotEnrolled, protocol.CodeDeviceConflict, protocol.CodeCertificateRefused:
	default:
		return
	}
	now := time.Now() // real time: this spaces retries, it is not lease time
	a.mu.Lock()
	if n := len(a.refusals); n == 0 || now.Sub(a.refusals[n-1]) >= refusalConfirmGap {
		a.refusals = append(a.refusals, now)
	}
	if len(a.refusals) <= refusalConfirmations {
		seen := len(a.refusals)
		a.recheckAt = now.Add(refusalConfirmGap)
		a.mu.Unlock()
		a.log.Warn("the cluster refused this device; asking again before dropping its leases (a server that just restarted may not know it yet)",
			"err", err, "seen", seen, "needed", refusalConfirmations+1)
		a.poke()
		return
	}
	first := a.problem == ""
	a.problem = err.Error()
	a.recheckAt = time.Time{}
	dropped := len(a.leases)
	clear(a.leases)
	a.mu.Unlock()
	if first {
		a.log.Error("the cluster refuses this device; its leases are dropped (enroll it again with a fresh enrollment token once an administrator allows it)",
			"err", err, "dropped_leases", dropped)
	}
	a.persist()
}

func (a *agent) applyHeartbeat(resp *protocol.HeartbeatResponse) {
	a.mu.Lock()
	a.observeServerTimeLocked(resp.ServerTime)
	if resp.Interval > 0 {
		a.interval = clampInterval(resp.Interval.D())
	}
	if resp.Policy != nil {
		a.policy = *resp.Policy
	}
	a.lastHeartbeat = a.now()
	byID := make(map[uint64]string, len(a.leases))
	for k, l := range a.leases {
		byID[l.ID] = k
	}
	type lost struct {
		feature string
		id      uint64
		err     *protocol.Error
	}
	var dropped []lost
	for _, st := range resp.Leases {
		key, ok := byID[st.ID]
		if !ok {
			continue // released or replaced while the heartbeat was in flight
		}
		switch st.State {
		case protocol.LeaseLost:
			dropped = append(dropped, lost{a.leases[key].Feature, st.ID, st.Error})
			delete(a.leases, key)
			delete(a.activity, key)
		case protocol.LeaseHeld:
			l := a.leases[key]
			if st.Token != "" {
				l.Token = st.Token
			}
			if !st.Expires.IsZero() {
				l.Expires = st.Expires
			}
			a.leases[key] = l
		}
	}
	a.mu.Unlock()

	for _, d := range dropped {
		code, msg := protocol.Code("unknown"), "the server no longer counts this lease"
		if d.err != nil {
			code, msg = d.err.Code, d.err.Message
		}
		a.log.Warn("lease lost", "feature", d.feature, "lease_id", d.id, "code", string(code), "reason", msg)
	}
	a.learnServers(resp.Servers)
}

func (a *agent) refreshServers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c := a.client.Load()
	if c == nil {
		return errEnrolling
	}
	var resp protocol.ServersResponse
	if err := c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{AgentVersion: Version()}, &resp); err != nil {
		return err
	}
	if resp.Interval > 0 {
		a.mu.Lock()
		a.interval = clampInterval(resp.Interval.D())
		a.mu.Unlock()
	}
	a.learnServers(resp.Servers)
	a.learnJWKS(resp.JWKS)
	a.persist()
	return nil
}

// learnJWKS keeps the cluster's public keys (in memory and in jwks.json) for
// applications to verify tokens with. A document that does not parse is
// ignored: the previous keys stay.
func (a *agent) learnJWKS(doc []byte) {
	if len(doc) == 0 {
		return
	}
	if _, err := lease.ParseKeySet(doc); err != nil {
		a.log.Warn("ignoring a malformed JWKS from the cluster", "err", err)
		return
	}
	a.mu.Lock()
	same := bytes.Equal(a.jwks, doc)
	a.jwks = bytes.Clone(doc)
	a.mu.Unlock()
	if same {
		return
	}
	if err := a.dir.SaveJWKS(doc); err != nil {
		a.log.Error("cannot save the JWKS", "err", err)
	}
	a.log.Info("lease-signing keys updated")
}

// knowsKey reports whether the cached JWKS has the key token was signed with.
func (a *agent) knowsKey(token string) bool {
	a.mu.Lock()
	doc := a.jwks
	a.mu.Unlock()
	if len(doc) == 0 {
		return false
	}
	ks, err := lease.ParseKeySet(doc)
	if err != nil {
		return false
	}
	_, kid, err := lease.ParseUnverified(token)
	return err == nil && slices.Contains(ks.KeyIDs(), kid)
}

// recordActivity notes that an application is using its lease on feature.
func (a *agent) recordActivity(osUser, feature string) (time.Time, error) {
	if err := validateFeature(feature); err != nil {
		return time.Time{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := a.keysOfLocked(osUser, feature)
	if len(keys) == 0 {
		return time.Time{}, protocol.Errorf(protocol.CodeLeaseNotFound, "this device holds no lease on %q for you", feature)
	}
	now := a.now()
	for _, k := range keys {
		a.activity[k] = now
	}
	return now, nil
}

// lastActivity is when an application last reported activity on a held
// lease (zero when never since the lease was taken).
func (a *agent) lastActivity(key string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.activity[key]
}

// observeServerTimeLocked moves the clock high-water mark forward.
func (a *agent) observeServerTimeLocked(t time.Time) {
	if t.After(a.serverTime) {
		a.serverTime = t
	}
}

// checkClock refuses to serve tokens when the device clock is more than
// MaxClockRollback behind the latest server time seen.
func (a *agent) checkClock() error {
	a.mu.Lock()
	mark := a.serverTime
	a.mu.Unlock()
	if mark.IsZero() {
		return nil
	}
	now := a.now()
	behind := mark.Sub(now)
	if behind <= MaxClockRollback {
		return nil
	}
	a.log.Warn("device clock went back; refusing to serve lease tokens", "behind", behind.Round(time.Second), "server_time", mark)
	return protocol.Errorf(CodeClockRollback,
		"the device clock went back by %s: it reads %s but the cluster's time was already %s; refusing to serve lease tokens until the clock is corrected",
		behind.Round(time.Second), now.UTC().Format(time.RFC3339), mark.UTC().Format(time.RFC3339))
}

// call sends one request, retrying transport failures and temporary refusals
// with the same request ID (so a retried checkout takes effect once). A
// request that cannot reach the cluster fails with CodeUnavailable.
func (a *agent) call(ctx context.Context, typ protocol.Type, reqID string, body, out any) error {
	c := a.client.Load()
	if c == nil {
		return errEnrolling
	}
	var last error
	for attempt := 1; ; attempt++ {
		err := c.Do(ctx, typ, reqID, body, out)
		if err == nil {
			return nil
		}
		last = err
		var pe *protocol.Error
		if errors.As(err, &pe) {
			if !pe.Code.Temporary() || attempt >= maxAttempts {
				return pe
			}
			c.Failover()
		} else if attempt >= maxAttempts || ctx.Err() != nil {
			break
		}
		a.log.Debug("retrying request", "type", typ, "id", reqID, "attempt", attempt, "err", err)
		if !retryBackoff.Sleep(ctx, attempt) {
			break
		}
	}
	return protocol.Errorf(protocol.CodeUnavailable, "no tallyd server reachable: %v", last)
}

// lockFeature serialises checkouts and releases of one feature, so that two
// applications asking at once do not take two seats.
func (a *agent) lockFeature(ctx context.Context, key string) (unlock func(), err error) {
	feature, _, _ := strings.Cut(key, "\x00")
	a.mu.Lock()
	ch := a.featureLocks[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		a.featureLocks[key] = ch
	}
	a.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.CodeTimeout, "gave up waiting for another request on %q", feature)
	}
}

func (a *agent) held(key string) (protocol.Lease, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.leases[key]
	return l, ok
}

// leaseKey is everything that makes one lease different from another on
// this device: the OS user it is held for, the feature, the signed-in
// member, the team and the borrow asked for. A checkout that differs in any
// of them is a new request, never another caller's cached lease. The
// feature comes first, so that lockFeature can name it.
func leaseKey(osUser, feature, member, team string, borrow protocol.Duration) string {
	return strings.Join([]string{feature, osUser, member, team, borrow.D().String()}, "\x00")
}

func keyOfLease(l protocol.Lease) string {
	return leaseKey(l.OSUser, l.Feature, l.Member, l.Team, l.Borrow)
}

// keysOfLocked lists the keys of the leases on feature osUser may use:
// their own and the device's; a.mu is held.
func (a *agent) keysOfLocked(osUser, feature string) []string {
	var out []string
	for k, l := range a.leases {
		if l.Feature == feature && (l.OSUser == osUser || l.OSUser == "") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// checkout returns osUser's lease on feature, asking the cluster only when
// the agent holds none that matches the request: same member (osUser's
// sign-in), team and borrow.
func (a *agent) checkout(ctx context.Context, osUser, feature string, wait time.Duration, more ...func(*protocol.CheckoutRequest)) (protocol.Lease, error) {
	if err := validateFeature(feature); err != nil {
		return protocol.Lease{}, err
	}
	if wait < 0 || wait > maxWait {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeBadRequest, "wait must be between 0 and %s", maxWait)
	}
	req := protocol.CheckoutRequest{Feature: feature, Wait: protocol.Duration(wait)}
	for _, f := range more {
		f(&req)
	}
	// Without a sign-in the lease is the device's (an account that does not
	// manage members): any OS user of the device shares it, as before
	// members existed. A signed-in member's lease is their OS user's alone.
	si, signedIn := a.signInOf(osUser)
	owner, member := "", ""
	if signedIn {
		req.Credential, owner, member = si.Credential, osUser, si.Email
	}
	key := leaseKey(owner, feature, member, req.Team, req.Borrow)
	unlock, err := a.lockFeature(ctx, key)
	if err != nil {
		return protocol.Lease{}, err
	}
	defer unlock()

	if l, ok := a.held(key); ok {
		if err := a.checkClock(); err != nil {
			return protocol.Lease{}, err
		}
		if a.now().Before(l.Expires) {
			return l, nil
		}
		// The token ran out without a heartbeat renewing it: ask the cluster
		// whether the lease still stands before taking a new seat.
		hctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := a.heartbeat(hctx)
		cancel()
		if err != nil {
			if pe := (*protocol.Error)(nil); errors.As(err, &pe) {
				return protocol.Lease{}, pe
			}
			return protocol.Lease{}, protocol.Errorf(protocol.CodeUnavailable,
				"the lease on %q expired at %s and no tallyd server is reachable to renew it: %v",
				feature, l.Expires.UTC().Format(time.RFC3339), err)
		}
		if l, ok := a.held(key); ok {
			if err := a.checkClock(); err != nil {
				return protocol.Lease{}, err
			}
			if a.now().Before(l.Expires) {
				return l, nil
			}
			return protocol.Lease{}, protocol.Errorf(protocol.CodeLeaseExpired,
				"the lease on %q expired at %s and the cluster did not renew it", feature, l.Expires.UTC().Format(time.RFC3339))
		}
		// Lost: take a new seat below.
	}

	ctx, cancel := context.WithTimeout(ctx, wait+requestTimeout)
	defer cancel()
	var resp protocol.CheckoutResponse
	if err := a.call(ctx, protocol.TypeCheckout, newRequestID(), req, &resp); err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotSignedIn && signedIn {
			// The cluster ended this sign-in: forget it, so that whoami and
			// the next checkout say so without asking.
			a.dropSignIns([]string{si.SignInID})
		}
		return protocol.Lease{}, err
	}
	l := resp.Lease
	if l.Feature == "" {
		l.Feature = feature
	}
	if l.Feature != feature {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeInternal,
			"asked for a lease on %q, the server granted one on %q (lease %d)", feature, l.Feature, l.ID)
	}
	l.OSUser, l.Team, l.Borrow = owner, req.Team, req.Borrow
	if l.Member == "" {
		l.Member = member
	}
	key = keyOfLease(l)
	a.mu.Lock()
	a.leases[key] = l
	delete(a.activity, key)
	a.observeServerTimeLocked(l.Since)
	if resp.Interval > 0 {
		a.interval = clampInterval(resp.Interval.D())
	}
	a.mu.Unlock()
	a.persist()
	a.poke()
	a.log.Info("lease checked out", "feature", feature, "lease_id", l.ID, "member", l.Member, "os_user", osUser, "expires", l.Expires)
	if !a.knowsKey(l.Token) {
		// A key the agent has not seen (first checkout, or a rotation):
		// fetch the JWKS now so that the application can verify the token.
		if err := a.refreshServers(ctx); err != nil {
			a.log.Warn("cannot fetch the cluster's JWKS", "err", err)
		}
	}
	if err := a.checkClock(); err != nil {
		return protocol.Lease{}, err
	}
	return l, nil
}

// release gives osUser's leases on feature back to the cluster; another
// OS user's leases are not theirs to release.
func (a *agent) release(ctx context.Context, osUser, feature string) (protocol.Lease, error) {
	if err := validateFeature(feature); err != nil {
		return protocol.Lease{}, err
	}
	a.mu.Lock()
	keys := a.keysOfLocked(osUser, feature)
	a.mu.Unlock()
	if len(keys) == 0 {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeLeaseNotFound, "this device holds no lease on %q for you", feature)
	}
	var last protocol.Lease
	for _, k := range keys {
		l, err := a.releaseKey(ctx, k)
		if err != nil {
			return protocol.Lease{}, err
		}
		last = l
	}
	return last, nil
}

// releaseKey gives one held lease back.
func (a *agent) releaseKey(ctx context.Context, key string) (protocol.Lease, error) {
	unlock, err := a.lockFeature(ctx, key)
	if err != nil {
		return protocol.Lease{}, err
	}
	defer unlock()
	l, ok := a.held(key)
	feature := l.Feature
	if !ok {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeLeaseNotFound, "the lease was already given back")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err = a.call(ctx, protocol.TypeRelease, newRequestID(), protocol.ReleaseRequest{LeaseID: l.ID}, nil)
	switch protocol.CodeOf(err) {
	case "":
		if err != nil {
			return protocol.Lease{}, err
		}
	case protocol.CodeLeaseNotFound, protocol.CodeNotHolder, protocol.CodeLeaseExpired, protocol.CodeLeaseRevoked:
		// The cluster no longer counts the seat as ours: nothing left to give back.
		a.log.Info("released lease was already gone on the server", "feature", feature, "lease_id", l.ID, "err", err)
	default:
		return protocol.Lease{}, err
	}
	a.mu.Lock()
	if cur, ok := a.leases[key]; ok && cur.ID == l.ID {
		delete(a.leases, key)
		delete(a.activity, key)
	}
	a.mu.Unlock()
	a.persist()
	a.log.Info("lease released", "feature", feature, "lease_id", l.ID)
	return l, nil
}

// releaseAll gives back every held lease (in parallel, bounded by
// ReleaseTimeout). Released leases leave the cache; a lease the cluster could
// not be told about stays in it, so that an agent restarted within the
// lease's horizon (a reboot while the server is unreachable) serves it again
// at once. Its seat frees on the server when the horizon passes anyway.
func (a *agent) releaseAll() {
	a.mu.Lock()
	held := make([]protocol.Lease, 0, len(a.leases))
	for _, l := range a.leases {
		held = append(held, l)
	}
	a.mu.Unlock()
	kept := make(chan protocol.Lease, len(held))
	if c := a.client.Load(); c != nil && len(held) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
		var wg sync.WaitGroup
		for _, l := range held {
			wg.Go(func() {
				err := c.Do(ctx, protocol.TypeRelease, newRequestID(), protocol.ReleaseRequest{LeaseID: l.ID}, nil)
				switch protocol.CodeOf(err) {
				case "":
					if err != nil {
						a.log.Warn("lease not released; keeping it cached until its horizon passes",
							"feature", l.Feature, "lease_id", l.ID, "expires", l.Expires, "err", err)
						kept <- l
						return
					}
				case protocol.CodeLeaseNotFound, protocol.CodeNotHolder, protocol.CodeLeaseExpired, protocol.CodeLeaseRevoked:
				default:
					a.log.Warn("lease not released; its seat frees when its horizon passes",
						"feature", l.Feature, "lease_id", l.ID, "err", err)
					if protocol.CodeOf(err).Temporary() {
						kept <- l
					}
					return
				}
				a.log.Info("lease released", "feature", l.Feature, "lease_id", l.ID)
			})
		}
		wg.Wait()
		cancel()
	} else {
		for _, l := range held {
			kept <- l
		}
	}
	close(kept)
	a.mu.Lock()
	clear(a.leases)
	now := a.now()
	for l := range kept {
		if now.Before(l.Expires) {
			a.leases[keyOfLease(l)] = l
		}
	}
	a.mu.Unlock()
	a.persist()
}

// persist writes the lease cache. Writes are ordered: a later write always
// carries a later snapshot.
func (a *agent) persist() {
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	a.mu.Lock()
	c := &state.Cache{ServerTime: a.serverTime, Servers: slices.Clone(a.learned), Leases: make([]protocol.Lease, 0, len(a.leases))}
	for _, l := range a.leases {
		c.Leases = append(c.Leases, l)
	}
	a.mu.Unlock()
	sortLeases(c.Leases)
	if err := a.dir.SaveCache(c); err != nil {
		a.log.Error("cannot save the lease cache", "err", err)
	}
}

func sortLeases(ls []protocol.Lease) {
	slices.SortFunc(ls, func(x, y protocol.Lease) int { return strings.Compare(x.Feature, y.Feature) })
}

func validateFeature(f string) error {
	if f == "" {
		return protocol.Errorf(protocol.CodeBadRequest, "feature is required")
	}
	if len(f) > 200 {
		return protocol.Errorf(protocol.CodeBadRequest, "feature name is longer than 200 bytes")
	}
	if strings.IndexFunc(f, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return protocol.Errorf(protocol.CodeBadRequest, "feature %q contains spaces or control characters", f)
	}
	return nil
}
