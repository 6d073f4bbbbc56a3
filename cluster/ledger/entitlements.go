package ledger

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// Vendor entitlements (docs/design.md#vendors). A cluster-wide administrator
// trusts a vendor's public key; an account's administrator imports the
// entitlements that vendor signed for it. From its first entitlement on, an
// account is vendor-managed: its pools, seats, model, overage and
// subscription end stay inside its valid entitlements, every grant names the
// entitlement it was made under (the token's ent claim) and ends no later
// than it, and a feature no valid entitlement covers is refused with
// not_entitled. Checking the vendor's Ed25519 signature is deterministic, so
// Apply does it itself: a trailing copy or a forged proposal cannot import
// an entitlement the vendor did not sign.

// VendorKey is a vendor public key the cluster trusts.
type VendorKey struct {
	KeyID     string            `json:"kid"`
	Name      string            `json:"name"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	Added     time.Time         `json:"added"`
}

// AccountEntitlement is an imported entitlement as the ledger keeps it.
type AccountEntitlement struct {
	Account    string                `json:"account"`
	Serial     string                `json:"serial"`
	Digest     string                `json:"digest"`
	JWS        string                `json:"jws"`
	VendorKey  string                `json:"vendor_kid"`
	Vendor     string                `json:"vendor"`
	Customer   string                `json:"customer"`
	Supersedes string                `json:"supersedes,omitempty"`
	Model      string                `json:"model,omitempty"`
	Features   []entitlement.Feature `json:"features"`
	NotBefore  time.Time             `json:"not_before"`
	Expires    time.Time             `json:"expires"`
	Imported   time.Time             `json:"imported"`
}

// Claim is the ent claim of leases granted under e.
func (e *AccountEntitlement) Claim() string { return e.Serial + ":" + e.Digest }

func (e *AccountEntitlement) validAt(t time.Time) bool {
	return !t.Before(e.NotBefore) && t.Before(e.Expires)
}

func (e *AccountEntitlement) feature(name string) *entitlement.Feature {
	for i := range e.Features {
		if e.Features[i].Name == name {
			return &e.Features[i]
		}
	}
	return nil
}

// TrustVendor adds (or, with Remove, withdraws) a vendor public key.
type TrustVendor struct {
	Name      string            `json:"name"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	Remove    bool              `json:"remove,omitempty"`
}

// ImportEntitlement adds a vendor-signed entitlement to an account.
type ImportEntitlement struct {
	Account string `json:"account"`
	JWS     string `json:"jws"`
}

// denialKey counts refused checkouts per day, feature, team and reason.
type denialKey struct {
	Day, Account, Feature, Team string
	Code                        protocol.Code
}

// Denial is one count of refused checkouts.
type Denial struct {
	Day     string        `json:"day"`
	Account string        `json:"account"`
	Feature string        `json:"feature"`
	Team    string        `json:"team,omitempty"`
	Code    protocol.Code `json:"code"`
	Count   int           `json:"count"`
}

// DenialMemory is how long daily denial counts are kept.
const DenialMemory = 400 * 24 * time.Hour

type vendorBook struct {
	keys map[string]*VendorKey
	// current holds each account's entitlements that no later one
	// superseded, sorted by serial.
	current map[string][]*AccountEntitlement
	// replaced remembers superseded serials per account, so an old
	// entitlement cannot be imported again.
	replaced map[string]map[string]string
	denials  map[denialKey]int
}

func newVendorBook() *vendorBook {
	return &vendorBook{keys: map[string]*VendorKey{}, current: map[string][]*AccountEntitlement{}, replaced: map[string]map[string]string{}, denials: map[denialKey]int{}}
}

func (s *State) trustVendor(now time.Time, c *TrustVendor) Result {
	if len(c.PublicKey) != ed25519.PublicKeySize {
		return fail(protocol.CodeInvalidArgument, "a vendor key is an Ed25519 public key of %d bytes, got %d", ed25519.PublicKeySize, len(c.PublicKey))
	}
	kid := entitlement.KeyID(c.PublicKey)
	if c.Remove {
		if _, ok := s.ven.keys[kid]; !ok {
			return fail(protocol.CodeNotFound, "vendor key %s is not trusted", kid)
		}
		delete(s.ven.keys, kid)
		return Result{}
	}
	if strings.TrimSpace(c.Name) == "" {
		return fail(protocol.CodeInvalidArgument, "a trusted vendor key needs the vendor's name")
	}
	s.ven.keys[kid] = &VendorKey{KeyID: kid, Name: c.Name, PublicKey: slices.Clone(c.PublicKey), Added: now}
	return Result{}
}

