package ledger

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// ImportAssignments applies a mass configuration (the CSV of Ext Key,
// Number, User, Addon license 1..N rows) to one base product, all or
// nothing. Each row gives its user that product's license with exactly the
// listed extension, number and add-ons; a user who already holds one keeps
// its UUID and has it updated. Licenses of users not in the file are left
// alone. The whole file is validated again here, against the state the
// command meets, so an import validated by a dry run a moment earlier is
// still refused if the account changed in between.
type ImportAssignments struct {
	Account string          `json:"account"`
	Product string          `json:"product"`
	Rows    []AssignmentRow `json:"rows"`
}

// AssignmentRow is one CSV row. Line is the row's line in the file, so that
// errors point at it.
type AssignmentRow struct {
	Line   int      `json:"line"`
	ExtKey string   `json:"ext_key,omitempty"`
	Number string   `json:"number,omitempty"`
	User   string   `json:"user"`
	AddOns []string `json:"addons,omitempty"`
}

// Row error kinds, stable for scripts.
const (
	RowMissingUser = "missing_user"
	RowUnknownUser = "unknown_user"
	// RowNotLicensable: the user is an assistant, who holds no license.
	RowNotLicensable   = "not_licensable"
	RowDuplicateUser   = "duplicate_user"
	RowUnknownAddOn    = "unknown_addon"
	RowDuplicateAddOn  = "duplicate_addon"
	RowMissingExt      = "missing_ext"
	RowMalformedExt    = "malformed_ext"
	RowDuplicateExt    = "duplicate_ext"
	RowMalformedNumber = "malformed_number"
	RowDuplicateNumber = "duplicate_number"
	RowNotExtension    = "not_extension_product"
	RowNoSeat          = "no_seat"
	RowMalformed       = "malformed_row"
)

// RowError says what is wrong with one row.
type RowError struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

func (e RowError) String() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ImportReport is what an import did, or would do on a dry run.
type ImportReport struct {
	Account   string     `json:"account"`
	Product   string     `json:"product"`
	Rows      int        `json:"rows"`
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Unchanged int        `json:"unchanged"`
	Applied   bool       `json:"applied"`
	Errors    []RowError `json:"errors,omitempty"`
}

// rowPlan is the validated intent of one row.
type rowPlan struct {
	row      *AssignmentRow
	user     string
	ext, num string
	addOns   []string // sorted codes
	existing *License // the user's current license, nil for a new one
}

func (p *rowPlan) unchanged(s *State) bool {
	l := p.existing
	if l == nil || l.ExtKey != p.ext || l.Number != p.num || len(l.AddOns) != len(p.addOns) {
		return false
	}
	for i, id := range l.AddOns {
		if a := s.lic.licenses[id]; a == nil || a.Product != p.addOns[i] {
			return false
		}
	}
	return true
}

// PlanImport validates an import against the current state without changing
// it. A command-level problem (no such account or product) comes back as the
// error; row problems are listed in the report, sorted by line.
func (s *State) PlanImport(imp *ImportAssignments) (ImportReport, *protocol.Error) {
	rep, _, err := s.planImport(imp)
	return rep, err
}

// importPlan is the state of an import while its passes check it.
type importPlan struct {
	imp   *ImportAssignments
	prod  *Product
	rep   ImportReport
	plans []*rowPlan
	// The first line of each user, extension and number in the file.
	userLine, extLine, numLine map[string]int
}

func (p *importPlan) bad(r *AssignmentRow, kind, format string, args ...any) {
	p.rep.Errors = append(p.rep.Errors, RowError{Line: r.Line, Kind: kind, Reason: fmt.Sprintf(format, args...)})
}

// planImport validates an import in three passes: each row on its own,
// then against the licenses the file does not touch, then seats. Rows
// failing a pass are reported and left out of the next.
func (s *State) planImport(imp *ImportAssignments) (ImportReport, []*rowPlan, *protocol.Error) {
	rep := ImportReport{Account: imp.Account, Product: imp.Product, Rows: len(imp.Rows)}
	if _, ok := s.accounts[imp.Account]; !ok {
		return rep, nil, protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", imp.Account)
	}
	prod := s.lic.product(imp.Account, imp.Product)
	if prod == nil {
		return rep, nil, protocol.Errorf(protocol.CodeNotFound, "account %s has no product %q", imp.Account, imp.Product)
	}
	if prod.Kind != ProductBase {
		return rep, nil, protocol.Errorf(protocol.CodeInvalidArgument, "%s is an add-on; an import assigns a base license", imp.Product)
	}
	p := &importPlan{imp: imp, prod: prod, rep: rep,
		userLine: make(map[string]int, len(imp.Rows)), extLine: make(map[string]int, len(imp.Rows)), numLine: make(map[string]int, len(imp.Rows))}
	for i := range imp.Rows {
		if rp := s.planRow(p, &imp.Rows[i]); rp != nil {
			p.plans = append(p.plans, rp)
		}
	}
	s.checkTaken(p)
	s.checkSeats(p)
	sort.SliceStable(p.rep.Errors, func(i, j int) bool { return p.rep.Errors[i].Line < p.rep.Errors[j].Line })
	return p.rep, p.plans, nil
}

