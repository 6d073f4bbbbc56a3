package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CommandType names a ledger command.
type CommandType string

const (
	CmdBootstrap         CommandType = "bootstrap"
	CmdSetSettings       CommandType = "set_settings"
	CmdRegisterKey       CommandType = "register_key"
	CmdCreateAdminToken  CommandType = "create_admin_token"
	CmdRevokeAdminToken  CommandType = "revoke_admin_token"
	CmdCreateAccount     CommandType = "create_account"
	CmdSetPool           CommandType = "set_pool"
	CmdCreateEnrollToken CommandType = "create_enroll_token"
	CmdRevokeEnrollToken CommandType = "revoke_enroll_token"
	CmdEnrollDevice      CommandType = "enroll_device"
	CmdCheckout          CommandType = "checkout"
	CmdRenew             CommandType = "renew"
	CmdRelease           CommandType = "release"
	CmdRevoke            CommandType = "revoke"
	CmdReclaim           CommandType = "reclaim"
	CmdBatch             CommandType = "batch"
	CmdRegisterNode      CommandType = "register_node"
	CmdRemoveNode        CommandType = "remove_node"
	// Named licenses (licenses.go; one command per license operation in
	// license_ops.go).
	CmdSetProduct        CommandType = "set_product"
	CmdImportAssignments CommandType = "import_assignments"
	// Policies (policy.go; device seat operations in devices.go).
	CmdSetPolicy CommandType = "set_policy"
	CmdRemind    CommandType = "remind"
	// Members, teams, seats and subscriptions: one command per operation
	// in members_*.go.
	// Vendor entitlements (entitlements.go).
	CmdTrustVendor       CommandType = "trust_vendor"
	CmdImportEntitlement CommandType = "import_entitlement"
)

// Group types: the previous log format wrote every member operation as one
// "members" command with an op field, every license operation as "license"
// and every device seat operation as "device_op". They are no longer
// commands, but they remain the type those operations are written under in
// the log (log.go) and recorded under in the audit log, so audit filters
// and old log entries keep meaning the same.
const (
	CmdMembers  CommandType = "members"
	CmdLicense  CommandType = "license"
	CmdDeviceOp CommandType = "device_op"
)

// Command is one ledger command as the code builds and applies it. The
// leader fills in Now, the request ID and any new identifiers before
// proposing it; Apply reads nothing else from the outside world.
//
// Payload is the command's own typed request (*Checkout for CmdCheckout,
// *AddUser for CmdAddUser...): the registry (registry.go) says which type
// each command takes, and the apply function of the command receives it
// already typed. How a command is written to the Raft log is log.go's
// business, not this struct's.
type Command struct {
	Type CommandType
	// RequestID makes the command idempotent: a command whose ID was applied
	// recently returns the recorded result and changes nothing.
	RequestID string
	Now       time.Time
	// Actor is who asked for the command (an admin token, a member, a
	// device), filled by the proposer from the authenticated caller and
	// copied into the audit log (audit.go). It is the only actor field:
	// payloads carry none.
	Actor   string
	Payload any
	// Format is the log format the entry was read in (log.go); zero for a
	// command built in memory, which applies with the newest semantics.
	// Apply gives an entry the meaning it had in its format, so that a
	// log written by the previous release replays to the same ledger.
	Format int
	// Batch packs many commands into one log entry, so that a storm of
	// checkouts costs a few fsyncs rather than one each (DESIGN.md §6).
	Batch []Command
}

// Bootstrap sets the cluster's identity once, with its first admin token.
type Bootstrap struct {
	ClusterID  string      `json:"cluster_id"`
	Settings   Settings    `json:"settings"`
	AdminToken *AdminToken `json:"admin_token,omitempty"`
}

type RevokeAdminToken struct {
	ID string `json:"id"`
}

type CreateAccount struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	AdminEmail      string    `json:"admin_email,omitempty"`
	Model           Model     `json:"model"`
	SubscriptionEnd time.Time `json:"subscription_end,omitempty"`
}

// SetPool creates a pool or changes its seats. Lowering the seats below the
// leases that still hold one is refused.
type SetPool struct {
	Account  string        `json:"account"`
	Feature  string        `json:"feature"`
	Seats    int           `json:"seats"`
	LeaseTTL time.Duration `json:"lease_ttl,omitempty"`
}

