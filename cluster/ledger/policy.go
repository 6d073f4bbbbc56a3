package ledger

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Policy limits (README policy table). They keep an administrator's typo from
// making every agent heartbeat every millisecond or pinning seats for years.
const (
	MinLeaseTTL          = time.Second
	MaxLeaseTTL          = 24 * time.Hour
	MinHeartbeatInterval = 200 * time.Millisecond
	MaxHeartbeatInterval = 10 * time.Minute
	MaxLinger            = 24 * time.Hour
	MaxIdle              = 7 * 24 * time.Hour
	MaxBorrowDays        = 90
	// SoftCapSeats is the pool size from which the seat cap is soft.
	SoftCapSeats = 10
	// OverageGrace is how long a soft-capped pool may stay over its seats
	// before new grants stop.
	OverageGrace = 30 * 24 * time.Hour
	// ReminderEvery is how often an overage reminder event is raised.
	ReminderEvery = 24 * time.Hour
	maxEvents     = 1000
)

// Policy is an administrator's floating policy for an account (Feature
// empty) or one pool. A zero field inherits: pool policy, then account
// policy, then the cluster Settings / built-in default.
type Policy struct {
	LeaseTTL          time.Duration `json:"lease_ttl,omitempty"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
	// IdleTimeout releases a lease whose application reported no activity
	// (SDK Activity) for this long. The agent enforces it.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// MaxCheckout ends a lease this long after it was granted: its horizon
	// never passes Since+MaxCheckout.
	MaxCheckout time.Duration `json:"max_checkout,omitempty"`
	// Linger keeps a released seat with its device this long; the same
	// device checking out again gets the same lease back.
	Linger time.Duration `json:"linger,omitempty"`
	// BorrowDays is the longest offline borrow; zero forbids borrowing.
	BorrowDays int `json:"borrow_days,omitempty"`
	// NodeLocked is, in a mixed account, how many of the pool's seats are
	// node-locked; the rest float. Standard accounts lock every seat.
	NodeLocked int `json:"node_locked,omitempty"`
	// Overage is how far a soft-capped pool (≥ SoftCapSeats) may go over
	// its seats; zero means a tenth of the seats, at least one.
	Overage int `json:"overage,omitempty"`
	// Reserve keeps seats for a user, device or team.
	Reserve []Reservation `json:"reserve,omitempty"`
	// TeamCaps caps how many seats one team may hold.
	TeamCaps map[string]int `json:"team_caps,omitempty"`
	// Allow and Deny are "user:NAME", "device:CODE" or "team:NAME" entries.
	// A deny match refuses; a non-empty allow list refuses everyone else.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// SeatBasis is what one seat covers: "device", "member" or
	// "node-locked" (seatbasis.go); empty inherits, and the account's model
	// decides at the top. MemberDevices caps a member's devices under the
	// member basis (zero: no cap).
	SeatBasis     string `json:"seat_basis,omitempty"`
	MemberDevices int    `json:"member_devices,omitempty"`
}

// Reservation keeps Seats seats of a pool for one principal.
type Reservation struct {
	Kind  string `json:"kind"` // user, device or team
	Name  string `json:"name"`
	Seats int    `json:"seats"`
}

func validPrincipal(kind string) bool {
	return kind == "user" || kind == "device" || kind == "team"
}

// Validate checks a policy against the limits, naming the offending field.
func (p *Policy) Validate() error {
	if p.LeaseTTL != 0 && (p.LeaseTTL < MinLeaseTTL || p.LeaseTTL > MaxLeaseTTL) {
		return fmt.Errorf("lease_ttl %v is outside %v..%v", p.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	}
	if p.HeartbeatInterval != 0 && (p.HeartbeatInterval < MinHeartbeatInterval || p.HeartbeatInterval > MaxHeartbeatInterval) {
		return fmt.Errorf("heartbeat_interval %v is outside %v..%v", p.HeartbeatInterval, MinHeartbeatInterval, MaxHeartbeatInterval)
	}
	if p.IdleTimeout < 0 || p.IdleTimeout > MaxIdle {
		return fmt.Errorf("idle_timeout %v is outside 0..%v", p.IdleTimeout, MaxIdle)
	}
	if p.MaxCheckout < 0 || (p.MaxCheckout > 0 && p.MaxCheckout < MinLeaseTTL) {
		return fmt.Errorf("max_checkout %v must be 0 (none) or at least %v", p.MaxCheckout, MinLeaseTTL)
	}
	if p.Linger < 0 || p.Linger > MaxLinger {
		return fmt.Errorf("linger %v is outside 0..%v", p.Linger, MaxLinger)
	}
	if p.BorrowDays < 0 || p.BorrowDays > MaxBorrowDays {
		return fmt.Errorf("borrow_days %d is outside 0..%d", p.BorrowDays, MaxBorrowDays)
	}
	if p.NodeLocked < 0 || p.Overage < 0 {
		return fmt.Errorf("node_locked and overage must not be negative")
	}
	if err := p.validateBasis(); err != nil {
		return err
	}
	for _, r := range p.Reserve {
		if !validPrincipal(r.Kind) || r.Name == "" || r.Seats <= 0 {
			return fmt.Errorf("reservation %s:%s=%d needs kind user, device or team, a name and a positive seat count", r.Kind, r.Name, r.Seats)
		}
	}
	for team, n := range p.TeamCaps {
		if team == "" || n < 0 {
			return fmt.Errorf("team cap %q=%d needs a team name and a non-negative cap", team, n)
		}
	}
	for _, e := range append(append([]string{}, p.Allow...), p.Deny...) {
		kind, name, ok := strings.Cut(e, ":")
		if !ok || !validPrincipal(kind) || name == "" {
			return fmt.Errorf("list entry %q must be user:NAME, device:CODE or team:NAME", e)
		}
	}
	return nil
}

// merge lays over on top of p: every non-zero field of over wins.
func (p Policy) merge(over *Policy) Policy {
	if over == nil {
		return p
	}
	if over.LeaseTTL != 0 {
		p.LeaseTTL = over.LeaseTTL
	}
	if over.HeartbeatInterval != 0 {
		p.HeartbeatInterval = over.HeartbeatInterval
	}
	if over.IdleTimeout != 0 {
		p.IdleTimeout = over.IdleTimeout
	}
	if over.MaxCheckout != 0 {
		p.MaxCheckout = over.MaxCheckout
	}
	if over.Linger != 0 {
		p.Linger = over.Linger
	}
	if over.BorrowDays != 0 {
		p.BorrowDays = over.BorrowDays
	}
	if over.NodeLocked != 0 {
		p.NodeLocked = over.NodeLocked
	}
	if over.Overage != 0 {
		p.Overage = over.Overage
	}
	if over.Reserve != nil {
		p.Reserve = over.Reserve
	}
	if over.TeamCaps != nil {
		p.TeamCaps = over.TeamCaps
	}
	if over.Allow != nil {
		p.Allow = over.Allow
	}
	if over.Deny != nil {
		p.Deny = over.Deny
	}
	if over.SeatBasis != "" {
		p.SeatBasis = over.SeatBasis
	}
	if over.MemberDevices != 0 {
		p.MemberDevices = over.MemberDevices
	}
	return p
}

// SetPolicy replaces the policy of an account (Feature empty) or a pool.
// SubscriptionEnd, when set on an account policy, moves the account's end
// date; ClearSubscriptionEnd removes it.
type SetPolicy struct {
	Account              string    `json:"account"`
	Feature              string    `json:"feature,omitempty"`
	Policy               Policy    `json:"policy"`
	SubscriptionEnd      time.Time `json:"subscription_end,omitempty"`
	ClearSubscriptionEnd bool      `json:"clear_subscription_end,omitempty"`
}

// Event is something the administrator should hear about, recorded in the
// ledger so that every node agrees; daemon/notify mails it.
type Event struct {
	Seq     uint64    `json:"seq"`
	Kind    string    `json:"kind"` // overage_started, overage_reminder, overage_ended
	Account string    `json:"account"`
	Feature string    `json:"feature"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// policyBook holds policies and events; it is part of State.
type policyBook struct {
	Policies map[string]*Policy `json:"policies"` // "account" or "account/feature"
	Events   []Event            `json:"events"`
	NextSeq  uint64             `json:"next_event_seq"`
}

func policyKey(account, feature string) string {
	if feature == "" {
		return account
	}
	return account + "/" + feature
}

// EffectivePolicy is the policy that applies to a pool (feature may be empty
// for the account-wide view), with defaults filled in.
func (s *State) EffectivePolicy(account, feature string) Policy {
	p := Policy{LeaseTTL: s.settings.LeaseTTL, HeartbeatInterval: s.settings.HeartbeatInterval}
	if acct := s.accounts[account]; acct != nil {
		p.SeatBasis = defaultBasis(acct.Model)
	}
	if s.pol.Policies == nil {
		return p
	}
	p = p.merge(s.pol.Policies[policyKey(account, "")])
	if feature != "" {
		if acct := s.accounts[account]; acct != nil {
			if pool := acct.Pools[feature]; pool != nil && pool.LeaseTTL != 0 {
				p.LeaseTTL = pool.LeaseTTL
			}
		}
		p = p.merge(s.pol.Policies[policyKey(account, feature)])
	}
	return p
}

// StoredPolicy is the policy set exactly at one scope, without inheritance.
func (s *State) StoredPolicy(account, feature string) (Policy, bool) {
	p, ok := s.pol.Policies[policyKey(account, feature)]
	if !ok {
		return Policy{}, false
	}
	return *p, true
}

// Events lists the recorded administrator events of an account (all when
// account is empty) with Seq > after.
func (s *State) Events(account string, after uint64) []Event {
	var out []Event
	for _, e := range s.pol.Events {
		if e.Seq > after && (account == "" || e.Account == account) {
			out = append(out, e)
		}
	}
	return out
}

func (s *State) setPolicy(now time.Time, c *SetPolicy) Result {
	acct, ok := s.accounts[c.Account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", c.Account)
	}
	if c.Feature != "" {
		if _, ok := acct.Pools[c.Feature]; !ok {
			return fail(protocol.CodeUnknownFeature, "account %s has no pool %q", c.Account, c.Feature)
		}
		if !c.SubscriptionEnd.IsZero() || c.ClearSubscriptionEnd {
			return fail(protocol.CodeInvalidArgument, "the subscription end is set per account, not per pool")
		}
	}
	if err := c.Policy.Validate(); err != nil {
		return fail(protocol.CodeInvalidArgument, "%v", err)
	}
	if perr := s.checkEntitledPolicy(now, acct, c); perr != nil {
		return Result{Error: perr}
	}
	// An overage on a small pool would be silently ignored: under
	// SoftCapSeats the cap is hard. Say so instead.
	if pool := acct.Pools[c.Feature]; c.Feature != "" && c.Policy.Overage > 0 && pool.Seats < SoftCapSeats {
		return fail(protocol.CodeInvalidArgument, "overage %d refused: %s/%s has %d seats, and a pool under %d seats has a hard cap (no overage); from %d seats the cap is soft and the overage applies",
			c.Policy.Overage, c.Account, c.Feature, pool.Seats, SoftCapSeats, SoftCapSeats)
	}
	p := c.Policy
	p.Allow, p.Deny = slices.Clone(p.Allow), slices.Clone(p.Deny)
	p.Reserve = slices.Clone(p.Reserve)
	if s.since(2) {
		canonicalDevices(&p)
	}
	if s.pol.Policies == nil {
		s.pol.Policies = map[string]*Policy{}
	}
	s.pol.Policies[policyKey(c.Account, c.Feature)] = &p
	switch {
	case c.ClearSubscriptionEnd:
		acct.SubscriptionEnd = time.Time{}
	case !c.SubscriptionEnd.IsZero():
		acct.SubscriptionEnd = c.SubscriptionEnd
		// No token outlives the subscription: pull horizons in. Tokens
		// already out keep their exp, so seats stay counted until it (S3).
	}
	if o := s.org(c.Account, false); o != nil && (c.ClearSubscriptionEnd || !c.SubscriptionEnd.IsZero()) {
		// One end date: the members' subscription period follows it.
		o.Subscription.End = acct.SubscriptionEnd
	}
	return Result{}
}

func (s *State) addEvent(now time.Time, kind, account, feature, msg string) {
	s.pol.NextSeq++
	s.pol.Events = append(s.pol.Events, Event{Seq: s.pol.NextSeq, Kind: kind, Account: account, Feature: feature, At: now, Message: msg})
	if len(s.pol.Events) > maxEvents {
		s.pol.Events = dropFront(s.pol.Events, len(s.pol.Events)-maxEvents)
	}
}

// principalMatches reports whether a checkout's requester is kind:name. The
// user is the authenticated member (signins.go), and a team matches when it
// is the one the checkout named or one the member is in, so that leaving
// out --team does not dodge a team's rules.
func (s *State) principalMatches(kind, name string, c *Checkout) bool {
	switch kind {
	case "user":
		return c.User != "" && NormalizeEmail(c.User) == NormalizeEmail(name)
	case "device":
		return c.Device == s.deviceCode(name)
	case "team":
		return (c.Team != "" && c.Team == name) || slices.Contains(s.memberTeams(c.Account, c.User), name)
	}
	return false
}

func (s *State) leaseMatches(kind, name string, l *Lease) bool {
	switch kind {
	case "user":
		return l.User != "" && NormalizeEmail(l.User) == NormalizeEmail(name)
	case "device":
		return l.Device == s.deviceCode(name)
	case "team":
		return s.leaseInTeam(l, name)
	}
	return false
}

func (s *State) listMatches(list []string, c *Checkout) (string, bool) {
	for _, e := range list {
		kind, name, _ := strings.Cut(e, ":")
		if s.principalMatches(kind, name, c) {
			return e, true
		}
	}
	return "", false
}

// canonicalDevices rewrites the device:CODE entries of a policy into the
// Device Code form the ledger stores (protocol.CanonicalDeviceCode), so that
// a code typed in lower case or with O for 0 matches.
func canonicalDevices(p *Policy) {
	for _, list := range [][]string{p.Allow, p.Deny} {
		for i, e := range list {
			if kind, name, ok := strings.Cut(e, ":"); ok && kind == "device" {
				list[i] = "device:" + protocol.CanonicalDeviceCode(name)
			}
		}
	}
	for i := range p.Reserve {
		if p.Reserve[i].Kind == "device" {
			p.Reserve[i].Name = protocol.CanonicalDeviceCode(p.Reserve[i].Name)
		}
	}
}

// checkTeamCaps refuses a checkout whose team, named or the member's,
// holds its cap of the pool's seats.
func (s *State) checkTeamCaps(acct *Account, pool *Pool, p *Policy, c *Checkout, leases map[uint64]*Lease) *protocol.Error {
	// The caps of the named team and of every team the member is in.
	teams := s.memberTeams(acct.ID, c.User)
	if c.Team != "" && !slices.Contains(teams, c.Team) {
		teams = append([]string{c.Team}, teams...)
	}
	for _, team := range teams {
		limit, ok := p.TeamCaps[team]
		if !ok {
			continue
		}
		n := 0
		for _, l := range leases {
			if s.leaseInTeam(l, team) {
				n++
			}
		}
		if n >= limit {
			return protocol.Errorf(protocol.CodeTeamCapReached, "team %s already holds %d of its cap of %d seats of %s/%s", team, n, limit, acct.ID, pool.Feature)
		}
	}
	return nil
}

// reservedForOthers counts the seats reserved for others and not yet used
// by them: they are not free for c.
func (s *State) reservedForOthers(p *Policy, c *Checkout, leases map[uint64]*Lease) int {
	reserved := 0
	for _, r := range p.Reserve {
		if s.principalMatches(r.Kind, r.Name, c) {
			continue
		}
		used := 0
		for _, l := range leases {
			if s.leaseMatches(r.Kind, r.Name, l) {
				used++
			}
		}
		if used < r.Seats {
			reserved += r.Seats - used
		}
	}
	return reserved
}

// capacity is how many leases a pool may hold: its seats under the hard cap,
// seats plus the overage under the soft cap.
func capacity(pool *Pool, p *Policy) int {
	if pool.Seats < SoftCapSeats {
		return pool.Seats
	}
	over := p.Overage
	if over == 0 {
		over = (pool.Seats + 9) / 10
	}
	return pool.Seats + over
}

// admit decides, under the pool's policy, whether a new lease may be granted
// to c when inUse leases hold seats. It returns the kind of lease to grant.
func (s *State) admit(now time.Time, acct *Account, pool *Pool, p *Policy, c *Checkout, leases map[uint64]*Lease) (LeaseKind, *protocol.Error) {
	if perr := s.checkTeamClaim(acct.ID, c); perr != nil {
		return "", perr
	}
	if e, ok := s.listMatches(p.Deny, c); ok {
		return "", protocol.Errorf(protocol.CodePolicyDenied, "%s is on the deny list of %s/%s", e, acct.ID, pool.Feature)
	}
	if len(p.Allow) > 0 {
		if _, ok := s.listMatches(p.Allow, c); !ok {
			return "", protocol.Errorf(protocol.CodePolicyDenied, "device %s (user %q, team %q) is not on the allow list of %s/%s", c.Device, c.User, c.Team, acct.ID, pool.Feature)
		}
	}
	// Counting the seats walks every lease of the pool (several leases can
	// share one seat), and the count can only change the answer near the
	// pool's limit or under a per-member device cap: the pool's lease count
	// bounds it from above, and below the limits no bound changes a
	// decision (seatDecision).
	memberCap := p.SeatBasis == BasisMember && c.User != "" && p.MemberDevices > 0
	inUse, joins := 0, false
	if memberCap {
		var perr *protocol.Error
		if inUse, joins, perr = s.seatUse(now, p, c, leases); perr != nil {
			return "", perr
		}
	}
	if perr := s.checkTeamCaps(acct, pool, p, c, leases); perr != nil {
		return "", perr
	}
	reserved := s.reservedForOthers(p, c, leases)
	limit := capacity(pool, p)
	if !memberCap {
		if inUse = len(leases); seatDecision(now, acct, pool, inUse, false, reserved, limit) != nil {
			inUse, joins, _ = s.seatUse(now, p, c, leases)
		}
	}
	if perr := seatDecision(now, acct, pool, inUse, joins, reserved, limit); perr != nil {
		return "", perr
	}
	kind := KindFloating
	locked := 0
	switch acct.Model {
	case ModelStandard:
		locked = pool.Seats + limit // every seat
	case ModelMixed:
		locked = p.NodeLocked
	}
	if locked > 0 {
		n := 0
		for _, l := range leases {
			if l.Kind == KindNodeLocked {
				n++
			}
		}
		if n < locked {
			kind = KindNodeLocked
		}
	}
	return kind, nil
}

// seatDecision refuses a new lease to a pool whose inUse seats (plus those
// reserved for others) reach its limit, unless the checkout joins a seat
// already held, or whose soft-cap overage outlasted its grace. It only
// grows stricter as inUse grows and never refuses for joins: so when it
// admits with inUse at an upper bound and joins false, it admits with the
// exact count too.
func seatDecision(now time.Time, acct *Account, pool *Pool, inUse int, joins bool, reserved, limit int) *protocol.Error {
	if pool.Seats >= SoftCapSeats && !pool.OverSince.IsZero() && !now.Before(pool.OverSince.Add(OverageGrace)) && inUse >= pool.Seats {
		return protocol.Errorf(protocol.CodeOverageExpired, "%s/%s has been over its %d seats since %s, past the 30-day grace: no new grants until it is back under its seats or more are bought", acct.ID, pool.Feature, pool.Seats, pool.OverSince.UTC().Format(time.RFC3339))
	}
	if !joins && inUse+reserved >= limit {
		msg := fmt.Sprintf("all %d seats of %s in account %s are in use", pool.Seats, pool.Feature, acct.ID)
		if reserved > 0 {
			msg = fmt.Sprintf("no unreserved seat of %s in account %s: %d in use, %d reserved for others, %d allowed", pool.Feature, acct.ID, inUse, reserved, limit)
		}
		return protocol.Errorf(protocol.CodeNoSeat, "%s", msg)
	}
	return nil
}

// checkTeamClaim holds the team a checkout names to the account's members:
// when the account manages teams in Tally, the team must exist and the
// checkout's user must be in it, so nobody takes a seat reserved for (or
// dodges the cap of) a team by naming it. An account without teams keeps
// team names as the application's own labels.
func (s *State) checkTeamClaim(account string, c *Checkout) *protocol.Error {
	if c.Team == "" {
		return nil
	}
	o := s.org(account, false)
	if o == nil || len(o.Teams) == 0 {
		return nil
	}
	if _, ok := o.Teams[c.Team]; !ok {
		return protocol.Errorf(protocol.CodePolicyDenied, "account %s has no team %q", account, c.Team)
	}
	if c.User == "" {
		return protocol.Errorf(protocol.CodePolicyDenied, "a checkout for team %s must name its user", c.Team)
	}
	u := o.Users[NormalizeEmail(c.User)]
	if u == nil || !slices.Contains(u.Teams, c.Team) {
		return protocol.Errorf(protocol.CodePolicyDenied, "user %s is not a member of team %s in account %s", c.User, c.Team, account)
	}
	return nil
}

// trackOverage records when a soft-capped pool went over its seats, raises
// a reminder event at most daily while it stays over, and clears the mark
// when it is back under.
func (s *State) trackOverage(now time.Time, acct *Account, pool *Pool) {
	if pool.Seats < SoftCapSeats {
		pool.OverSince = time.Time{}
		return
	}
	inUse := len(s.byPool[poolKey{acct.ID, pool.Feature}])
	switch {
	case inUse > pool.Seats && pool.OverSince.IsZero():
		pool.OverSince = now
		pool.LastReminder = now
		s.addEvent(now, "overage_started", acct.ID, pool.Feature, fmt.Sprintf("%s/%s is over its %d seats (%d in use); new grants stop on %s unless seats are added or freed", acct.ID, pool.Feature, pool.Seats, inUse, now.Add(OverageGrace).UTC().Format(time.DateOnly)))
	case inUse > pool.Seats && !now.Before(pool.LastReminder.Add(ReminderEvery)):
		pool.LastReminder = now
		s.addEvent(now, "overage_reminder", acct.ID, pool.Feature, fmt.Sprintf("%s/%s is still over its %d seats (%d in use) since %s", acct.ID, pool.Feature, pool.Seats, inUse, pool.OverSince.UTC().Format(time.RFC3339)))
	case inUse <= pool.Seats && !pool.OverSince.IsZero():
		pool.OverSince = time.Time{}
		pool.LastReminder = time.Time{}
		s.addEvent(now, "overage_ended", acct.ID, pool.Feature, fmt.Sprintf("%s/%s is back within its %d seats", acct.ID, pool.Feature, pool.Seats))
	}
}

// PendingReminders lists soft-capped pools that are over their seats and
// whose next daily reminder is due at now, for the notifier.
func (s *State) PendingReminders(now time.Time) []Event {
	var out []Event
	for _, a := range s.accounts {
		for _, p := range a.Pools {
			if !p.OverSince.IsZero() && !now.Before(p.LastReminder.Add(ReminderEvery)) {
				out = append(out, Event{Kind: "overage_reminder", Account: a.ID, Feature: p.Feature, At: now,
					Message: fmt.Sprintf("%s/%s over its %d seats since %s", a.ID, p.Feature, p.Seats, p.OverSince.UTC().Format(time.RFC3339))})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Account < out[j].Account || (out[i].Account == out[j].Account && out[i].Feature < out[j].Feature)
	})
	return out
}

// remind is the reaper's daily tick: it records due reminders as events.
func (s *State) remind(now time.Time) Result {
	for _, e := range s.PendingReminders(now) {
		if acct := s.accounts[e.Account]; acct != nil {
			if pool := acct.Pools[e.Feature]; pool != nil {
				s.trackOverage(now, acct, pool)
			}
		}
	}
	return Result{}
}

// trackEnded updates the overage mark of every pool that lost leases.
func (s *State) trackEnded(now time.Time, ended []EndedLease) {
	seen := map[poolKey]bool{}
	for _, e := range ended {
		pk := poolKey{e.Account, e.Feature}
		if seen[pk] {
			continue
		}
		seen[pk] = true
		if acct := s.accounts[e.Account]; acct != nil {
			if pool := acct.Pools[e.Feature]; pool != nil {
				s.trackOverage(now, acct, pool)
			}
		}
	}
}