// planRow is pass 1 for one row: the row on its own, and duplicates
// within the file. It returns nil for a refused row.
func (s *State) planRow(p *importPlan, r *AssignmentRow) *rowPlan {
	user, kind, reason := s.importUser(p.imp.Account, r.User)
	rp := &rowPlan{row: r, user: user}
	ok := kind == ""
	if !ok {
		p.bad(r, kind, "%s", reason)
	} else {
		ok = s.planRowUser(p, rp)
	}
	ok = planRowExtension(p, rp) && ok
	ok = s.planRowAddOns(p, rp) && ok
	if !ok {
		return nil
	}
	rp.existing = s.lic.userLicense(p.imp.Account, rp.user, p.prod.Code)
	return rp
}

func (s *State) planRowUser(p *importPlan, rp *rowPlan) bool {
	r, account := rp.row, p.imp.Account
	switch {
	case rp.user == "":
		p.bad(r, RowMissingUser, "no user")
	case !s.userKnown(account, rp.user):
		p.bad(r, RowUnknownUser, "unknown user %s", rp.user)
	case !s.member(account, rp.user).Role.ConsumesSeat():
		p.bad(r, RowNotLicensable, "%s is an %s, who cannot hold a license", rp.user, s.member(account, rp.user).Role)
	default:
		if first, dup := p.userLine[rp.user]; dup {
			p.bad(r, RowDuplicateUser, "user %s is also on line %d", rp.user, first)
			return false
		}
		p.userLine[rp.user] = r.Line
		return true
	}
	return false
}

func planRowExtension(p *importPlan, rp *rowPlan) bool {
	r := rp.row
	ext, num := strings.TrimSpace(r.ExtKey), strings.TrimSpace(r.Number)
	if !p.prod.Extension {
		if ext != "" || num != "" {
			p.bad(r, RowNotExtension, "%s is not an extension-based product; leave Ext Key and Number empty", p.prod.Code)
			return false
		}
		return true
	}
	ok := true
	switch {
	case ext == "":
		p.bad(r, RowMissingExt, "no extension key")
		ok = false
	case !ValidExtKey(ext):
		p.bad(r, RowMalformedExt, "malformed extension key %q: want 1-16 letters, digits, '_' or '-'", ext)
		ok = false
	default:
		if first, dup := p.extLine[ext]; dup {
			p.bad(r, RowDuplicateExt, "extension %s is also on line %d", ext, first)
			ok = false
		} else {
			p.extLine[ext] = r.Line
			rp.ext = ext
		}
	}
	if num == "" {
		return ok
	}
	n, err := NormalizeNumber(num)
	if err != nil {
		p.bad(r, RowMalformedNumber, "%v", err)
		return false
	}
	if first, dup := p.numLine[n]; dup {
		p.bad(r, RowDuplicateNumber, "number %s is also on line %d", n, first)
		return false
	}
	p.numLine[n] = r.Line
	rp.num = n
	return ok
}

func (s *State) planRowAddOns(p *importPlan, rp *rowPlan) bool {
	ok := true
	seen := map[string]bool{}
	for _, c := range rp.row.AddOns {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		ap := s.lic.product(p.imp.Account, c)
		switch {
		case ap == nil || ap.Kind != ProductAddOn:
			p.bad(rp.row, RowUnknownAddOn, "unknown add-on code %q", c)
			ok = false
		case seen[c]:
			p.bad(rp.row, RowDuplicateAddOn, "add-on %s is listed twice", c)
			ok = false
		default:
			seen[c] = true
			rp.addOns = append(rp.addOns, c)
		}
	}
	sort.Strings(rp.addOns)
	return ok
}

// checkTaken is pass 2: rows against the licenses the file does not touch.
// A license held by a user of the file gives up its extension and number
// to the file.
func (s *State) checkTaken(p *importPlan) {
	account := p.imp.Account
	replaced := func(id string) bool {
		l := s.lic.licenses[id]
		_, inFile := p.userLine[l.User]
		return l.Product == p.prod.Code && inFile
	}
	kept := p.plans[:0]
	for _, rp := range p.plans {
		ok := true
		if id, taken := s.lic.ext[account][rp.ext]; rp.ext != "" && taken && !replaced(id) {
			l := s.lic.licenses[id]
			p.bad(rp.row, RowDuplicateExt, "extension %s is already assigned to %s (%s license %s)", rp.ext, orNobody(l.User), l.Product, l.ID)
			ok = false
		}
		if id, taken := s.lic.num[account][rp.num]; rp.num != "" && taken && !replaced(id) {
			l := s.lic.licenses[id]
			p.bad(rp.row, RowDuplicateNumber, "number %s is already assigned to %s (%s license %s)", rp.num, orNobody(l.User), l.Product, l.ID)
			ok = false
		}
		if ok {
			kept = append(kept, rp)
		}
	}
	p.plans = kept
}

