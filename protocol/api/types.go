package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// NodeStatus is a node's Raft state as the admin API reports it (the
// server's store.Status, without the server).
type NodeStatus struct {
	NodeID       string    `json:"node_id"`
	State        string    `json:"state"`
	Leader       string    `json:"leader"`
	LeaderID     string    `json:"leader_id"`
	Term         uint64    `json:"term"`
	AppliedIndex uint64    `json:"applied_index"`
	CommitIndex  uint64    `json:"commit_index"`
	LastContact  time.Time `json:"last_contact,omitzero"`
}

// StatusResponse is GET /v1/status.
type StatusResponse struct {
	ClusterID  string             `json:"cluster_id"`
	Node       NodeStatus         `json:"node"`
	ServerTime time.Time          `json:"server_time"`
	Settings   Settings           `json:"settings"`
	Pools      []ledger.PoolUsage `json:"pools"`
	Leases     int                `json:"leases"`
	Devices    int                `json:"devices"`
	Waiting    int                `json:"waiting"`
}

// LeaseView is a lease as GET /v1/leases lists it: what `lmstat -a` shows.
type LeaseView struct {
	ID       uint64           `json:"id"`
	Account  string           `json:"account"`
	Feature  string           `json:"feature"`
	Device   string           `json:"device"`
	Hostname string           `json:"hostname,omitempty"`
	User     string           `json:"user,omitempty"`
	Kind     ledger.LeaseKind `json:"kind"`
	Since    time.Time        `json:"since"`
	Expires  time.Time        `json:"expires"`
	// SeatFreesAt is when the seat may go to another device if the lease is
	// not renewed: the horizon plus the skew allowance.
	SeatFreesAt time.Time `json:"seat_frees_at"`
	LastSeen    time.Time `json:"last_seen,omitempty"`
	Revoked     bool      `json:"revoked,omitempty"`
	// License and AddOns: the user's named license the lease was granted
	// under and the add-on codes its token carries.
	License string   `json:"license,omitempty"`
	AddOns  []string `json:"addons,omitempty"`
}

// CreateAccountRequest is POST /v1/accounts.
type CreateAccountRequest struct {
	ID              string       `json:"id"`
	Name            string       `json:"name,omitempty"`
	AdminEmail      string       `json:"admin_email,omitempty"`
	Model           ledger.Model `json:"model,omitempty"`
	SubscriptionEnd time.Time    `json:"subscription_end,omitempty"`
	// AdminMember makes AdminEmail an Owner member of the new account,
	// holding one of its MemberSeats (default 1).
	AdminMember bool `json:"admin_member,omitempty"`
	MemberSeats int  `json:"member_seats,omitempty"`
}

// SeatRequestRequest is POST /v1/accounts/{account}/seat-requests: ask
// the cluster operator for Seats more member seats.
type SeatRequestRequest struct {
	Seats int    `json:"seats"`
	Note  string `json:"note,omitempty"`
}

// SetPoolRequest is PUT /v1/accounts/{account}/pools/{feature}.
type SetPoolRequest struct {
	Seats    int    `json:"seats"`
	LeaseTTL string `json:"lease_ttl,omitempty"`
}

// CreateTokenRequest creates an enrollment or admin token.
type CreateTokenRequest struct {
	Name string `json:"name,omitempty"`
	// TTL of an enrollment token, as a Go duration; default 7 days.
	TTL string `json:"ttl,omitempty"`
	// Role and Account of an admin token (default: cluster-admin, or the
	// caller's account for an account-scoped caller).
	Role    string `json:"role,omitempty"`
	Account string `json:"account,omitempty"`
	// Uses is how many devices an enrollment token may enroll (default 1).
	Uses int `json:"uses,omitempty"`
	// Devices, when set, are the only Device Codes an enrollment token may
	// enroll.
	Devices []string `json:"devices,omitempty"`
}

// TokenResponse returns a new token. The secret is shown once.
type TokenResponse struct {
	ID      string    `json:"id"`
	Token   string    `json:"token"`
	Account string    `json:"account,omitempty"`
	Role    string    `json:"role,omitempty"`
	Expires time.Time `json:"expires,omitempty"`
}

// ErrorBody is every error answer: {"error": {"code": …, "message": …}}.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Waiter is a queued checkout as administrators see it.
type Waiter struct {
	Account  string    `json:"account"`
	Feature  string    `json:"feature"`
	Device   string    `json:"device"`
	User     string    `json:"user,omitempty"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	Position int       `json:"position"`
	Priority int       `json:"priority,omitempty"`
}
