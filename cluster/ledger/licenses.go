package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Named licenses (DESIGN.md §4 "Products"): an account buys a quantity of
// each product in its catalogue. A base product (Phone System, Developer…)
// is assigned to a user; an add-on product (call_recording, team_chat…) is
// attached to an assigned base license. Every purchased license is an object
// with a UUID from the moment it is bought, so that an administrator can
// terminate exactly that one.
//
// Pools and products meet at checkout: a base product names the pool feature
// its holders check out (Product.Feature, the product code by default). When a
// device checks out that feature for a user who holds a license of the
// product, the lease records the license and its add-on codes, and the lease
// token carries them as its addons claim. A checkout by a user without such a
// license is still governed by the pool alone and carries no add-ons.

// ProductKind says whether a product is a base license or an add-on.
type ProductKind string

const (
	ProductBase  ProductKind = "base"
	ProductAddOn ProductKind = "addon"
)

// Product is one entry of an account's catalogue.
type Product struct {
	Account string      `json:"account"`
	Code    string      `json:"code"`
	Name    string      `json:"name,omitempty"`
	Kind    ProductKind `json:"kind"`
	// Feature is the pool feature a base license's holders check out; empty
	// means the product code.
	Feature string `json:"feature,omitempty"`
	// Extension marks a base product whose assignments carry an extension
	// key and, optionally, a number (DID).
	Extension bool `json:"extension,omitempty"`
	// Quantity is the number of purchased licenses, assigned or not.
	Quantity int       `json:"quantity"`
	Created  time.Time `json:"created"`
}

// PoolFeature is the pool feature a base product's holders check out.
func (p *Product) PoolFeature() string {
	if p.Feature != "" {
		return p.Feature
	}
	return p.Code
}

// License is one purchased license.
type License struct {
	ID      string      `json:"id"`
	Account string      `json:"account"`
	Product string      `json:"product"`
	Kind    ProductKind `json:"kind"`
	// User holds a base license; empty means unassigned.
	User   string `json:"user,omitempty"`
	ExtKey string `json:"ext_key,omitempty"`
	Number string `json:"number,omitempty"`
	// AddOns are the IDs of the add-on licenses attached to a base license,
	// ordered by code then ID.
	AddOns []string `json:"addons,omitempty"`
	// Parent is the base license an add-on license is attached to.
	Parent   string    `json:"parent,omitempty"`
	Created  time.Time `json:"created"`
	Assigned time.Time `json:"assigned,omitempty"`
}

// licenseBook holds products and licenses with the indexes that keep
// extension keys and numbers unique within an account.
type licenseBook struct {
	products map[string]map[string]*Product // account → code
	licenses map[string]*License            // ID
	// Per account: licenses, extension keys and numbers in use, users'
	// base licenses.
	byAccount map[string]map[string]*License
	ext       map[string]map[string]string // account → ext key → license ID
	num       map[string]map[string]string // account → number → license ID
	byUser    map[string]map[string][]string
}

func newLicenseBook() *licenseBook {
	return &licenseBook{
		products:  map[string]map[string]*Product{},
		licenses:  map[string]*License{},
		byAccount: map[string]map[string]*License{},
		ext:       map[string]map[string]string{},
		num:       map[string]map[string]string{},
		byUser:    map[string]map[string][]string{},
	}
}

func (b *licenseBook) product(account, code string) *Product {
	return b.products[account][code]
}

func (b *licenseBook) insert(l *License) {
	b.licenses[l.ID] = l
	if b.byAccount[l.Account] == nil {
		b.byAccount[l.Account] = map[string]*License{}
	}
	b.byAccount[l.Account][l.ID] = l
	b.index(l)
}

func (b *licenseBook) remove(l *License) {
	b.unindex(l)
	delete(b.licenses, l.ID)
	delete(b.byAccount[l.Account], l.ID)
}

