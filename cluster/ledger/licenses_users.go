package ledger

import "github.com/tally-licensing/tally/protocol"

// checkUser is where named licenses meet the account's members: a license
// can only go to a user the account knows. It is the one place to change
// when the members model (issue 5, users and roles) is merged.
func (s *State) checkUser(account, email string) *protocol.Error {
	if email == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "a license needs a user's email")
	}
	if !s.userKnown(account, email) {
		return protocol.Errorf(protocol.CodeNotFound, "unknown user %s in account %s", email, account)
	}
	return nil
}

// userKnown reports whether email is a user of account. Until the members
// model lands, any well-formed address counts as known.
func (s *State) userKnown(account, email string) bool {
	return emailPattern.MatchString(email)
}
