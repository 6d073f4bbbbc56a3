package ledger

import (
	"time"
)

// Model is an account's licensing model (DESIGN.md §4).
type Model string

const (
	ModelStandard Model = "standard" // node-locked
	ModelFloating Model = "floating"
	ModelMixed    Model = "mixed"
)

// Valid reports whether m names a known model.
func (m Model) Valid() bool {
	switch m {
	case ModelStandard, ModelFloating, ModelMixed:
		return true
	}
	return false
}

// LeaseKind mirrors the token's kind claim.
type LeaseKind string

const (
	KindFloating   LeaseKind = "floating"
	KindBorrowed   LeaseKind = "borrowed"
	KindNodeLocked LeaseKind = "node-locked"
)

// Settings are cluster-wide parameters that influence Apply, so they live in
// the ledger rather than in each node's configuration: two nodes with
// different flags must still agree on when a seat may be reused.
type Settings struct {
	// MaxSkew is the clock skew allowance added to a horizon before its seat
	// may be reused (S3).
	MaxSkew time.Duration `json:"max_skew"`
	// LeaseTTL is the default horizon extension of a floating lease.
	LeaseTTL time.Duration `json:"lease_ttl"`
	// HeartbeatInterval is what agents are told to use.
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	// AuditRetention is how long audit records are kept; zero means
	// DefaultAuditRetention (audit.go).
	AuditRetention time.Duration `json:"audit_retention,omitempty"`
}

// DefaultSettings suit a site of devices heartbeating every 30 s: a dead
// device's seat comes back within about five and a half minutes, and a
// heartbeat moves the horizon through Raft only every couple of minutes.
func DefaultSettings() Settings {
	return Settings{
		MaxSkew:           30 * time.Second,
		LeaseTTL:          5 * time.Minute,
		HeartbeatInterval: 30 * time.Second,
	}
}

// Account is an organisation or enterprise account.
type Account struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	AdminEmail string    `json:"admin_email,omitempty"`
	Model      Model     `json:"model"`
	Created    time.Time `json:"created"`
	// SubscriptionEnd is when every license of the account expires; zero
	// means no end date. No grant happens at or after it and no horizon
	// passes it.
	SubscriptionEnd time.Time        `json:"subscription_end,omitempty"`
	Pools           map[string]*Pool `json:"pools"`
}

// Pool is a product's purchased seats in an account.
type Pool struct {
	Feature string `json:"feature"`
	Seats   int    `json:"seats"`
	// LeaseTTL overrides Settings.LeaseTTL for this pool when non-zero.
	LeaseTTL time.Duration `json:"lease_ttl,omitempty"`
	Created  time.Time     `json:"created"`
	// OverSince is when a soft-capped pool went over its seats (zero: not
	// over); LastReminder when the last daily reminder event was raised.
	OverSince    time.Time `json:"over_since,omitempty"`
	LastReminder time.Time `json:"last_reminder,omitempty"`
}

// Device is an enrolled device; (Account, Code) identifies it.
type Device struct {
	Account string `json:"account"`
	Code    string `json:"code"`
	// KeyFingerprint is the SHA-256 of the device's public key. A second
	// machine presenting the same Device Code with another key is refused.
	KeyFingerprint string    `json:"key_fingerprint"`
	Hostname       string    `json:"hostname,omitempty"`
	Enrolled       time.Time `json:"enrolled"`
	EnrollTokenID  string    `json:"enroll_token_id,omitempty"`
	// LastSeen is when the device last heartbeated (recorded coarsely, see
	// signins.go) and AgentVersion the agent build it reported.
	LastSeen     time.Time `json:"last_seen,omitempty"`
	AgentVersion string    `json:"agent_version,omitempty"`
}

// DeviceRef names a device.
type DeviceRef struct {
	Account string `json:"account"`
	Code    string `json:"code"`
}

func (d DeviceRef) String() string { return d.Account + "/" + d.Code }