func (s *State) vendorKeys() []ed25519.PublicKey {
	kids := make([]string, 0, len(s.ven.keys))
	for k := range s.ven.keys {
		kids = append(kids, k)
	}
	sort.Strings(kids)
	out := make([]ed25519.PublicKey, len(kids))
	for i, k := range kids {
		out[i] = s.ven.keys[k].PublicKey
	}
	return out
}

func (s *State) importEntitlement(now time.Time, c *ImportEntitlement) Result {
	acct, ok := s.accounts[c.Account]
	if !ok {
		return fail(protocol.CodeUnknownAccount, "no account %q", c.Account)
	}
	if len(s.ven.keys) == 0 {
		return fail(protocol.CodeInvalidArgument, "this cluster trusts no vendor key yet: a cluster administrator adds one with `tallyctl vendors trust NAME KEY.pub`")
	}
	signed, err := entitlement.Verify(c.JWS, s.vendorKeys()...)
	if err != nil {
		return fail(protocol.CodeInvalidArgument, "%v", err)
	}
	e := &signed.Entitlement
	if b := e.Cluster; b != nil && b.ID != "" && b.ID != s.clusterID {
		return fail(protocol.CodeInvalidArgument, "entitlement %s is for cluster %s, this is cluster %s", e.Serial, b.ID, s.clusterID)
	}
	if !now.Before(e.Expires) {
		return fail(protocol.CodeInvalidArgument, "entitlement %s ended at %s", e.Serial, e.Expires.UTC().Format(time.RFC3339))
	}
	if by, ok := s.ven.replaced[acct.ID][e.Serial]; ok {
		return fail(protocol.CodeAlreadyExists, "entitlement %s was superseded by %s and cannot be imported again", e.Serial, by)
	}
	cur := s.ven.current[acct.ID]
	for _, old := range cur {
		if old.Serial == e.Serial {
			if old.Digest == signed.Digest {
				return Result{} // the same file again: nothing to do
			}
			return fail(protocol.CodeAlreadyExists, "account %s already has an entitlement %s with other contents; a change needs a new serial that supersedes it", acct.ID, e.Serial)
		}
	}
	if e.Model != "" && string(acct.Model) != e.Model {
		return fail(protocol.CodeEntitlementLimit, "entitlement %s is for the %s model, account %s is %s", e.Serial, e.Model, acct.ID, acct.Model)
	}
	next := &AccountEntitlement{
		Account: acct.ID, Serial: e.Serial, Digest: signed.Digest, JWS: signed.JWS, VendorKey: signed.VendorKeyID,
		Vendor: e.Vendor, Customer: e.Customer, Supersedes: e.Supersedes, Model: e.Model,
		Features: slices.Clone(e.Features), NotBefore: e.NotBefore, Expires: e.Expires, Imported: now,
	}
	var kept []*AccountEntitlement
	for _, old := range cur {
		if old.Serial != e.Supersedes {
			kept = append(kept, old)
		}
	}
	after := append(kept, next)
	// Seats follow the entitlements: a pool is set to what they allow, and
	// a downgrade goes no lower than the seats in use (renewal rule).
	at := now
	if next.NotBefore.After(at) {
		at = next.NotBefore
	}
	seats := entitledSeats(after, at)
	for _, f := range sortedFeatures(seats) {
		if inUse := len(s.byPool[poolKey{acct.ID, f}]); inUse > seats[f] {
			return fail(protocol.CodeSeatsInUse, "entitlement %s allows %d seats of %s/%s but %d are in use; release or revoke leases first", e.Serial, seats[f], acct.ID, f, inUse)
		}
	}
	for _, f := range sortedFeatures(seats) {
		if pool, ok := acct.Pools[f]; ok {
			pool.Seats = seats[f]
		} else {
			acct.Pools[f] = &Pool{Feature: f, Seats: seats[f], Created: now}
		}
	}
	if e.Supersedes != "" && len(kept) < len(cur) {
		if s.ven.replaced[acct.ID] == nil {
			s.ven.replaced[acct.ID] = map[string]string{}
		}
		s.ven.replaced[acct.ID][e.Supersedes] = e.Serial
	}
	sort.Slice(after, func(i, j int) bool { return after[i].Serial < after[j].Serial })
	s.ven.current[acct.ID] = after
	return Result{}
}

