package ledger

import "github.com/tally-licensing/tally/protocol"

// checkUser is where named licenses meet the account's members: a license
// can only go to a user of the account whose role consumes a seat
// (Administrator Assistants and Assistants cannot be participating members
// of a licensed product).
func (s *State) checkUser(account, email string) *protocol.Error {
	if email == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "a license needs a user's email")
	}
	u := s.member(account, email)
	if u == nil {
		return protocol.Errorf(protocol.CodeNotFound, "unknown user %s in account %s", email, account)
	}
	if !u.Role.ConsumesSeat() {
		return protocol.Errorf(protocol.CodeNotAllowed, "%s is an %s, who cannot be a participating member of a licensed product", email, u.Role)
	}
	return nil
}

// userKnown reports whether email is a user of account.
func (s *State) userKnown(account, email string) bool {
	return s.member(account, email) != nil
}

func (s *State) member(account, email string) *User {
	o := s.org(account, false)
	if o == nil {
		return nil
	}
	return o.Users[NormalizeEmail(email)]
}
