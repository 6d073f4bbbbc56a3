package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CmdCreateAccountWithAdmin creates an account whose administrator
// address is also a member: an Owner holding one of the account's member
// seats, as when a purchase makes its buyer part of the group. It is one
// command so that the account never exists without its administrator
// member (and a refused one leaves nothing behind).
const CmdCreateAccountWithAdmin CommandType = "create_account_with_admin"

// CreateAccountWithAdmin is CmdCreateAccountWithAdmin's payload: the
// account, and the member seats it starts with (at least 1: the
// administrator's).
type CreateAccountWithAdmin struct {
	Account CreateAccount `json:"account"`
	Seats   int           `json:"seats"`
}

func (s *State) createAccountWithAdmin(now time.Time, op *CreateAccountWithAdmin) Result {
	a := op.Account
	email := NormalizeEmail(a.AdminEmail)
	// Every check first: once the account exists, the rest cannot fail.
	switch {
	case email == "" || !emailPattern.MatchString(email):
		return fail(protocol.CodeInvalidArgument, "the administrator address %q is not an email address; making it a member needs one", a.AdminEmail)
	case op.Seats < 1:
		return fail(protocol.CodeInvalidArgument, "member seats %d: the administrator holds one, so at least 1", op.Seats)
	}
	a.AdminEmail = email
	if r := s.createAccount(now, &a); r.Error != nil {
		return r
	}
	if r := s.setSeats(now, &SetSeats{Account: a.ID, Seats: op.Seats}); r.Error != nil {
		return r
	}
	return s.addUser(now, &AddUser{Account: a.ID, Email: email, Role: RoleOwner})
}

func (op *CreateAccountWithAdmin) describe() (string, string) {
	return op.Account.ID, "create account " + op.Account.ID + " with " + NormalizeEmail(op.Account.AdminEmail) + " as its owner member"
}
