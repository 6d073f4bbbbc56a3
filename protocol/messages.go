package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the protocol version this build speaks. A server answers a request
// of another major version with CodeUnsupportedVersion instead of guessing.
const Version = 1

// ALPN is the TLS application protocol negotiated on agent connections; a peer
// that does not offer it is not a Tally agent and is refused during the handshake.
const ALPN = "tally/1"

// Type names a request.
type Type string

const (
	TypeEnroll    Type = "enroll"
	TypeCheckout  Type = "checkout"
	TypeHeartbeat Type = "heartbeat"
	TypeRelease   Type = "release"
	TypeServers   Type = "servers"
	// TypeActivate is "Activate Existing License": a user signs in on an
	// enrolled device and joins the account under its seat policy.
	TypeActivate Type = "activate"
	// TypeLogin signs a member in on this device (signin.go); TypeLogout
	// ends a sign-in and TypeWhoAmI tells who a credential proves.
	TypeLogin  Type = "login"
	TypeLogout Type = "logout"
	TypeWhoAmI Type = "whoami"
	// TypeLoginStart and TypeLoginPoll are the browser-approved sign-in:
	// the agent gets a user code for the member to approve elsewhere, then
	// polls until the approval gives it a credential.
	TypeLoginStart Type = "login_start"
	TypeLoginPoll  Type = "login_poll"
	// TypeEntitlements asks for the device's account's vendor entitlements
	// and the certificates of the cluster's lease-signing keys, which an
	// application needs to check a lease against its entitlement offline.
	TypeEntitlements Type = "entitlements"
)

// EntitlementsResponse answers TypeEntitlements. Entitlements are compact
// JWS signed by the vendor; KeyCerts are PEM certificates, issued by the
// cluster CA, of the lease-signing keys (protocol/entitlement.Bundle).
type EntitlementsResponse struct {
	Entitlements []string `json:"entitlements"`
	KeyCerts     []string `json:"key_certs"`
}

// Request is the envelope of every agent request.
type Request struct {
	V    int  `json:"v"`
	Type Type `json:"type"`
	// ID identifies the request for idempotency: a retried checkout or release
	// with the same ID takes effect once.
	ID   string          `json:"id,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Response is the envelope of every server answer. Exactly one of Error and
// Body is meaningful.
type Response struct {
	V     int             `json:"v"`
	Error *Error          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// EnrollRequest asks for a device certificate. It is the only request accepted
// on a connection without a client certificate.
type EnrollRequest struct {
	Token      string `json:"token"`
	DeviceCode string `json:"device_code"`
	// CSR is a DER-encoded PKCS#10 request signed by the device's own key.
	CSR      []byte `json:"csr"`
	Hostname string `json:"hostname,omitempty"`
}

// EnrollResponse carries the device certificate bound to (account, Device Code).
type EnrollResponse struct {
	Account    string `json:"account"`
	DeviceCode string `json:"device_code"`
	// Certificate is the PEM-encoded device certificate.
	Certificate []byte       `json:"certificate"`
	Servers     []ServerInfo `json:"servers,omitempty"`
}

// CheckoutRequest asks for a seat of Feature for this device.
type CheckoutRequest struct {
	Feature string `json:"feature"`
	// Credential is the member sign-in the seat is for (LoginResponse); the
	// server takes the member from it, never from a name the client sends.
	Credential string `json:"credential,omitempty"`
	// User is ignored: it was a free-text name, and who holds a seat must be
	// proven. Kept so that an older agent's request still decodes.
	User string `json:"user,omitempty"`
	// Wait is how long the server may queue the request when no seat is free.
	// Zero means fail at once with CodeNoSeat.
	Wait Duration `json:"wait,omitempty"`
	// Team, when the application names one, is matched by team caps and
	// team reservations.
	Team string `json:"team,omitempty"`
	// Borrow asks for an offline lease this long (within the pool's borrow
	// limit); its token carries the long expiry and it is not renewed.
	Borrow Duration `json:"borrow,omitempty"`
	// Priority orders waiters: higher first, FIFO within one priority.
	Priority int `json:"priority,omitempty"`
}

// CheckoutResponse carries the granted lease.
type CheckoutResponse struct {
	Lease Lease `json:"lease"`
	// Interval is how often the server wants heartbeats, so that an agent
	// knows it before its first heartbeat.
	Interval Duration `json:"interval,omitempty"`
}

// Lease is a granted seat as the agent sees it.
type Lease struct {
	ID      uint64    `json:"id"`
	Feature string    `json:"feature"`
	Kind    string    `json:"kind"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	Since   time.Time `json:"since"`
	// Member is the signed-in member the lease is for (the token's usr),
	// Team the team the checkout named; empty for a device's own lease.
	Member string `json:"member,omitempty"`
	Team   string `json:"team,omitempty"`
	// Borrow is the offline borrow the checkout asked for, and OSUser the
	// local user the agent holds the lease for (agent side only).
	Borrow Duration `json:"borrow,omitempty"`
	OSUser string   `json:"os_user,omitempty"`
}

// HeartbeatRequest renews every lease the device holds in one message.
type HeartbeatRequest struct {
	Leases []LeaseRef `json:"leases"`
	// SignIns are the IDs of the member sign-ins the agent holds; the
	// answer lists those that ended (SignedOut) so that it drops them.
	SignIns []string `json:"sign_ins,omitempty"`
	// AgentVersion is the agent's build, shown to administrators.
	AgentVersion string `json:"agent_version,omitempty"`
	// Datagrams says the agent can heartbeat by datagram: the answer then
	// carries a HeartbeatSession.
	Datagrams bool `json:"datagrams,omitempty"`
}

