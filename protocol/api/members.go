package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// MemberRequest is the body of the members endpoints; each uses the fields
// it needs. Password is hashed (argon2id) on this node before proposing:
// the ledger only ever sees the PHC string.
type MemberRequest struct {
	Email    string      `json:"email,omitempty"`
	Emails   []string    `json:"emails,omitempty"`
	Role     ledger.Role `json:"role,omitempty"`
	Password string      `json:"password,omitempty"`
	Teams    []string    `json:"teams,omitempty"`
	Name     string      `json:"name,omitempty"`
	// DisplayName is a new user's display name ("John Smith"), optional.
	DisplayName string `json:"display_name,omitempty"`
	// ExpiresIn is an invitation's lifetime, e.g. "72h" (default 7 days).
	ExpiresIn   string    `json:"expires_in,omitempty"`
	Seats       *int      `json:"seats,omitempty"`
	Mode        string    `json:"mode,omitempty"`
	Domain      string    `json:"domain,omitempty"`
	Plan        string    `json:"plan,omitempty"`
	PeriodStart time.Time `json:"period_start,omitempty"`
	PeriodEnd   time.Time `json:"period_end,omitempty"`
	Renewal     string    `json:"renewal,omitempty"`
}

// SignInResponse is POST /v1/accounts/{account}/signin.
type SignInResponse struct {
	User ledger.UserView `json:"user"`
}
