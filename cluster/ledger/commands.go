package ledger

import (
	"encoding/json"
	"fmt"
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
	// Named licenses (licenses.go).
	CmdSetProduct        CommandType = "set_product"
	CmdLicense           CommandType = "license"
	CmdImportAssignments CommandType = "import_assignments"
	// Policies (policy.go).
	CmdSetPolicy CommandType = "set_policy"
	CmdDeviceOp  CommandType = "device_op"
	CmdRemind    CommandType = "remind"
	// Members, teams, seats and subscriptions (members.go).
	CmdMembers CommandType = "members"
)

// Command is one entry of the replicated log. The leader fills in Now, the
// request ID and any new identifiers before proposing it; Apply reads nothing
// else from the outside world.
type Command struct {
	Type CommandType `json:"type"`
	// RequestID makes the command idempotent: a command whose ID was applied
	// recently returns the recorded result and changes nothing.
	RequestID string    `json:"request_id,omitempty"`
	Now       time.Time `json:"now"`
	// Actor is who asked for the command (an admin token, a member, a
	// device), filled by the proposer from the authenticated caller and
	// copied into the audit log (audit.go).
	Actor string `json:"actor,omitempty"`

	Bootstrap         *Bootstrap         `json:"bootstrap,omitempty"`
	SetSettings       *Settings          `json:"set_settings,omitempty"`
	RegisterKey       *SigningKey        `json:"register_key,omitempty"`
	CreateAdminToken  *AdminToken        `json:"create_admin_token,omitempty"`
	RevokeAdminToken  *RevokeAdminToken  `json:"revoke_admin_token,omitempty"`
	CreateAccount     *CreateAccount     `json:"create_account,omitempty"`
	SetPool           *SetPool           `json:"set_pool,omitempty"`
	CreateEnrollToken *EnrollToken       `json:"create_enroll_token,omitempty"`
	RevokeEnrollToken *RevokeEnrollToken `json:"revoke_enroll_token,omitempty"`
	EnrollDevice      *EnrollDevice      `json:"enroll_device,omitempty"`
	Checkout          *Checkout          `json:"checkout,omitempty"`
	Renew             *Renew             `json:"renew,omitempty"`
	Release           *Release           `json:"release,omitempty"`
	Revoke            *Revoke            `json:"revoke,omitempty"`
	Reclaim           *Reclaim           `json:"reclaim,omitempty"`
	RegisterNode      *Node              `json:"register_node,omitempty"`
	RemoveNode        *RemoveNode        `json:"remove_node,omitempty"`
	SetProduct        *SetProduct        `json:"set_product,omitempty"`
	License           *LicenseOp         `json:"license,omitempty"`
	ImportAssignments *ImportAssignments `json:"import_assignments,omitempty"`
	SetPolicy         *SetPolicy         `json:"set_policy,omitempty"`
	DeviceOp          *DeviceOp          `json:"device_op,omitempty"`
	Members           *MembersOp         `json:"members,omitempty"`
	// Notifications (notifications.go).
	ClaimNotification *NotificationClaim `json:"claim_notification,omitempty"`
	NotificationDone  *NotificationDone  `json:"notification_done,omitempty"`
	// Sign-in brake (brake.go).
	SignInBrake *SignInBrake `json:"sign_in_brake,omitempty"`
	// Batch packs many commands into one log entry, so that a storm of
	// checkouts costs a few fsyncs rather than one each (DESIGN.md §6).
	Batch []Command `json:"batch,omitempty"`
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
	Account string        `json:"account"`
	Device  string        `json:"device"`
	Feature string        `json:"feature"`
	User    string        `json:"user,omitempty"`
	TTL     time.Duration `json:"ttl"`
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
	By      string `json:"by,omitempty"`
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

// Encode serialises a command for the log.
func (c *Command) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", c.Type, err)
	}
	return b, nil
}

// DecodeCommand parses a log entry.
func DecodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	return &c, nil
}