// LeaseRef names a lease held by the device.
type LeaseRef struct {
	ID      uint64 `json:"id"`
	Feature string `json:"feature"`
}

// HeartbeatResponse reports, lease by lease, whether the device still holds it.
type HeartbeatResponse struct {
	ServerTime time.Time     `json:"server_time"`
	Leases     []LeaseStatus `json:"leases"`
	// Interval is how often the server wants heartbeats.
	Interval Duration     `json:"interval"`
	Servers  []ServerInfo `json:"servers,omitempty"`
	// Policy is the account's floating policy as the agent enforces it;
	// pushed on every heartbeat so that a change needs no restart.
	Policy *AgentPolicy `json:"policy,omitempty"`
	// SignedOut lists the sign-ins of the request that no longer stand
	// (signed out by an administrator, member deleted, role or password
	// changed).
	SignedOut []string `json:"signed_out,omitempty"`
	// Session lets the agent send its next heartbeats to this node as one
	// datagram each (protocol/hbdgram) for as long as nothing changes.
	// Absent from nodes that predate it; agents that predate it ignore it.
	Session *HeartbeatSession `json:"hb_session,omitempty"`
}

// HeartbeatSession is a datagram heartbeat session: a key ID and a 32-byte
// key the node made up (never in the ledger, forgotten when it restarts).
// The agent keeps it in memory only, for the node that answered.
type HeartbeatSession struct {
	KeyID []byte `json:"key_id"`
	Key   []byte `json:"key"`
}

// AgentPolicy is the part of a floating policy an agent enforces locally.
// Features lists per-feature overrides of the account-wide values.
type AgentPolicy struct {
	LeaseTTL    Duration               `json:"lease_ttl,omitempty"`
	IdleTimeout Duration               `json:"idle_timeout,omitempty"`
	MaxCheckout Duration               `json:"max_checkout,omitempty"`
	Linger      Duration               `json:"linger,omitempty"`
	Features    map[string]AgentPolicy `json:"features,omitempty"`
}

// LeaseState says whether a heartbeat kept a lease.
type LeaseState string

const (
	LeaseHeld LeaseState = "held"
	LeaseLost LeaseState = "lost"
)

// LeaseStatus is one lease's answer in a heartbeat. Token is set only when the
// horizon moved and a new token was signed; otherwise the agent keeps the one it has.
type LeaseStatus struct {
	ID      uint64     `json:"id"`
	State   LeaseState `json:"state"`
	Error   *Error     `json:"error,omitempty"`
	Token   string     `json:"token,omitempty"`
	Expires time.Time  `json:"expires"`
}

// ReleaseRequest gives a seat back.
type ReleaseRequest struct {
	LeaseID uint64 `json:"lease_id"`
}

// ReleaseResponse is empty on success.
type ReleaseResponse struct{}

// ServersRequest asks for the cluster's agent addresses.
type ServersRequest struct {
	// AgentVersion is the agent's build: an agent with nothing to heartbeat
	// still asks for the server list every few minutes, which is when the
	// cluster records that it was seen.
	AgentVersion string `json:"agent_version,omitempty"`
}

// ServersResponse lists the nodes an agent may fail over to.
type ServersResponse struct {
	Servers  []ServerInfo `json:"servers"`
	Interval Duration     `json:"interval,omitempty"`
	// JWKS is the cluster's public lease-signing keys (a JWKS document), so
	// that the agent can hand applications what they verify tokens with,
	// offline. Absent from servers that predate it.
	JWKS json.RawMessage `json:"jwks,omitempty"`
}

// ServerInfo is one tallyd node as agents reach it.
type ServerInfo struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Leader bool   `json:"leader,omitempty"`
}

// Duration is a time.Duration that travels as a Go duration string ("90s"),
// readable in captures and in --json output. It is the one convention for
// durations in every JSON Tally writes (the agent protocol, the admin API,
// tallyctl and tally-agent --json); see docs/api.md#durations.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string; a bare whole number is read as
// nanoseconds, what the admin API took before durations were strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ns int64
		if json.Unmarshal(b, &ns) == nil {
			*d = Duration(ns)
			return nil
		}
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the Go duration syntax, as in JSON.
func (d Duration) String() string { return time.Duration(d).String() }

// ActivateRequest asks the account of this device to admit Email as a
// member under its seat assignment policy (list or domain).
type ActivateRequest struct {
	Email string `json:"email"`
	// Password, when given, is the member's password: a member joining
	// through activation sets it (they need it to sign in on devices), an
	// existing member must give theirs. The agent then signs them in.
	Password string `json:"password,omitempty"`
}

// ActivateResponse says whether the user joined now (Joined) or was
// already a member, and the user's status (active, unassigned).
type ActivateResponse struct {
	Account string `json:"account"`
	Email   string `json:"email"`
	Role    string `json:"role"`
	Status  string `json:"status"`
	Joined  bool   `json:"joined"`
	// SignedIn is set by the agent when it also signed the member in (an
	// activation with a password).
	SignedIn bool `json:"signed_in,omitempty"`
}
