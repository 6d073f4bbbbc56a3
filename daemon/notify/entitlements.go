package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// EntitlementExpiry reminds daily while one of an account's vendor
// entitlements ends within Within and no later one covers its features:
// at its end new grants of those features stop (not_entitled).
type EntitlementExpiry struct{ Within time.Duration }

func (s EntitlementExpiry) Due(st *ledger.State, now time.Time) []Reminder {
	var out []Reminder
	for _, a := range st.Accounts() {
		ents := st.Entitlements(a.ID)
		var ending []string
		for _, e := range ents {
			if !e.Expires.After(now) || e.Expires.Sub(now) > s.Within || renewed(e, ents) {
				continue
			}
			var feats []string
			for _, f := range e.Features {
				feats = append(feats, f.Name)
			}
			ending = append(ending, fmt.Sprintf("- %s from %s (%s) ends %s (in %s)", e.Serial, e.Vendor, strings.Join(feats, ", "),
				e.Expires.UTC().Format("Monday 2 January 2006 15:04 MST"), untilText(e.Expires.Sub(now))))
		}
		if len(ending) == 0 {
			continue
		}
		sort.Strings(ending)
		out = append(out, Reminder{Account: a.ID, Kind: ledger.NotifyEntitlementExpiry,
			Subject: fmt.Sprintf("Tally: a vendor entitlement of %s ends soon", a.Name),
			Body: fmt.Sprintf("These vendor entitlements of account %s (%s) end soon:\n\n%s\n\n"+
				"At its end no new lease of its features is granted and leases already out end with it. "+
				"Ask the vendor for a renewal and import it with `tallyctl entitlements import %s FILE`.\n",
				a.Name, a.ID, strings.Join(ending, "\n"), a.ID)})
	}
	return out
}

// renewed reports whether another entitlement, valid past e's end, covers
// every feature of e.
func renewed(e ledger.AccountEntitlement, all []ledger.AccountEntitlement) bool {
	for _, f := range e.Features {
		covered := false
		for _, o := range all {
			if o.Serial == e.Serial || !o.Expires.After(e.Expires) || o.NotBefore.After(e.Expires) {
				continue
			}
			for _, g := range o.Features {
				if g.Name == f.Name {
					covered = true
				}
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// untilText is a duration for people: hours under two days, days above.
func untilText(d time.Duration) string {
	if h := int(d.Hours()); h < 48 {
		if h < 1 {
			return "less than an hour"
		}
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
