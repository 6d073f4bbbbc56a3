// Package api is the contract of tally-agent's local API: the JSON that
// applications exchange with the agent over its Unix socket, the HTTP status
// each error code maps to, and where the socket lives by default.
//
// The agent (package agent) serves it and the SDK (package agent/sdk) speaks
// it; both use these types so that they cannot drift apart. The package
// imports nothing heavier than protocol, so applications stay small.
//
// Design: docs/design.md#parts.
package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CodeClockRollback is returned when the device clock is further behind the
// latest server time the agent has seen than MaxClockRollback: the agent then
// refuses to hand out tokens, because a rewound clock would let an
// application accept a token past its expiry.
//
// It is defined here because protocol/ is owned elsewhere; it belongs in
// protocol's list of stable codes and should move there.
const CodeClockRollback = protocol.CodeClockRollback

// MaxClockRollback is how far the device clock may lag the server-time
// high-water mark before the agent refuses to serve tokens.
const MaxClockRollback = 5 * time.Minute

// Paths of the local API. All bodies are JSON.
const (
	PathCheckout = "/v1/checkout" // POST CheckoutRequest → LeaseResponse
	PathRelease  = "/v1/release"  // POST ReleaseRequest → LeaseResponse (the released lease)
	PathStatus   = "/v1/status"   // GET → Status
	PathActivity = "/v1/activity" // POST ActivityRequest → ActivityResponse
	PathJWKS     = "/v1/jwks"     // GET → the cluster's JWKS document (application/json)
	PathActivate = "/v1/activate" // POST ActivateRequest → protocol.ActivateResponse
	// Member sign-in for the calling OS user (the agent knows it from the
	// socket's peer credentials).
	PathLogin  = "/v1/login"  // POST LoginRequest → protocol.Member
	PathLogout = "/v1/logout" // POST {} → protocol.Member (who was signed out)
	PathWhoAmI = "/v1/whoami" // GET → protocol.Member
	// Browser-approved sign-in: start returns the code a member approves
	// in the console; wait blocks until approved (or expired).
	PathLoginStart = "/v1/login/browser"      // POST {} → protocol.LoginStartResponse
	PathLoginWait  = "/v1/login/browser/wait" // POST {} → protocol.Member
	// PathEntitlements: GET → entitlement.Bundle (the account's vendor
	// entitlements, the cluster CA and the signing-key certificates), from
	// the cluster when it answers, else as last received.
	PathEntitlements = "/v1/entitlements"
	// Air-gapped devices (agent/offline.go): files an administrator carries.
	PathOfflineEnrollRequest = "/v1/offline/enroll-request" // POST OfflineEnrollRequest → protocol.EnrollRequest
	PathOfflineEnrollInstall = "/v1/offline/enroll-install" // POST protocol.EnrollResponse → {device_code, account}
	PathOfflineRequest       = "/v1/offline/request"        // POST OfflineLeaseRequest → OfflineFile
	PathOfflineInstall       = "/v1/offline/install"        // POST offline.LeaseFile → LeaseResponse
	PathOfflineReturn        = "/v1/offline/return"         // POST OfflineReturnRequest → OfflineFile
)

// LoginRequest signs a member in for the calling OS user. The password goes
// to the cluster once, over the device's mutual-TLS connection; the agent
// keeps only the device-bound credential it gets back.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// ActivityRequest reports that the application is using Feature right now
// (a user action, a computation). The agent records the time per lease;
// idle-release policies read it.
type ActivityRequest struct {
	Feature string `json:"feature"`
}

// ActivityResponse is the answer to an ActivityRequest.
type ActivityResponse struct {
	Feature string    `json:"feature"`
	At      time.Time `json:"at"`
}

// SocketEnv names the environment variable that points applications (and the
// tally-agent client subcommands) at the agent's socket.
const SocketEnv = "TALLY_AGENT_SOCKET"

// SocketName is the socket's file name inside the state directory.
const SocketName = "agent.sock"

// CheckoutRequest asks the agent for a lease on Feature. Wait is how long the
// server may queue the request when no seat is free; zero fails at once.
type CheckoutRequest struct {
	Feature string `json:"feature"`
	// User is refused: the seat is for the member the calling OS user
	// signed in (PathLogin), never a name the application sends.
	User string            `json:"user,omitempty"`
	Wait protocol.Duration `json:"wait,omitempty"`
	// Team is matched by the pool's team caps and team reservations.
	Team string `json:"team,omitempty"`
	// Borrow asks for an offline lease this long (within the pool's borrow
	// limit).
	Borrow protocol.Duration `json:"borrow,omitempty"`
	// Priority orders waiters on the server: higher first.
	Priority int `json:"priority,omitempty"`
	// ReleaseOnExit ties the lease to the calling process: the agent
	// releases it when every process that asked for it has exited.
	ReleaseOnExit bool `json:"release_on_exit,omitempty"`
}

// ActivateRequest signs Email in on this device ("Activate Existing
// License"): the account admits the user under its seat policy.
type ActivateRequest struct {
	Email string `json:"email"`
	// Password, when given, is set for a member who joins now (or checked
	// for an existing one), and the calling OS user is then signed in.
	Password string `json:"password,omitempty"`
}