// index records l's user, extension key and number.
func (b *licenseBook) index(l *License) {
	if l.User != "" {
		if b.byUser[l.Account] == nil {
			b.byUser[l.Account] = map[string][]string{}
		}
		b.byUser[l.Account][l.User] = append(b.byUser[l.Account][l.User], l.ID)
	}
	if l.ExtKey != "" {
		if b.ext[l.Account] == nil {
			b.ext[l.Account] = map[string]string{}
		}
		b.ext[l.Account][l.ExtKey] = l.ID
	}
	if l.Number != "" {
		if b.num[l.Account] == nil {
			b.num[l.Account] = map[string]string{}
		}
		b.num[l.Account][l.Number] = l.ID
	}
}

func (b *licenseBook) unindex(l *License) {
	if l.User != "" {
		ids := b.byUser[l.Account][l.User]
		for i, id := range ids {
			if id == l.ID {
				ids = append(ids[:i:i], ids[i+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(b.byUser[l.Account], l.User)
		} else {
			b.byUser[l.Account][l.User] = ids
		}
	}
	if l.ExtKey != "" && b.ext[l.Account][l.ExtKey] == l.ID {
		delete(b.ext[l.Account], l.ExtKey)
	}
	if l.Number != "" && b.num[l.Account][l.Number] == l.ID {
		delete(b.num[l.Account], l.Number)
	}
}

// userLicense returns user's base license of product, if any.
func (b *licenseBook) userLicense(account, user, product string) *License {
	for _, id := range b.byUser[account][user] {
		if l := b.licenses[id]; l != nil && l.Product == product {
			return l
		}
	}
	return nil
}

// free lists the unassigned (base) or unattached (add-on) licenses of a
// product in ID order, the order in which they are handed out.
func (b *licenseBook) free(account, product string) []*License {
	var out []*License
	for _, l := range b.byAccount[account] {
		if l.Product == product && l.User == "" && l.Parent == "" {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// idSource derives license UUIDs from a seed the leader put in the command,
// so that every node derives the same ones.
type idSource struct {
	seed string
	n    uint64
	b    *licenseBook
}

func (g *idSource) next() string {
	for {
		h := sha256.Sum256([]byte(g.seed + ":" + strconv.FormatUint(g.n, 10)))
		g.n++
		h[6] = (h[6] & 0x0f) | 0x40 // version 4 layout: the bits are uniform
		h[8] = (h[8] & 0x3f) | 0x80 // RFC 4122 variant
		x := hex.EncodeToString(h[:16])
		id := x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
		if _, taken := g.b.licenses[id]; !taken {
			return id
		}
	}
}

var (
	extPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$`)
	numberPattern = regexp.MustCompile(`^\+?[0-9]{3,15}$`)
	emailPattern  = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// NormalizeNumber turns a DID as people write it ("+1 (555) 010-0101") into
// the form the ledger stores and compares ("+15550100101"): an optional '+'
// and 3 to 15 digits (E.164 allows at most 15).
func NormalizeNumber(s string) (string, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '-', '(', ')', '.': // how people group digits
		default:
			b.WriteRune(r) // anything else, a '+' inside included, must pass the pattern
		}
	}
	n := b.String()
	if !numberPattern.MatchString(n) {
		return "", fmt.Errorf("malformed number %q: want an optional '+' and 3 to 15 digits (E.164)", s)
	}
	return n, nil
}

// ValidExtKey reports whether s may be an extension key: 1 to 16 letters,
// digits, '_' or '-'.
func ValidExtKey(s string) bool { return extPattern.MatchString(s) }

// NormalizeEmail is how user addresses are compared: trimmed, lower case.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SetProduct creates a product in an account's catalogue or changes its
// purchased quantity. Raising the quantity buys licenses (UUIDs derived from
// Seed); lowering it removes unassigned ones, newest first, and is refused
// when too few are unassigned.
type SetProduct struct {
	Account   string      `json:"account"`
	Code      string      `json:"code"`
	Name      string      `json:"name,omitempty"`
	Kind      ProductKind `json:"kind,omitempty"`
	Feature   string      `json:"feature,omitempty"`
	Extension bool        `json:"extension,omitempty"`
	Quantity  int         `json:"quantity"`
	Seed      string      `json:"seed"`
}

// LicenseView is a license as administrators read it, with the codes of its
// add-ons resolved.
type LicenseView struct {
	License
	Name       string   `json:"name,omitempty"`
	AddOnCodes []string `json:"addon_codes,omitempty"`
	ParentUser string   `json:"parent_user,omitempty"`
}

func (s *State) view(l *License) LicenseView {
	v := LicenseView{License: *l}
	v.AddOns = append([]string(nil), l.AddOns...)
	if p := s.lic.product(l.Account, l.Product); p != nil {
		v.Name = p.Name
	}
	for _, id := range l.AddOns {
		if a := s.lic.licenses[id]; a != nil {
			v.AddOnCodes = append(v.AddOnCodes, a.Product)
		}
	}
	if l.Parent != "" {
		if p := s.lic.licenses[l.Parent]; p != nil {
			v.ParentUser = p.User
		}
	}
	return v
}

func (s *State) setProduct(now time.Time, p *SetProduct) Result {
	if _, ok := s.accounts[p.Account]; !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", p.Account)
	}
	if !ValidID(p.Code) {
		return fail(protocol.CodeInvalidArgument, "product code %q must be 1-64 letters, digits, '.', '_' or '-'", p.Code)
	}
	if p.Quantity < 0 {
		return fail(protocol.CodeInvalidArgument, "quantity must not be negative, got %d", p.Quantity)
	}
	if p.Feature != "" && !ValidID(p.Feature) {
		return fail(protocol.CodeInvalidArgument, "feature name %q must be 1-64 letters, digits, '.', '_' or '-'", p.Feature)
	}
	prod := s.lic.product(p.Account, p.Code)
	if perr := s.checkEntitledProduct(now, p, prod); perr != nil {
		return Result{Error: perr}
	}
	if prod == nil {
		kind := p.Kind
		if kind == "" {
			kind = ProductBase
		}
		if kind != ProductBase && kind != ProductAddOn {
			return fail(protocol.CodeInvalidArgument, "product kind %q: want base or addon", p.Kind)
		}
		if kind == ProductAddOn && (p.Extension || p.Feature != "") {
			return fail(protocol.CodeInvalidArgument, "add-on %s cannot have an extension or a pool feature; those belong to base licenses", p.Code)
		}
		if p.Seed == "" && p.Quantity > 0 {
			return fail(protocol.CodeInvalidArgument, "buying licenses needs a seed for their UUIDs")
		}
		prod = &Product{Account: p.Account, Code: p.Code, Name: p.Name, Kind: kind, Feature: p.Feature, Extension: p.Extension, Created: now}
		if s.lic.products[p.Account] == nil {
			s.lic.products[p.Account] = map[string]*Product{}
		}
		s.lic.products[p.Account][p.Code] = prod
	} else {
		if p.Kind != "" && p.Kind != prod.Kind {
			return fail(protocol.CodeInvalidArgument, "product %s is a %s product; its kind cannot change", p.Code, prod.Kind)
		}
		if p.Quantity > prod.Quantity && p.Seed == "" {
			return fail(protocol.CodeInvalidArgument, "buying licenses needs a seed for their UUIDs")
		}
		if p.Quantity < prod.Quantity {
			free := s.lic.free(p.Account, p.Code)
			drop := prod.Quantity - p.Quantity
			if drop > len(free) {
				return fail(protocol.CodeSeatsInUse, "cannot lower %s/%s to %d licenses: %d of %d are assigned; unassign or terminate licenses first",
					p.Account, p.Code, p.Quantity, prod.Quantity-len(free), prod.Quantity)
			}
			// Newest first: the licenses bought last go first.
			sort.SliceStable(free, func(i, j int) bool {
				if !free[i].Created.Equal(free[j].Created) {
					return free[i].Created.After(free[j].Created)
				}
				return free[i].ID > free[j].ID
			})
			for _, l := range free[:drop] {
				s.lic.remove(l)
			}
		}
		if p.Name != "" {
			prod.Name = p.Name
		}
		if p.Feature != "" && prod.Kind == ProductBase {
			prod.Feature = p.Feature
		}
		if prod.Kind == ProductBase {
			prod.Extension = prod.Extension || p.Extension
		}
	}
	ids := idSource{seed: p.Seed, b: s.lic}
	for prod.Quantity < p.Quantity {
		s.lic.insert(&License{ID: ids.next(), Account: p.Account, Product: p.Code, Kind: prod.Kind, Created: now})
		prod.Quantity++
	}
	prod.Quantity = p.Quantity
	cp := *prod
	return Result{Product: &cp}
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkExtension validates an extension key and number for license l: both
// well formed and used by no other license of the account.
func (s *State) checkExtension(account string, l *License, extKey, number string) (string, string, *protocol.Error) {
	ext := strings.TrimSpace(extKey)
	if ext == "" {
		return "", "", protocol.Errorf(protocol.CodeInvalidArgument, "an extension-based license needs an extension key")
	}
	if !ValidExtKey(ext) {
		return "", "", protocol.Errorf(protocol.CodeInvalidArgument, "malformed extension key %q: want 1-16 letters, digits, '_' or '-'", ext)
	}
	if id, ok := s.lic.ext[account][ext]; ok && id != l.ID {
		return "", "", protocol.Errorf(protocol.CodeAlreadyExists, "extension %s is already assigned to %s (license %s)", ext, s.lic.licenses[id].User, id)
	}
	var num string
	if strings.TrimSpace(number) != "" {
		n, err := NormalizeNumber(number)
		if err != nil {
			return "", "", protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
		if id, ok := s.lic.num[account][n]; ok && id != l.ID {
			return "", "", protocol.Errorf(protocol.CodeAlreadyExists, "number %s is already assigned to %s (license %s)", n, s.lic.licenses[id].User, id)
		}
		num = n
	}
	return ext, num, nil
}

func (s *State) attach(base, addon *License) {
	addon.Parent = base.ID
	base.AddOns = append(base.AddOns, addon.ID)
	sort.Slice(base.AddOns, func(i, j int) bool {
		a, b := s.lic.licenses[base.AddOns[i]], s.lic.licenses[base.AddOns[j]]
		if a.Product != b.Product {
			return a.Product < b.Product
		}
		return a.ID < b.ID
	})
}

func (s *State) detach(base, addon *License) {
	addon.Parent = ""
	for i, id := range base.AddOns {
		if id == addon.ID {
			base.AddOns = append(base.AddOns[:i:i], base.AddOns[i+1:]...)
			break
		}
	}
	if len(base.AddOns) == 0 {
		base.AddOns = nil
	}
}

func (s *State) detachAll(base *License) {
	for _, id := range base.AddOns {
		if a := s.lic.licenses[id]; a != nil {
			a.Parent = ""
		}
	}
	base.AddOns = nil
}

// licenseClaims returns the base license user holds for a pool feature and
// its add-on codes, sorted: what a lease granted to user records and its
// token carries.
func (s *State) licenseClaims(account, feature, user string) (string, []string) {
	if user == "" {
		return "", nil
	}
	ids := s.lic.byUser[account][NormalizeEmail(user)]
	var best *License
	for _, id := range ids {
		l := s.lic.licenses[id]
		if l == nil {
			continue
		}
		if p := s.lic.product(account, l.Product); p != nil && p.PoolFeature() == feature && (best == nil || l.ID < best.ID) {
			best = l
		}
	}
	if best == nil {
		return "", nil
	}
	var codes []string
	for _, id := range best.AddOns {
		if a := s.lic.licenses[id]; a != nil {
			codes = append(codes, a.Product)
		}
	}
	return best.ID, s.entitledAddOns(account, feature, codes)
}

// --- reads ---

// Products lists an account's catalogue sorted by kind (base first) and code.
func (s *State) Products(account string) []Product {
	out := make([]Product, 0, len(s.lic.products[account]))
	for _, p := range s.lic.products[account] {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == ProductBase
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// ProductUsage is a product with how many of its licenses are in use.
type ProductUsage struct {
	Product
	Assigned int `json:"assigned"`
	Free     int `json:"free"`
}

// ProductUsage reports each product of an account with its assigned and
// free licenses.
func (s *State) ProductUsage(account string) []ProductUsage {
	used := map[string]int{}
	for _, l := range s.lic.byAccount[account] {
		if l.User != "" || l.Parent != "" {
			used[l.Product]++
		}
	}
	var out []ProductUsage
	for _, p := range s.Products(account) {
		out = append(out, ProductUsage{Product: p, Assigned: used[p.Code], Free: p.Quantity - used[p.Code]})
	}
	return out
}

// LicenseFilter selects licenses; empty fields match everything.
type LicenseFilter struct {
	Product string // product code (base or add-on)
	User    string // the assigned user (add-ons: their base license's user)
	Ext     string // extension key or number
	// Status is "assigned", "free" or "" for both.
	Status string
}

// Licenses lists an account's licenses matching f, base licenses first,
// then by product and ID.
func (s *State) Licenses(account string, f LicenseFilter) []LicenseView {
	user := NormalizeEmail(f.User)
	var num string
	if f.Ext != "" {
		num, _ = NormalizeNumber(f.Ext)
	}
	var out []LicenseView
	for _, l := range s.lic.byAccount[account] {
		if f.Product != "" && l.Product != f.Product {
			continue
		}
		v := s.view(l)
		holder := l.User
		if l.Kind == ProductAddOn {
			holder = v.ParentUser
		}
		if user != "" && holder != user {
			continue
		}
		assigned := holder != ""
		if (f.Status == "assigned" && !assigned) || (f.Status == "free" && assigned) {
			continue
		}
		if f.Ext != "" {
			base := l
			if l.Kind == ProductAddOn {
				base = s.lic.licenses[l.Parent]
			}
			if base == nil || (base.ExtKey != f.Ext && (num == "" || base.Number != num)) {
				continue
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == ProductBase
		}
		if out[i].Product != out[j].Product {
			return out[i].Product < out[j].Product
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// License returns one license by UUID.
func (s *State) License(id string) (LicenseView, bool) {
	l, ok := s.lic.licenses[id]
	if !ok {
		return LicenseView{}, false
	}
	return s.view(l), true
}

// --- snapshot ---

type licenseSnapshot struct {
	Products []*Product `json:"products,omitempty"`
	Licenses []*License `json:"licenses,omitempty"`
}

func (b *licenseBook) snapshot() licenseSnapshot {
	var out licenseSnapshot
	for _, ps := range b.products {
		for _, p := range ps {
			out.Products = append(out.Products, p)
		}
	}
	sort.Slice(out.Products, func(i, j int) bool {
		a, c := out.Products[i], out.Products[j]
		return a.Account < c.Account || (a.Account == c.Account && a.Code < c.Code)
	})
	for _, l := range b.licenses {
		out.Licenses = append(out.Licenses, l)
	}
	sort.Slice(out.Licenses, func(i, j int) bool { return out.Licenses[i].ID < out.Licenses[j].ID })
	return out
}

func restoreLicenseBook(snap licenseSnapshot) *licenseBook {
	b := newLicenseBook()
	for _, p := range snap.Products {
		if b.products[p.Account] == nil {
			b.products[p.Account] = map[string]*Product{}
		}
		b.products[p.Account][p.Code] = p
	}
	for _, l := range snap.Licenses {
		b.insert(l)
	}
	// byUser order must not depend on map iteration: keep IDs sorted.
	for _, users := range b.byUser {
		for _, ids := range users {
			sort.Strings(ids)
		}
	}
	return b
}