type RevokeEnrollToken struct {
	Account string `json:"account"`
	ID      string `json:"id"`
}

// EnrollDevice registers a device under an enrollment token. The leader has
// already checked the token's secret against its hash; Apply checks that the
// token is still valid at Now, so a token revoked a moment earlier in the log
// wins.
type EnrollDevice struct {
	Account        string `json:"account"`
	TokenID        string `json:"token_id"`
	Code           string `json:"code"`
	KeyFingerprint string `json:"key_fingerprint"`
	Hostname       string `json:"hostname,omitempty"`
}

// Checkout asks for a seat. TTL is the horizon extension the leader chose
// from the pool's policy.
type Checkout struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	Feature string `json:"feature"`
	// SignIn is the verified member sign-in the seat is for; where the
	// account manages members, Apply takes the member from it (signins.go)
	// and User is overwritten.
	SignIn string `json:"sign_in,omitempty"`
	// User is the member; only the server fills it, never from a client's
	// field.
	User string        `json:"user,omitempty"`
	TTL  time.Duration `json:"ttl"`
	// Team, when the checkout carries one, is matched by team caps and
	// team reservations.
	Team string `json:"team,omitempty"`
	// Borrow asks for an offline lease this long, within the pool's
	// borrow limit; its horizon is not renewed.
	Borrow time.Duration `json:"borrow,omitempty"`
}

// Renew moves the horizons of several leases of one device forward.
type Renew struct {
	Account string        `json:"account"`
	Device  string        `json:"device"`
	Leases  []uint64      `json:"leases"`
	TTL     time.Duration `json:"ttl,omitempty"` // zero: each pool's TTL
}

// Release gives a seat back. It is refused unless Device holds LeaseID (S5).
type Release struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	LeaseID uint64 `json:"lease_id"`
}

// Revoke is an administrator ending a lease. The seat stays taken until the
// lease's horizon plus skew, because the device may still hold a valid token.
type Revoke struct {
	LeaseID uint64 `json:"lease_id"`
}

// Reclaim ends leases whose horizon plus skew has passed. The reaper proposes
// it; Apply re-checks each lease against Now, so a lease renewed in between
// survives.
type Reclaim struct {
	Leases []uint64 `json:"leases"`
}

// RemoveNode forgets a node's addresses (after it left the Raft configuration).
type RemoveNode struct {
	ID string `json:"id"`
}

// Result is what applying a command produced. It is recorded for idempotent
// replays, so it holds copies, never pointers into the state.
type Result struct {
	Error *protocol.Error `json:"error,omitempty"`
	// Lease is the granted, renewed or ended lease.
	Lease *Lease `json:"lease,omitempty"`
	// Renewed holds one entry per lease of a Renew, in request order.
	Renewed []RenewResult `json:"renewed,omitempty"`
	// Ended lists leases this command ended, sorted by ID.
	Ended []EndedLease `json:"ended,omitempty"`
	// Device is the enrolled device.
	Device *Device `json:"device,omitempty"`
	// Batch holds one result per batched command, in order.
	Batch []Result `json:"batch,omitempty"`
	// Product, License and Import report named-license commands.
	Product *Product      `json:"product,omitempty"`
	License *LicenseView  `json:"license_view,omitempty"`
	Import  *ImportReport `json:"import,omitempty"`
	// Members reports a members command.
	Members *MembersResult `json:"members,omitempty"`
	// AdminRequest is an idempotency key's record (admin_requests.go).
	AdminRequest *AdminRequestRecord `json:"admin_request,omitempty"`
	// Replayed is set when the result comes from the idempotency record.
	Replayed bool `json:"replayed,omitempty"`
}

// Err returns the result's error as an error value (nil if none).
func (r Result) Err() error {
	if r.Error == nil {
		return nil
	}
	return r.Error
}

// RenewResult is the outcome for one lease of a Renew.
type RenewResult struct {
	ID    uint64          `json:"id"`
	Lease *Lease          `json:"lease,omitempty"`
	Error *protocol.Error `json:"error,omitempty"`
}
