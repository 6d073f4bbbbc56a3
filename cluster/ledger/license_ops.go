package ledger

import (
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// One command per operation on a purchased license (licenses.go). Each is
// written to the log as format 1's "license" command with its op, so the
// JSON names of the fields are those of that format.

const (
	CmdAssignLicense    CommandType = "assign_license"
	CmdUnassignLicense  CommandType = "unassign_license"
	CmdReassignLicense  CommandType = "reassign_license"
	CmdAttachAddOn      CommandType = "attach_addon"
	CmdDetachAddOn      CommandType = "detach_addon"
	CmdSetExtension     CommandType = "set_extension"
	CmdTerminateLicense CommandType = "terminate_license"
)

// AssignLicense gives User a base license of Product: LicenseID when set,
// else the first unassigned one, with an extension and add-ons.
type AssignLicense struct {
	Account   string   `json:"account"`
	LicenseID string   `json:"license_id,omitempty"`
	Product   string   `json:"product,omitempty"`
	User      string   `json:"user,omitempty"`
	ExtKey    string   `json:"ext_key,omitempty"`
	Number    string   `json:"number,omitempty"`
	AddOns    []string `json:"addons,omitempty"`
}

// UnassignLicense frees a base license; its add-ons go back to the free pool.
type UnassignLicense struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
}

// ReassignLicense moves a base license, extension and add-ons along, to User.
type ReassignLicense struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
	User      string `json:"user,omitempty"`
}

// AttachAddOn attaches a free add-on license of code AddOn to an assigned
// base license.
type AttachAddOn struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
	AddOn     string `json:"addon,omitempty"`
}

// DetachAddOn gives the base license's AddOn add-on back to the free pool.
type DetachAddOn struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
	AddOn     string `json:"addon,omitempty"`
}

// SetExtension changes the extension key and number of an assigned base
// license.
type SetExtension struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
	ExtKey    string `json:"ext_key,omitempty"`
	Number    string `json:"number,omitempty"`
}

// TerminateLicense takes a license (base or add-on) out of the
// subscription: the product's quantity drops by one. It terminates even an
// assigned license, as it always did (entries already in logs replay the
// same); the admin API proposes TerminateLicenseConfirmed (terminate.go).
type TerminateLicense struct {
	Account   string `json:"account"`
	LicenseID string `json:"license_id,omitempty"`
}

// license finds the license id of account; a missing id is allowed (nil).
func (s *State) license(account, id string) (*License, *protocol.Error) {
	if _, ok := s.accounts[account]; !ok {
		return nil, protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	if id == "" {
		return nil, nil
	}
	l := s.lic.licenses[id]
	if l == nil || l.Account != account {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no license %s in account %s", id, account)
	}
	return l, nil
}

// baseLicense finds the base license id of account for operation op.
func (s *State) baseLicense(op, account, id string) (*License, *protocol.Error) {
	l, e := s.license(account, id)
	switch {
	case e != nil:
		return nil, e
	case l == nil:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%s needs a license ID", op)
	case l.Kind != ProductBase:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "license %s is a %s add-on, not a base license", l.ID, l.Product)
	}
	return l, nil
}

// assignedBase is baseLicense for operations on an assigned license.
func (s *State) assignedBase(op, account, id, why string) (*License, *protocol.Error) {
	l, e := s.baseLicense(op, account, id)
	if e == nil && l.User == "" {
		e = protocol.Errorf(protocol.CodeInvalidArgument, "license %s is not assigned%s", l.ID, why)
	}
	return l, e
}

func (s *State) unassignLicense(now time.Time, op *UnassignLicense) Result {
	l, e := s.assignedBase("unassign", op.Account, op.LicenseID, "")
	if e != nil {
		return Result{Error: e}
	}
	s.lic.unindex(l)
	s.detachAll(l)
	s.revokeLicenseLeases(now, l.ID)
	l.User, l.ExtKey, l.Number, l.Assigned = "", "", "", time.Time{}
	return Result{License: ptr(s.view(l))}
}

