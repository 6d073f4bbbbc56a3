package ledger

import (
	"fmt"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CmdTerminateLicenseConfirmed terminates a license like
// CmdTerminateLicense, but refuses one someone holds unless Force confirms
// it. It is a command of its own (log format 2) rather than a field added
// to terminate_license: a terminate_license entry already in a log must
// replay exactly as it applied, and a node of the previous release must
// not meet a field it does not know.
const CmdTerminateLicenseConfirmed CommandType = "terminate_license_confirmed"

// TerminateLicenseConfirmed is CmdTerminateLicenseConfirmed's payload.
type TerminateLicenseConfirmed struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
	// Force confirms a terminate that takes a license from its user.
	Force bool `json:"force,omitempty"`
}

func (s *State) terminateLicenseConfirmed(now time.Time, op *TerminateLicenseConfirmed) Result {
	l, e := s.license(op.Account, op.LicenseID)
	if e != nil {
		return Result{Error: e}
	}
	if l != nil {
		if e := s.terminateNeedsForce(l, op.Force); e != nil {
			return Result{Error: e}
		}
	}
	return s.terminateLicense(now, &TerminateLicense{Account: op.Account, LicenseID: op.LicenseID})
}

func (op *TerminateLicenseConfirmed) describe() (string, string) {
	if op.Force {
		return licenseSummary(op.Account, "terminate (forced)", op.LicenseID)
	}
	return licenseSummary(op.Account, "terminate", op.LicenseID)
}

// terminateNeedsForce refuses to terminate a license someone holds unless
// the caller confirmed it, and says who would lose what. A base license is
// held by its user; an add-on by the user of the base license it is
// attached to. It is decided at apply time, on the state the command
// meets: a follower's trailing copy might think the license free.
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