// entitledSeats sums, per feature, the seats of the entitlements valid at t.
func entitledSeats(ents []*AccountEntitlement, t time.Time) map[string]int {
	out := map[string]int{}
	for _, e := range ents {
		if !e.validAt(t) {
			continue
		}
		for _, f := range e.Features {
			out[f.Name] += f.Seats
		}
	}
	return out
}

func sortedFeatures(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// vendorManaged reports whether an account's limits come from entitlements.
func (s *State) vendorManaged(account string) bool { return len(s.ven.current[account]) > 0 }

// entitlementFor is the entitlement a grant of feature at now is made
// under: of the valid ones covering the feature, the one that ends last
// (serial breaks ties). nil with an error when none covers it.
func (s *State) entitlementFor(account, feature string, now time.Time) (*AccountEntitlement, *protocol.Error) {
	ents := s.ven.current[account]
	var best, ended *AccountEntitlement
	for _, e := range ents {
		if e.feature(feature) == nil {
			continue
		}
		if !e.validAt(now) {
			if ended == nil || e.Expires.After(ended.Expires) {
				ended = e
			}
			continue
		}
		if best == nil || e.Expires.After(best.Expires) {
			best = e
		}
	}
	switch {
	case best != nil:
		return best, nil
	case ended != nil && !now.Before(ended.Expires):
		return nil, protocol.Errorf(protocol.CodeNotEntitled, "entitlement %s for %s/%s ended at %s: no new grants until a renewal is imported", ended.Serial, account, feature, ended.Expires.UTC().Format(time.RFC3339))
	case ended != nil:
		return nil, protocol.Errorf(protocol.CodeNotEntitled, "entitlement %s for %s/%s starts at %s", ended.Serial, account, feature, ended.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil, protocol.Errorf(protocol.CodeNotEntitled, "no entitlement of account %s covers feature %s (it has %s)", account, feature, s.entitlementNames(account))
}

func (s *State) entitlementNames(account string) string {
	var names []string
	for _, e := range s.ven.current[account] {
		names = append(names, e.Serial)
	}
	return strings.Join(names, ", ")
}

// grantEntitlement applies an account's entitlements to a grant or renewal
// at now: it returns the ent claim, the horizon capped at the entitlement's
// end and the add-ons it allows. Accounts without entitlements pass through.
func (s *State) grantEntitlement(now time.Time, l *Lease, h time.Time) (time.Time, *protocol.Error) {
	if !s.vendorManaged(l.Account) {
		l.Entitlement = ""
		return h, nil
	}
	e, perr := s.entitlementFor(l.Account, l.Feature, now)
	if perr != nil {
		return h, perr
	}
	l.Entitlement = e.Claim()
	if h.After(e.Expires) {
		h = e.Expires
	}
	return h, nil
}

// entitledAddOns keeps the add-on codes the entitlement a grant of feature
// is made under allows (all of them for accounts without entitlements).
func (s *State) entitledAddOns(account, feature string, codes []string) []string {
	if !s.vendorManaged(account) || len(codes) == 0 {
		return codes
	}
	e, perr := s.entitlementFor(account, feature, s.lastNow)
	if perr != nil {
		return nil
	}
	f := e.feature(feature)
	var kept []string
	for _, a := range codes {
		if slices.Contains(f.AddOns, a) {
			kept = append(kept, a)
		}
	}
	return kept
}

// checkEntitledSeats refuses pool seats beyond what the account's valid
// entitlements allow.
func (s *State) checkEntitledSeats(now time.Time, account, feature string, seats int) *protocol.Error {
	if !s.vendorManaged(account) {
		return nil
	}
	allowed := entitledSeats(s.ven.current[account], now)[feature]
	if allowed == 0 {
		return protocol.Errorf(protocol.CodeEntitlementLimit, "no valid entitlement of account %s covers feature %s (it has %s)", account, feature, s.entitlementNames(account))
	}
	if seats > allowed {
		return protocol.Errorf(protocol.CodeEntitlementLimit, "account %s is entitled to %d seats of %s (%s); %d is more", account, allowed, feature, s.entitlementsCovering(account, feature, now), seats)
	}
	return nil
}

// checkEntitledProduct refuses, in a vendor-managed account, named licenses
// of a base product beyond the entitled seats of its pool's feature, and an
// add-on product whose code no valid entitlement lists.
func (s *State) checkEntitledProduct(now time.Time, p *SetProduct, existing *Product) *protocol.Error {
	if !s.vendorManaged(p.Account) {
		return nil
	}
	kind, feature := p.Kind, p.Feature
	if existing != nil {
		kind, feature = existing.Kind, existing.PoolFeature()
	}
	if kind == "" {
		kind = ProductBase
	}
	if kind == ProductAddOn {
		for _, e := range s.ven.current[p.Account] {
			if !e.validAt(now) {
				continue
			}
			for _, f := range e.Features {
				if slices.Contains(f.AddOns, p.Code) {
					return nil
				}
			}
		}
		return protocol.Errorf(protocol.CodeEntitlementLimit, "no valid entitlement of account %s lists add-on %s (it has %s)", p.Account, p.Code, s.entitlementNames(p.Account))
	}
	if feature == "" {
		feature = p.Code
	}
	return s.checkEntitledSeats(now, p.Account, feature, p.Quantity)
}

// checkEntitledOverage refuses an overage allowance beyond the entitlements'.
func (s *State) checkEntitledOverage(now time.Time, account, feature string, overage int) *protocol.Error {
	if !s.vendorManaged(account) || overage == 0 {
		return nil
	}
	allowed := 0
	for _, e := range s.ven.current[account] {
		if f := e.feature(feature); f != nil && e.validAt(now) {
			allowed += f.Overage
		}
	}
	if overage > allowed {
		return protocol.Errorf(protocol.CodeEntitlementLimit, "account %s's entitlements (%s) allow an overage of %d seats of %s; %d is more", account, s.entitlementsCovering(account, feature, now), allowed, feature, overage)
	}
	return nil
}

// checkEntitledPolicy refuses an overage allowance or a subscription end
// that goes beyond a vendor-managed account's entitlements.
func (s *State) checkEntitledPolicy(now time.Time, acct *Account, c *SetPolicy) *protocol.Error {
	if !s.vendorManaged(acct.ID) {
		return nil
	}
	if c.Policy.Overage > 0 {
		features := []string{c.Feature}
		if c.Feature == "" {
			features = features[:0]
			for f := range acct.Pools {
				features = append(features, f)
			}
			sort.Strings(features)
		}
		for _, f := range features {
			if perr := s.checkEntitledOverage(now, acct.ID, f, c.Policy.Overage); perr != nil {
				return perr
			}
		}
	}
	if c.ClearSubscriptionEnd || !c.SubscriptionEnd.IsZero() {
		return s.checkEntitledEnd(acct.ID, c.SubscriptionEnd)
	}
	return nil
}

// checkEntitledEnd refuses a subscription end after every entitlement ends.
func (s *State) checkEntitledEnd(account string, end time.Time) *protocol.Error {
	if !s.vendorManaged(account) {
		return nil
	}
	var last *AccountEntitlement
	for _, e := range s.ven.current[account] {
		if last == nil || e.Expires.After(last.Expires) {
			last = e
		}
	}
	if end.IsZero() || end.After(last.Expires) {
		return protocol.Errorf(protocol.CodeEntitlementLimit, "account %s's entitlements end at %s (%s); a subscription cannot run past it", account, last.Expires.UTC().Format(time.RFC3339), last.Serial)
	}
	return nil
}

func (s *State) entitlementsCovering(account, feature string, now time.Time) string {
	var names []string
	for _, e := range s.ven.current[account] {
		if f := e.feature(feature); f != nil && e.validAt(now) {
			names = append(names, fmt.Sprintf("%s: %d", e.Serial, f.Seats))
		}
	}
	if len(names) == 0 {
		return "none valid now"
	}
	return strings.Join(names, ", ")
}

// countDenial records a refused checkout against its day, feature, team and
// reason. Refusals are Apply results, so every node counts the same.
func (s *State) countDenial(now time.Time, c *Checkout, code protocol.Code) {
	if c == nil {
		return
	}
	switch code {
	case protocol.CodeNotLeader, protocol.CodeUnavailable, protocol.CodeTimeout, protocol.CodeInternal, protocol.CodeBadRequest:
		return // not a decision about a seat
	}
	k := denialKey{Day: now.UTC().Format(time.DateOnly), Account: c.Account, Feature: c.Feature, Team: c.Team, Code: code}
	s.ven.denials[k]++
}

func (s *State) pruneDenials(now time.Time) {
	cut := now.Add(-DenialMemory).UTC().Format(time.DateOnly)
	for k := range s.ven.denials {
		if k.Day < cut {
			delete(s.ven.denials, k)
		}
	}
}

func (c *TrustVendor) describe() (string, string) {
	verb := "trust"
	if c.Remove {
		verb = "stop trusting"
	}
	return "", fmt.Sprintf("%s vendor key %s (%s)", verb, entitlement.KeyID(c.PublicKey), c.Name)
}

func (c *ImportEntitlement) describe() (string, string) {
	serial := "?"
	if e, err := entitlement.ParseUnverified(c.JWS); err == nil {
		serial = e.Serial
	}
	return c.Account, "import entitlement " + serial
}

// --- reads ---

// VendorKeys lists the trusted vendor keys, by kid.
func (s *State) VendorKeys() []VendorKey {
	var out []VendorKey
	for _, k := range s.ven.keys {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out
}

// Entitlements lists an account's current entitlements, by serial.
func (s *State) Entitlements(account string) []AccountEntitlement {
	var out []AccountEntitlement
	for _, e := range s.ven.current[account] {
		out = append(out, *e)
	}
	return out
}

// Denials lists denial counts for an account (all accounts when empty) on
// days in [from, to] (YYYY-MM-DD; empty: unbounded), sorted.
func (s *State) Denials(account, from, to string) []Denial {
	var out []Denial
	for k, n := range s.ven.denials {
		if (account != "" && k.Account != account) || (from != "" && k.Day < from) || (to != "" && k.Day > to) {
			continue
		}
		out = append(out, Denial{Day: k.Day, Account: k.Account, Feature: k.Feature, Team: k.Team, Code: k.Code, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Feature != b.Feature {
			return a.Feature < b.Feature
		}
		if a.Team != b.Team {
			return a.Team < b.Team
		}
		return a.Code < b.Code
	})
	return out
}

// --- snapshot ---

type vendorSnapshot struct {
	Keys         []*VendorKey          `json:"keys,omitempty"`
	Entitlements []*AccountEntitlement `json:"entitlements,omitempty"`
	Replaced     []replacedSerial      `json:"replaced,omitempty"`
	Denials      []Denial              `json:"denials,omitempty"`
}

type replacedSerial struct {
	Account string `json:"account"`
	Serial  string `json:"serial"`
	By      string `json:"by"`
}

func (b *vendorBook) snapshot(s *State) *vendorSnapshot {
	out := &vendorSnapshot{Denials: s.Denials("", "", "")}
	for _, k := range s.VendorKeys() {
		out.Keys = append(out.Keys, &k)
	}
	accts := make([]string, 0, len(b.current))
	for a := range b.current {
		accts = append(accts, a)
	}
	sort.Strings(accts)
	for _, a := range accts {
		out.Entitlements = append(out.Entitlements, b.current[a]...)
	}
	for a, m := range b.replaced {
		for serial, by := range m {
			out.Replaced = append(out.Replaced, replacedSerial{Account: a, Serial: serial, By: by})
		}
	}
	sort.Slice(out.Replaced, func(i, j int) bool {
		return out.Replaced[i].Account+"\x00"+out.Replaced[i].Serial < out.Replaced[j].Account+"\x00"+out.Replaced[j].Serial
	})
	if len(out.Keys) == 0 && len(out.Entitlements) == 0 && len(out.Replaced) == 0 && len(out.Denials) == 0 {
		return nil
	}
	return out
}

func restoreVendorBook(snap *vendorSnapshot) *vendorBook {
	b := newVendorBook()
	if snap == nil {
		return b
	}
	for _, k := range snap.Keys {
		b.keys[k.KeyID] = k
	}
	for _, e := range snap.Entitlements {
		b.current[e.Account] = append(b.current[e.Account], e)
	}
	for _, r := range snap.Replaced {
		if b.replaced[r.Account] == nil {
			b.replaced[r.Account] = map[string]string{}
		}
		b.replaced[r.Account][r.Serial] = r.By
	}
	for _, d := range snap.Denials {
		b.denials[denialKey{Day: d.Day, Account: d.Account, Feature: d.Feature, Team: d.Team, Code: d.Code}] = d.Count
	}
	return b
}

// SigningKeyCertified reports whether a registered signing key carries its
// certificate from the cluster CA.
func (s *State) SigningKeyCertified(kid string) bool {
	k, ok := s.keys[kid]
	return ok && len(k.Certificate) > 0
}

// SigningKeyCertificates lists the certificates of the registered signing
// keys (PEM), sorted by kid: the key_certs of an entitlement bundle.
func (s *State) SigningKeyCertificates() []string {
	var out []string
	for _, k := range s.SigningKeys() {
		if len(k.Certificate) > 0 {
			out = append(out, string(k.Certificate))
		}
	}
	return out
}

// TrueUp is the account's usage over [from, to) for the vendor: per pool,
// the entitlement that covers it (at to), seats, peak, seat-days, the days
// its peak went over its seats, and the refused checkouts.
func (s *State) TrueUp(account string, from, to time.Time) entitlement.Report {
	rep := entitlement.Report{Cluster: s.clusterID, Account: account, From: from.UTC(), To: to.UTC()}
	fromDay, toDay := from.UTC().Format(time.DateOnly), to.UTC().Add(-time.Nanosecond).Format(time.DateOnly)
	denied := map[string]int{}
	for _, d := range s.Denials(account, fromDay, toDay) {
		denied[d.Feature] += d.Count
		rep.Denials = append(rep.Denials, entitlement.DenialCount{Day: d.Day, Feature: d.Feature, Team: d.Team, Code: string(d.Code), Count: d.Count})
	}
	usage := map[string]PoolSeatDays{}
	for _, u := range s.UsageReport(account, from, to) {
		usage[u.Feature] = u
	}
	acct := s.accounts[account]
	features := map[string]bool{}
	for f := range usage {
		features[f] = true
	}
	for f := range denied {
		features[f] = true
	}
	if acct != nil {
		for f := range acct.Pools {
			features[f] = true
		}
	}
	names := make([]string, 0, len(features))
	for f := range features {
		names = append(names, f)
	}
	sort.Strings(names)
	days := int(to.Sub(from).Hours()/24) + 1
	for _, f := range names {
		line := entitlement.ReportLine{Feature: f, Peak: usage[f].PeakSeats, SeatDays: usage[f].SeatDays, Denials: denied[f]}
		if e, perr := s.entitlementFor(account, f, to.Add(-time.Nanosecond)); perr == nil {
			line.Serial = e.Serial
		}
		if acct != nil && acct.Pools[f] != nil {
			line.Seats = acct.Pools[f].Seats
			for _, p := range s.dailyPeaks(account, f, from, days) {
				if p.Day >= fromDay && p.Day <= toDay && p.Peak > line.Seats {
					line.OverageDays++
				}
			}
		}
		rep.Lines = append(rep.Lines, line)
	}
	return rep
}

// NotifyEntitlementExpiry is the reminder kind sent before an account's
// vendor entitlement ends (daemon/notify).
const NotifyEntitlementExpiry = "entitlement-expiry"