func (s *State) reassignLicense(now time.Time, op *ReassignLicense) Result {
	l, e := s.baseLicense("reassign", op.Account, op.LicenseID)
	if e != nil {
		return Result{Error: e}
	}
	user := NormalizeEmail(op.User)
	if e := s.checkUser(op.Account, user); e != nil {
		return Result{Error: e}
	}
	if l.User == user {
		return Result{License: ptr(s.view(l))}
	}
	if other := s.lic.userLicense(op.Account, user, l.Product); other != nil {
		return fail(protocol.CodeAlreadyExists, "%s already holds %s license %s", user, l.Product, other.ID)
	}
	s.lic.unindex(l)
	s.revokeLicenseLeases(now, l.ID)
	l.User, l.Assigned = user, now
	s.lic.index(l)
	return Result{License: ptr(s.view(l))}
}

// addOnProduct checks that code names an add-on product of account.
func (s *State) addOnProduct(account, code string) (*Product, *protocol.Error) {
	ap := s.lic.product(account, code)
	if ap == nil || ap.Kind != ProductAddOn {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "unknown add-on code %q in account %s", code, account)
	}
	return ap, nil
}

func (s *State) attachAddOn(_ time.Time, op *AttachAddOn) Result {
	l, e := s.assignedBase("attach", op.Account, op.LicenseID, "; add-ons attach to assigned base licenses")
	if e != nil {
		return Result{Error: e}
	}
	ap, e := s.addOnProduct(op.Account, op.AddOn)
	if e != nil {
		return Result{Error: e}
	}
	for _, id := range l.AddOns {
		if a := s.lic.licenses[id]; a != nil && a.Product == op.AddOn {
			return fail(protocol.CodeAlreadyExists, "license %s already has the %s add-on (%s)", l.ID, op.AddOn, a.ID)
		}
	}
	free := s.lic.free(op.Account, op.AddOn)
	if len(free) == 0 {
		return fail(protocol.CodeNoSeat, "no free %s add-on license: all %d purchased are attached", op.AddOn, ap.Quantity)
	}
	s.attach(l, free[0])
	return Result{License: ptr(s.view(l))}
}

func (s *State) detachAddOn(_ time.Time, op *DetachAddOn) Result {
	l, e := s.assignedBase("detach", op.Account, op.LicenseID, "; add-ons attach to assigned base licenses")
	if e != nil {
		return Result{Error: e}
	}
	if _, e := s.addOnProduct(op.Account, op.AddOn); e != nil {
		return Result{Error: e}
	}
	for _, id := range l.AddOns {
		if a := s.lic.licenses[id]; a != nil && a.Product == op.AddOn {
			s.detach(l, a)
			return Result{License: ptr(s.view(l))}
		}
	}
	return fail(protocol.CodeNotFound, "license %s has no %s add-on", l.ID, op.AddOn)
}

func (s *State) setExtension(_ time.Time, op *SetExtension) Result {
	l, e := s.assignedBase("set_extension", op.Account, op.LicenseID, "")
	if e != nil {
		return Result{Error: e}
	}
	ext, num, e := s.checkExtension(op.Account, l, op.ExtKey, op.Number)
	if e != nil {
		return Result{Error: e}
	}
	s.lic.unindex(l)
	l.ExtKey, l.Number = ext, num
	s.lic.index(l)
	return Result{License: ptr(s.view(l))}
}

func (s *State) terminateLicense(now time.Time, op *TerminateLicense) Result {
	l, e := s.license(op.Account, op.LicenseID)
	if e != nil {
		return Result{Error: e}
	}
	if l == nil {
		return fail(protocol.CodeInvalidArgument, "terminate needs a license ID")
	}
	v := s.view(l)
	s.revokeLicenseLeases(now, l.ID)
	if l.Kind == ProductBase {
		s.detachAll(l)
	} else if l.Parent != "" {
		if p := s.lic.licenses[l.Parent]; p != nil {
			s.detach(p, l)
		}
	}
	s.lic.remove(l)
	if p := s.lic.product(l.Account, l.Product); p != nil {
		p.Quantity--
	}
	return Result{License: &v}
}

