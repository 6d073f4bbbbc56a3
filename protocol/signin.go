package protocol

import "time"

// Member sign-in on a device. The agent sends the member's password once,
// over the device's mutual-TLS connection; the cluster answers with a
// credential bound to this device (its enrolled Device Code and key): the
// same credential presented by another device is refused, so a copied state
// file is useless elsewhere.

// LoginRequest signs Email in on the device.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// OSUser names the local account the sign-in is for (shown to
	// administrators; the agent keeps one sign-in per OS user).
	OSUser       string `json:"os_user,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// LoginResponse carries the device-bound credential.
type LoginResponse struct {
	// Credential is "ID.SECRET"; the cluster keeps only the secret's hash.
	Credential string `json:"credential"`
	Member
}

// Member is who a credential proves.
type Member struct {
	SignInID string   `json:"sign_in_id"`
	Account  string   `json:"account"`
	Device   string   `json:"device"`
	Email    string   `json:"email"`
	Role     string   `json:"role"`
	Status   string   `json:"status"`
	Teams    []string `json:"teams,omitempty"`
	// Licenses are the product codes of the named licenses assigned to the
	// member.
	Licenses []string `json:"licenses,omitempty"`
}

// LogoutRequest ends a sign-in.
type LogoutRequest struct {
	Credential string `json:"credential"`
}

// LogoutResponse is empty on success.
type LogoutResponse struct{}

// WhoAmIRequest asks who Credential proves.
type WhoAmIRequest struct {
	Credential string `json:"credential"`
}

// LoginStartRequest asks for a browser-approved sign-in.
type LoginStartRequest struct {
	OSUser string `json:"os_user,omitempty"`
}

// LoginStartResponse is the code the member approves ("Approve a device" in
// the console, or POST /v1/device-approvals) and how to wait for it.
type LoginStartResponse struct {
	ApprovalID string    `json:"approval_id"`
	Account    string    `json:"account"`
	UserCode   string    `json:"user_code"`
	Expires    time.Time `json:"expires"`
	Interval   Duration  `json:"interval"`
}

// LoginPollRequest asks whether an approval was given; the answer is a
// LoginResponse once it was, CodeApprovalPending until then.
type LoginPollRequest struct {
	ApprovalID string `json:"approval_id"`
}
