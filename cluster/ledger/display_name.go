package ledger

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tally-licensing/tally/protocol"
)

// CmdSetDisplayName sets (or, empty, clears) a member's display name: how
// people call them ("John Smith"). An assignment import may name a member
// by it when no other member of the account has the same one
// (import_users.go).
const CmdSetDisplayName CommandType = "set_display_name"

// MaxDisplayName bounds a display name, in characters.
const MaxDisplayName = 100

// SetDisplayName is CmdSetDisplayName's payload.
type SetDisplayName struct {
	Account     string `json:"account"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name,omitempty"`
}

func (s *State) setDisplayName(now time.Time, op *SetDisplayName) Result {
	name := strings.Join(strings.Fields(op.DisplayName), " ")
	if utf8.RuneCountInString(name) > MaxDisplayName {
		return fail(protocol.CodeInvalidArgument, "display name of %d characters: at most %d", utf8.RuneCountInString(name), MaxDisplayName)
	}
	if strings.Contains(name, "@") {
		return fail(protocol.CodeInvalidArgument, "display name %q has an '@': a name that looks like an address would be read as one in an import", name)
	}
	if _, ok := s.accounts[op.Account]; ok && s.org(op.Account, false) == nil {
		return fail(protocol.CodeNotFound, "no user %s in account %s", NormalizeEmail(op.Email), op.Account)
	}
	return s.inOrg(now, op.Account, false, func(o *Org, _ *Account) Result {
		u := o.Users[NormalizeEmail(op.Email)]
		if u == nil {
			return fail(protocol.CodeNotFound, "no user %s in account %s", NormalizeEmail(op.Email), op.Account)
		}
		u.DisplayName = name
		return userResult(o, u)
	})
}

func (op *SetDisplayName) describe() (string, string) {
	if op.DisplayName == "" {
		return op.Account, "clear the display name of " + NormalizeEmail(op.Email)
	}
	return op.Account, "set the display name of " + NormalizeEmail(op.Email) + " to " + op.DisplayName
}
