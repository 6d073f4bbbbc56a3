package ledger

import (
	"fmt"
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Browser-approved sign-in, in the manner of the OAuth device authorization
// grant (RFC 8628): on a shared machine nobody types a password. The agent
// asks for an approval and shows its short user code; the member, on their
// own phone or computer, enters the code with their email and password on
// the console's "Approve a device" form; the agent, polling, then gets a
// sign-in bound to its device like one made with a password.
//
// The approval lives in the ledger so that the agent may poll any node and
// the member may approve on any node. Its user code is short (people type
// it) but lives ApprovalTTL and is tried against a password check that the
// sign-in brake slows; the device learns the credential only through its
// own mutual-TLS connection, with the approval's unguessable ID.

// Device approval commands.
const (
	CmdStartApproval  CommandType = "start_device_approval"
	CmdApproveDevice  CommandType = "approve_device"
	CmdFinishApproval CommandType = "finish_device_approval"
)

// ApprovalTTL is how long a user code may be approved.
const ApprovalTTL = 10 * time.Minute

// DeviceApproval is a device waiting for a member to approve its sign-in.
// Email is set once approved.
type DeviceApproval struct {
	ID             string    `json:"id"`
	Account        string    `json:"account"`
	Device         string    `json:"device"`
	KeyFingerprint string    `json:"key_fingerprint"`
	UserCode       string    `json:"user_code"`
	OSUser         string    `json:"os_user,omitempty"`
	Expires        time.Time `json:"expires"`
	Email          string    `json:"email,omitempty"`
}

// ApproveDevice approves the live approval with UserCode in Account for
// Email (whose password the proposer checked).
type ApproveDevice struct {
	Account  string `json:"account"`
	UserCode string `json:"user_code"`
	Email    string `json:"email"`
}

// FinishApproval turns an approved approval into a sign-in with the
// credential secret's hash the proposer made.
type FinishApproval struct {
	Account    string `json:"account"`
	ID         string `json:"id"`
	SignInID   string `json:"sign_in_id"`
	SecretHash string `json:"secret_hash"`
}

func (s *State) pruneApprovals(now time.Time) {
	for id, a := range s.signins.approvals {
		if !now.Before(a.Expires) {
			delete(s.signins.approvals, id)
		}
	}
}

func (s *State) startApproval(now time.Time, a *DeviceApproval) Result {
	s.pruneApprovals(now)
	if a.ID == "" || a.UserCode == "" {
		return fail(protocol.CodeInvalidArgument, "an approval needs an ID and a user code")
	}
	d, ok := s.devices[DeviceRef{a.Account, a.Device}]
	if !ok {
		return fail(protocol.CodeNotEnrolled, "device %s is not enrolled in account %s", a.Device, a.Account)
	}
	if d.KeyFingerprint != a.KeyFingerprint {
		return fail(protocol.CodeDeviceConflict, "the approval was asked with a key that is not device %s's", a.Device)
	}
	if _, ok := s.signins.approvals[a.ID]; ok {
		return fail(protocol.CodeAlreadyExists, "approval %s already exists", a.ID)
	}
	if s.liveApproval(a.Account, a.UserCode) != nil {
		return fail(protocol.CodeAlreadyExists, "user code %s is in use; ask again", a.UserCode)
	}
	c := *a
	c.UserCode = protocol.CanonicalUserCode(a.UserCode)
	c.Expires, c.Email = now.Add(ApprovalTTL), ""
	s.signins.approvals[c.ID] = &c
	return Result{}
}

// liveApproval finds the approval of account with user code (any case,
// dashes, O/0 and I/L/1 as in Device Codes).
func (s *State) liveApproval(account, code string) *DeviceApproval {
	code = protocol.CanonicalUserCode(code)
	for _, a := range s.signins.approvals {
		if a.Account == account && a.UserCode == code {
			return a
		}
	}
	return nil
}

func (s *State) approveDevice(now time.Time, op *ApproveDevice) Result {
	s.pruneApprovals(now)
	a := s.liveApproval(op.Account, op.UserCode)
	if a == nil {
		return fail(protocol.CodeNotFound, "no device is waiting with code %s in account %s (codes last %v)", op.UserCode, op.Account, ApprovalTTL)
	}
	if a.Email != "" {
		return fail(protocol.CodeAlreadyExists, "code %s was already approved", op.UserCode)
	}
	u, perr := s.activeMember(op.Account, op.Email)
	if perr != nil {
		return Result{Error: perr}
	}
	a.Email = u.Email
	return Result{}
}

func (s *State) finishApproval(now time.Time, op *FinishApproval) Result {
	s.pruneApprovals(now)
	a, ok := s.signins.approvals[op.ID]
	if !ok || a.Account != op.Account {
		return fail(protocol.CodeNotFound, "approval %s has expired or is unknown: ask again", op.ID)
	}
	if a.Email == "" {
		return fail(protocol.CodeApprovalPending, "approval %s is waiting for a member to enter code %s", op.ID, a.UserCode)
	}
	r := s.deviceSignIn(now, &DeviceSignIn{ID: op.SignInID, Account: a.Account, Device: a.Device, KeyFingerprint: a.KeyFingerprint,
		Email: a.Email, SecretHash: op.SecretHash, OSUser: a.OSUser})
	if r.Error == nil {
		delete(s.signins.approvals, op.ID)
	}
	return r
}

// Approval returns an approval (for the node that answers a device's poll).
func (s *State) Approval(id string) (DeviceApproval, bool) {
	a, ok := s.signins.approvals[id]
	if !ok || !s.lastNow.Before(a.Expires) {
		return DeviceApproval{}, false
	}
	return *a, true
}

func (s *State) sortedApprovals() []*DeviceApproval {
	out := make([]*DeviceApproval, 0, len(s.signins.approvals))
	for _, a := range s.signins.approvals {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (a *DeviceApproval) describe() (string, string) {
	return a.Account, fmt.Sprintf("device %s asks for a browser-approved sign-in (code %s)", a.Device, a.UserCode)
}

func (a *DeviceApproval) actor() string { return "device:" + a.Account + "/" + a.Device }

func (op *ApproveDevice) describe() (string, string) {
	return op.Account, fmt.Sprintf("approve code %s for %s", protocol.CanonicalUserCode(op.UserCode), NormalizeEmail(op.Email))
}

func (op *ApproveDevice) actor() string {
	return "member:" + op.Account + "/" + NormalizeEmail(op.Email)
}

func (op *FinishApproval) describe() (string, string) {
	return op.Account, "finish approval " + op.ID + " as sign-in " + op.SignInID
}
