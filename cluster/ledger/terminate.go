package ledger

import (
	"fmt"

	"github.com/tally-licensing/tally/protocol"
)

// terminateNeedsForce refuses to terminate a license someone holds unless
// the caller confirmed it (LicenseOp.Force), and says who would lose what.
// A base license is held by its user; an add-on by the user of the base
// license it is attached to. It is decided at apply time, on the state the
// command meets: a follower's trailing copy might think the license free.
func (s *State) terminateNeedsForce(l *License, force bool) *protocol.Error {
	if force {
		return nil
	}
	holder, what := l.User, fmt.Sprintf("%s license %s", l.Product, l.ID)
	if l.Kind != ProductBase && l.Parent != "" {
		if p := s.lic.licenses[l.Parent]; p != nil {
			holder = p.User
			what = fmt.Sprintf("%s add-on %s (attached to %s license %s)", l.Product, l.ID, p.Product, p.ID)
		}
	}
	if holder == "" {
		return nil
	}
	if l.ExtKey != "" {
		what += ", extension " + l.ExtKey
	}
	if l.Kind == ProductBase && len(l.AddOns) > 0 {
		what += fmt.Sprintf(", with %d add-on(s)", len(l.AddOns))
	}
	return protocol.Errorf(protocol.CodeConfirmationRequired,
		"%s is assigned to %s, who loses it: terminate with --force (API: \"force\": true) to confirm", what, holder)
}