// ReleaseRequest gives the device's lease on Feature back.
type ReleaseRequest struct {
	Feature string `json:"feature"`
}

// LeaseResponse is the answer to a checkout or a release.
type LeaseResponse struct {
	Lease protocol.Lease `json:"lease"`
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error *protocol.Error `json:"error"`
}

// Status describes the agent.
type Status struct {
	DeviceCode string `json:"device_code"`
	Account    string `json:"account,omitempty"`
	Enrolled   bool   `json:"enrolled"`
	// Servers is the list the agent fails over across (learned from the cluster).
	Servers []string `json:"servers"`
	// Connected says the agent holds a connection, which is not proof that
	// the server is alive (a killed node's connection looks open until the
	// next request); LastAnswer is.
	Connected bool `json:"connected"`
	// Server is the address of the node the agent is connected to, if any.
	Server string `json:"server,omitempty"`
	// LastAnswer is when a server (LastAnswerFrom) last answered a request;
	// nil before the first answer.
	LastAnswer     *time.Time       `json:"last_answer,omitempty"`
	LastAnswerFrom string           `json:"last_answer_from,omitempty"`
	Leases         []protocol.Lease `json:"leases"`
	// LastHeartbeat is when the last heartbeat succeeded; nil before the first.
	LastHeartbeat *time.Time `json:"last_heartbeat"`
	// ServerTime is the latest server time the agent has seen (its clock
	// high-water mark); nil before the first.
	ServerTime *time.Time `json:"server_time,omitempty"`
	// Activity is, by feature, the last time an application reported
	// activity on the lease it holds.
	Activity map[string]time.Time `json:"activity,omitempty"`
	// HeartbeatInterval is the interval the cluster asked for, and Policy
	// the account policy it last pushed (both change without a restart).
	HeartbeatInterval protocol.Duration     `json:"heartbeat_interval,omitempty"`
	Policy            *protocol.AgentPolicy `json:"policy,omitempty"`
	// Problem is why the cluster refuses this device (an administrator
	// removed it, or another key holds its Device Code), if it does.
	Problem string `json:"problem,omitempty"`
	// OSUser is the caller as the agent sees it and SignedIn the member
	// signed in for them, if any. Leases lists only the caller's leases
	// unless the caller is root or the agent's own user.
	OSUser   string `json:"os_user,omitempty"`
	SignedIn string `json:"signed_in,omitempty"`
}

// HTTPStatus is the HTTP status the local API answers with for an error code.
func HTTPStatus(code protocol.Code) int { return code.HTTPStatus() }

// AsError is the protocol error the local API reports for err: err itself
// when it is one, CodeTimeout for an expired or cancelled context, else
// CodeInternal.
func AsError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return protocol.Errorf(protocol.CodeTimeout, "%v", err)
	}
	return protocol.Errorf(protocol.CodeInternal, "%v", err)
}

// DefaultStateDir is where tally-agent keeps its state when --state is not
// given: /var/lib/tally-agent for root on Linux, else the user's
// configuration directory.
func DefaultStateDir() string {
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		return "/var/lib/tally-agent"
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		// No $HOME: fall back to something that is at least private to us.
		return filepath.Join(os.TempDir(), "tally-agent-"+uidString())
	}
	return filepath.Join(dir, "tally-agent")
}

// SystemStateDir is the state directory of the agent installed as a system
// service (`tally-agent install`).
func SystemStateDir() string {
	switch runtime.GOOS {
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "Tally", "agent", "state")
	case "darwin":
		return "/Library/Application Support/Tally/agent/state"
	}
	return "/var/lib/tally-agent"
}

// DefaultSocketPath is $TALLY_AGENT_SOCKET, else the socket in the default
// state directory, else, when that does not exist, the system service's
// socket (so that users' applications find the agent installed as a
// service).
func DefaultSocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	own := filepath.Join(DefaultStateDir(), SocketName)
	if _, err := os.Stat(own); err == nil {
		return own
	}
	if sys := filepath.Join(SystemStateDir(), SocketName); sys != own {
		if _, err := os.Stat(sys); err == nil {
			return sys
		}
	}
	return own
}

func uidString() string {
	if uid := os.Geteuid(); uid >= 0 {
		return strconv.Itoa(uid)
	}
	return "user" // Windows has no uid
}

// OfflineEnrollRequest asks the agent for an enrollment request file; an
// empty token means the agent's own (--enroll-token).
type OfflineEnrollRequest struct {
	EnrollToken string `json:"enroll_token,omitempty"`
}

// OfflineLeaseRequest asks the agent for a signed lease request file.
type OfflineLeaseRequest struct {
	Feature string            `json:"feature"`
	Borrow  protocol.Duration `json:"borrow"`
}

// OfflineReturnRequest asks the agent to give an offline lease back by file.
type OfflineReturnRequest struct {
	Feature string `json:"feature"`
}

// OfflineFile is a signed file for the administrator to carry.
type OfflineFile struct {
	File string `json:"file"`
}