// checkSeats is pass 3: seats. New users take unassigned licenses in file
// order; the add-ons of changed rows are re-dealt from the free ones plus
// those the changed rows give back.
func (s *State) checkSeats(p *importPlan) {
	account, prod := p.imp.Account, p.prod
	free := len(s.lic.free(account, prod.Code))
	freeAddOns := map[string]int{}
	for _, l := range s.lic.byAccount[account] {
		if l.Kind == ProductAddOn && l.Parent == "" && l.User == "" {
			freeAddOns[l.Product]++
		}
	}
	for _, rp := range p.plans {
		if rp.existing != nil && !rp.unchanged(s) {
			for _, id := range rp.existing.AddOns {
				freeAddOns[s.lic.licenses[id].Product]++
			}
		}
	}
	kept := p.plans[:0]
	for _, rp := range p.plans {
		switch {
		case rp.unchanged(s):
			p.rep.Unchanged++
			kept = append(kept, rp)
			continue
		case rp.existing == nil && free == 0:
			p.bad(rp.row, RowNoSeat, "no %s license left for %s: %d purchased, %d assigned, the file needs more", prod.Code, rp.user, prod.Quantity, prod.Quantity-len(s.lic.free(account, prod.Code)))
			continue
		}
		if short := firstShort(rp.addOns, freeAddOns); short != "" {
			q := 0
			if ap := s.lic.product(account, short); ap != nil {
				q = ap.Quantity
			}
			p.bad(rp.row, RowNoSeat, "no %s add-on license left for %s: %d purchased, the file needs more", short, rp.user, q)
			continue
		}
		for _, c := range rp.addOns {
			freeAddOns[c]--
		}
		if rp.existing == nil {
			free--
			p.rep.Created++
		} else {
			p.rep.Updated++
		}
		kept = append(kept, rp)
	}
	p.plans = kept
}

// firstShort is the first of codes with no free license left.
func firstShort(codes []string, free map[string]int) string {
	for _, c := range codes {
		if free[c] == 0 {
			return c
		}
	}
	return ""
}

func orNobody(u string) string {
	if u == "" {
		return "an unassigned license"
	}
	return u
}

// ImportError formats a refused import's row errors, one per line.
func ImportError(rep ImportReport) *protocol.Error {
	var b strings.Builder
	fmt.Fprintf(&b, "import refused, nothing was applied: %d of %d rows are invalid", rep.InvalidRows(), rep.Rows)
	for _, e := range rep.Errors {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return protocol.Errorf(protocol.CodeInvalidArgument, "%s", b.String())
}

func (s *State) importAssignments(now time.Time, imp *ImportAssignments) Result {
	rep, plans, perr := s.planImport(imp)
	if perr != nil {
		return Result{Error: perr}
	}
	if len(rep.Errors) > 0 {
		return Result{Error: ImportError(rep), Import: &rep}
	}
	// Changed existing licenses give their add-ons back first, so that the
	// add-ons can be dealt again in file order.
	var changed []*rowPlan
	for _, p := range plans {
		if p.unchanged(s) {
			continue
		}
		changed = append(changed, p)
		if p.existing != nil {
			s.detachAll(p.existing)
			s.lic.unindex(p.existing)
			p.existing.ExtKey, p.existing.Number = "", ""
			s.lic.index(p.existing)
		}
	}
	freeBase := s.lic.free(imp.Account, imp.Product)
	freeAddOns := map[string][]*License{}
	for _, l := range s.lic.byAccount[imp.Account] {
		if l.Kind == ProductAddOn && l.Parent == "" {
			freeAddOns[l.Product] = append(freeAddOns[l.Product], l)
		}
	}
	for _, ls := range freeAddOns {
		sort.Slice(ls, func(i, j int) bool { return ls[i].ID < ls[j].ID })
	}
	for _, p := range changed {
		l := p.existing
		if l == nil {
			l, freeBase = freeBase[0], freeBase[1:]
			l.User, l.Assigned = p.user, now
		} else {
			s.lic.unindex(l)
		}
		l.ExtKey, l.Number = p.ext, p.num
		s.lic.index(l)
		for _, c := range p.addOns {
			a := freeAddOns[c][0]
			freeAddOns[c] = freeAddOns[c][1:]
			s.attach(l, a)
		}
	}
	rep.Applied = true
	return Result{Import: &rep}
}

// Assignments lists the assigned licenses of a base product as import rows,
// sorted by extension key then user: what an export writes.
func (s *State) Assignments(account, product string) []AssignmentRow {
	var out []AssignmentRow
	for _, l := range s.lic.byAccount[account] {
		if l.Product != product || l.User == "" {
			continue
		}
		r := AssignmentRow{ExtKey: l.ExtKey, Number: l.Number, User: l.User}
		for _, id := range l.AddOns {
			if a := s.lic.licenses[id]; a != nil {
				r.AddOns = append(r.AddOns, a.Product)
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ExtKey != out[j].ExtKey {
			return out[i].ExtKey < out[j].ExtKey
		}
		return out[i].User < out[j].User
	})
	return out
}