// Lease is a seat of a pool held by one device for one feature.
type Lease struct {
	// ID is the fencing ID: monotonic across the cluster, never reused.
	ID      uint64    `json:"id"`
	Account string    `json:"account"`
	Feature string    `json:"feature"`
	Device  string    `json:"device"`
	User    string    `json:"user,omitempty"`
	Kind    LeaseKind `json:"kind"`
	Since   time.Time `json:"since"`
	// Horizon is the committed horizon: the latest instant up to which the
	// cluster has durably promised the seat to the device (S2).
	Horizon time.Time `json:"horizon"`
	// Revoked leases are no longer renewed, but keep their seat until
	// Horizon + MaxSkew because the device may still hold a valid token.
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitempty"`
	// License is the user's base license the lease was granted under and
	// AddOns its add-on codes at the last grant or renewal (licenses.go);
	// the token carries AddOns.
	License string   `json:"license,omitempty"`
	AddOns  []string `json:"addons,omitempty"`
	// Team is the team the checkout named, for team caps and reservations.
	Team string `json:"team,omitempty"`
	// SignIn is the member sign-in the lease was granted under (signins.go);
	// ending the sign-in revokes the lease.
	SignIn string `json:"sign_in,omitempty"`
	// Vacant marks a node-locked lease whose member left (signed out,
	// removed, or the seat moved to another device): the device keeps the
	// seat for the next member who signs in on it, but the old token is not
	// renewed and agents drop it.
	Vacant bool `json:"vacant,omitempty"`
	// LingerUntil is set when the application released a lease under a
	// linger policy: the seat stays with the device until then and a
	// checkout from the same device takes the lease back.
	LingerUntil time.Time `json:"linger_until,omitempty"`
	// Entitlement is the vendor entitlement ("serial:digest") the lease was
	// last granted or renewed under, carried in the token's ent claim.
	Entitlement string `json:"entitlement,omitempty"`
}

// Reusable reports whether the lease's seat may be given to someone else at
// leader time now (S3).
func (l *Lease) Reusable(now time.Time, skew time.Duration) bool {
	// A node-locked seat stays with its device until an administrator frees
	// or moves it (which revokes it) or the subscription ends.
	if l.Kind == KindNodeLocked && !l.Revoked {
		return false
	}
	return !now.Before(l.Horizon.Add(skew))
}

// EndReason says why a lease ended.
type EndReason string

const (
	EndReleased  EndReason = "released"
	EndExpired   EndReason = "expired"
	EndRevoked   EndReason = "revoked"
	EndReplaced  EndReason = "replaced"
	EndForgotten EndReason = "forgotten"
)

// EndedLease is a tombstone kept for a while so that a device asking about a
// lease that has gone gets the reason (revoked, expired) instead of "unknown".
type EndedLease struct {
	ID      uint64    `json:"id"`
	Account string    `json:"account"`
	Feature string    `json:"feature"`
	Device  string    `json:"device"`
	Reason  EndReason `json:"reason"`
	At      time.Time `json:"at"`
}

// EnrollToken lets devices of one account enroll until it expires or is revoked.
type EnrollToken struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Name    string    `json:"name,omitempty"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
	Uses    int       `json:"uses"`
	// MaxUses is how many devices the token may enroll (enrolltokens.go);
	// 0, in tokens from before limits existed, is unlimited.
	MaxUses int `json:"max_uses,omitempty"`
	// Devices, when set, are the only Device Codes the token may enroll.
	Devices []string `json:"devices,omitempty"`
}

// AdminToken authenticates an administrator on the admin API. Only the hash
// of its secret is stored.
type AdminToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	// Role and Account scope the token (empty role: cluster admin, the
	// role of every token before roles existed).
	Role    string `json:"role,omitempty"`
	Account string `json:"account,omitempty"`
	// Session is the member's email for a console session (sessions.go);
	// Expires ends it. Both are empty for administrators' tokens.
	Session string    `json:"session,omitempty"`
	Expires time.Time `json:"expires,omitempty"`
}

// Node is a tallyd node as the cluster knows it: where Raft, agents and
// administrators reach it. Agents get their failover list from here.
type Node struct {
	ID        string    `json:"id"`
	RaftAddr  string    `json:"raft_addr"`
	AgentAddr string    `json:"agent_addr"`
	AdminAddr string    `json:"admin_addr"`
	Updated   time.Time `json:"updated"`
	// LogFormat is the newest log format the node's tallyd reads; zero for
	// a node of a release before log formats (format 1). The leader writes
	// what every node reads (State.ClusterLogFormat).
	LogFormat int `json:"log_format,omitempty"`
}

// SigningKey is a node's public lease-signing key. Each node signs with its
// own private key, which never enters the log; the JWKS is the set of
// registered public keys, so any node's tokens verify everywhere.
type SigningKey struct {
	KeyID     string    `json:"kid"`
	PublicKey []byte    `json:"public_key"`
	NodeID    string    `json:"node_id"`
	Added     time.Time `json:"added"`
	// Certificate (PEM), issued by the cluster CA, says the key is this
	// cluster's (certs.CA.IssueSigningKey): applications checking a lease
	// against a vendor entitlement follow it from the CA the entitlement
	// binds.
	Certificate []byte `json:"certificate,omitempty"`
}
