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
	By      string          `json:"by,omitempty"`
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
	bad := func(r *AssignmentRow, kind, format string, args ...any) {
		rep.Errors = append(rep.Errors, RowError{Line: r.Line, Kind: kind, Reason: fmt.Sprintf(format, args...)})
	}
	// Pass 1: each row on its own, and duplicates within the file.
	plans := make([]*rowPlan, 0, len(imp.Rows))
	userLine := make(map[string]int, len(imp.Rows))
	extLine := make(map[string]int, len(imp.Rows))
	numLine := make(map[string]int, len(imp.Rows))
	for i := range imp.Rows {
		r := &imp.Rows[i]
		user, kind, reason := s.importUser(imp.Account, r.User)
		p := &rowPlan{row: r, user: user}
		ok := true
		switch {
		case kind != "":
			bad(r, kind, "%s", reason)
			ok = false
		case !s.member(imp.Account, p.user).Role.ConsumesSeat():
			bad(r, RowNotLicensable, "%s is an %s, who cannot hold a license", p.user, s.member(imp.Account, p.user).Role)
			ok = false
		default:
			if first, dup := userLine[p.user]; dup {
				bad(r, RowDuplicateUser, "user %s is also on line %d", p.user, first)
				ok = false
			} else {
				userLine[p.user] = r.Line
			}
		}
		ext := strings.TrimSpace(r.ExtKey)
		num := strings.TrimSpace(r.Number)
		if !prod.Extension {
			if ext != "" || num != "" {
				bad(r, RowNotExtension, "%s is not an extension-based product; leave Ext Key and Number empty", prod.Code)
				ok = false
			}
		} else {
			switch {
			case ext == "":
				bad(r, RowMissingExt, "no extension key")
				ok = false
			case !ValidExtKey(ext):
				bad(r, RowMalformedExt, "malformed extension key %q: want 1-16 letters, digits, '_' or '-'", ext)
				ok = false
			default:
				if first, dup := extLine[ext]; dup {
					bad(r, RowDuplicateExt, "extension %s is also on line %d", ext, first)
					ok = false
				} else {
					extLine[ext] = r.Line
					p.ext = ext
				}
			}
			if num != "" {
				n, err := NormalizeNumber(num)
				switch {
				case err != nil:
					bad(r, RowMalformedNumber, "%v", err)
					ok = false
				default:
					if first, dup := numLine[n]; dup {
						bad(r, RowDuplicateNumber, "number %s is also on line %d", n, first)
						ok = false
					} else {
						numLine[n] = r.Line
						p.num = n
					}
				}
			}
		}
		seen := map[string]bool{}
		for _, c := range r.AddOns {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			ap := s.lic.product(imp.Account, c)
			switch {
			case ap == nil || ap.Kind != ProductAddOn:
				bad(r, RowUnknownAddOn, "unknown add-on code %q", c)
				ok = false
			case seen[c]:
				bad(r, RowDuplicateAddOn, "add-on %s is listed twice", c)
				ok = false
			default:
				seen[c] = true
				p.addOns = append(p.addOns, c)
			}
		}
		sort.Strings(p.addOns)
		if ok {
			p.existing = s.lic.userLicense(imp.Account, p.user, prod.Code)
			plans = append(plans, p)
		}
	}
	// Pass 2: against the licenses the file does not touch. A license held
	// by a user of the file gives up its extension and number to the file.
	replaced := func(id string) bool {
		l := s.lic.licenses[id]
		_, inFile := userLine[l.User]
		return l.Product == prod.Code && inFile
	}
	kept := plans[:0]
	for _, p := range plans {
		ok := true
		if id, taken := s.lic.ext[imp.Account][p.ext]; p.ext != "" && taken && !replaced(id) {
			l := s.lic.licenses[id]
			bad(p.row, RowDuplicateExt, "extension %s is already assigned to %s (%s license %s)", p.ext, orNobody(l.User), l.Product, l.ID)
			ok = false
		}
		if id, taken := s.lic.num[imp.Account][p.num]; p.num != "" && taken && !replaced(id) {
			l := s.lic.licenses[id]
			bad(p.row, RowDuplicateNumber, "number %s is already assigned to %s (%s license %s)", p.num, orNobody(l.User), l.Product, l.ID)
			ok = false
		}
		if ok {
			kept = append(kept, p)
		}
	}
	plans = kept
	// Pass 3: seats. New users take unassigned licenses in file order; the
	// add-ons of changed rows are re-dealt from the free ones plus those the
	// changed rows give back.
	free := len(s.lic.free(imp.Account, prod.Code))
	freeAddOns := map[string]int{}
	for _, l := range s.lic.byAccount[imp.Account] {
		if l.Kind == ProductAddOn && l.Parent == "" && l.User == "" {
			freeAddOns[l.Product]++
		}
	}
	for _, p := range plans {
		if p.existing != nil && !p.unchanged(s) {
			for _, id := range p.existing.AddOns {
				freeAddOns[s.lic.licenses[id].Product]++
			}
		}
	}
	kept = plans[:0]
	for _, p := range plans {
		switch {
		case p.unchanged(s):
			rep.Unchanged++
			kept = append(kept, p)
			continue
		case p.existing == nil && free == 0:
			bad(p.row, RowNoSeat, "no %s license left for %s: %d purchased, %d assigned, the file needs more", prod.Code, p.user, prod.Quantity, prod.Quantity-len(s.lic.free(imp.Account, prod.Code)))
			continue
		}
		short := ""
		for _, c := range p.addOns {
			if freeAddOns[c] == 0 {
				short = c
				break
			}
		}
		if short != "" {
			q := 0
			if ap := s.lic.product(imp.Account, short); ap != nil {
				q = ap.Quantity
			}
			bad(p.row, RowNoSeat, "no %s add-on license left for %s: %d purchased, the file needs more", short, p.user, q)
			continue
		}
		for _, c := range p.addOns {
			freeAddOns[c]--
		}
		if p.existing == nil {
			free--
			rep.Created++
		} else {
			rep.Updated++
		}
		kept = append(kept, p)
	}
	sort.SliceStable(rep.Errors, func(i, j int) bool { return rep.Errors[i].Line < rep.Errors[j].Line })
	return rep, kept, nil
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
	if imp == nil {
		return missing(CmdImportAssignments)
	}
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