func (s *State) assignLicense(now time.Time, op *AssignLicense) Result {
	l, e := s.license(op.Account, op.LicenseID)
	if e != nil {
		return Result{Error: e}
	}
	prod, e := s.assignableProduct(op, l)
	if e != nil {
		return Result{Error: e}
	}
	user := NormalizeEmail(op.User)
	if e := s.checkUser(op.Account, user); e != nil {
		return Result{Error: e}
	}
	if other := s.lic.userLicense(op.Account, user, prod.Code); other != nil {
		return fail(protocol.CodeAlreadyExists, "%s already holds %s license %s", user, prod.Code, other.ID)
	}
	if l != nil && l.User != "" {
		return fail(protocol.CodeAlreadyExists, "license %s is assigned to %s; reassign it instead", l.ID, l.User)
	}
	if l == nil {
		free := s.lic.free(op.Account, prod.Code)
		if len(free) == 0 {
			return fail(protocol.CodeNoSeat, "no free %s license: all %d purchased are assigned", prod.Code, prod.Quantity)
		}
		l = free[0]
	}
	var ext, num string
	if op.ExtKey != "" || op.Number != "" || prod.Extension {
		if !prod.Extension {
			return fail(protocol.CodeInvalidArgument, "%s is not an extension-based product; it takes no extension or number", prod.Code)
		}
		if ext, num, e = s.checkExtension(op.Account, l, op.ExtKey, op.Number); e != nil {
			return Result{Error: e}
		}
	}
	// Add-ons are checked before anything changes.
	picks, e := s.pickAddOns(op.Account, op.AddOns)
	if e != nil {
		return Result{Error: e}
	}
	l.User, l.ExtKey, l.Number, l.Assigned = user, ext, num, now
	s.lic.index(l)
	for _, a := range picks {
		s.attach(l, a)
	}
	return Result{License: ptr(s.view(l))}
}

// assignableProduct is the base product an assignment is about: that of
// license l when the command names one.
func (s *State) assignableProduct(op *AssignLicense, l *License) (*Product, *protocol.Error) {
	code := op.Product
	if l != nil {
		if op.Product != "" && op.Product != l.Product {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "license %s is a %s license, not %s", l.ID, l.Product, op.Product)
		}
		code = l.Product
	}
	prod := s.lic.product(op.Account, code)
	if prod == nil {
		return nil, protocol.Errorf(protocol.CodeNotFound, "account %s has no product %q", op.Account, code)
	}
	if prod.Kind != ProductBase {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%s is an add-on; attach it to an assigned base license instead", code)
	}
	return prod, nil
}

// pickAddOns picks one free license of each add-on code, refusing unknown,
// repeated or exhausted codes.
func (s *State) pickAddOns(account string, codes []string) ([]*License, *protocol.Error) {
	want := map[string]int{}
	for _, code := range codes {
		if _, e := s.addOnProduct(account, code); e != nil {
			return nil, e
		}
		if want[code]++; want[code] > 1 {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "add-on %s is listed twice", code)
		}
	}
	var picks []*License
	for _, code := range sortedKeys(want) {
		free := s.lic.free(account, code)
		if len(free) == 0 {
			return nil, protocol.Errorf(protocol.CodeNoSeat, "no free %s add-on license left", code)
		}
		picks = append(picks, free[0])
	}
	return picks, nil
}

// licenseSummary is the audit summary of a license operation: the op,
// "license", then the non-empty identifiers.
func licenseSummary(account, op string, ids ...string) (string, string) {
	parts := []string{op, "license"}
	for _, p := range ids {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return account, strings.Join(parts, " ")
}

func (op *AssignLicense) describe() (string, string) {
	return licenseSummary(op.Account, "assign", op.LicenseID, op.Product, op.User)
}
func (op *UnassignLicense) describe() (string, string) {
	return licenseSummary(op.Account, "unassign", op.LicenseID)
}
func (op *ReassignLicense) describe() (string, string) {
	return licenseSummary(op.Account, "reassign", op.LicenseID, op.User)
}
func (op *AttachAddOn) describe() (string, string) {
	return licenseSummary(op.Account, "attach", op.LicenseID, op.AddOn)
}
func (op *DetachAddOn) describe() (string, string) {
	return licenseSummary(op.Account, "detach", op.LicenseID, op.AddOn)
}
func (op *SetExtension) describe() (string, string) {
	return licenseSummary(op.Account, "set_extension", op.LicenseID)
}
func (op *TerminateLicense) describe() (string, string) {
	return licenseSummary(op.Account, "terminate", op.LicenseID)
}
