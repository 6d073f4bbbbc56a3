package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// SessionRequest is a member signing in to the console.
type SessionRequest struct {
	Account  string `json:"account"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SessionResponse is a new console session: Token is a bearer credential
// for the admin API with Access (an admin token role) in Account.
type SessionResponse struct {
	Token   string      `json:"token"`
	ID      string      `json:"id"`
	Account string      `json:"account"`
	Email   string      `json:"email"`
	Role    ledger.Role `json:"role"`
	Access  string      `json:"access"`
	// AdminOf lists the teams a team administrator's session manages.
	AdminOf []string  `json:"admin_of,omitempty"`
	Expires time.Time `json:"expires"`
}
