package adminapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// The authority model: who may call which route. authorize (scope.go)
// enforces it request by request; MayCall states it as a function of the
// role alone, so that docs/security.md's table is generated from it
// (AuthorityTable, checked by TestAuthorityTableIsInTheDocs) and the
// walk test (e2e TestAuthorityWalk) checks both against a real tallyd.

// Caller is a column of the authority table: an access role, and whether
// its token is limited to one account.
type Caller struct {
	Name    string
	Role    ledger.AccessRole
	Account bool
}

// Callers are the admin API's kinds of caller. Console sessions take the
// access of their member's role: an owner's session is account-owner, an
// administrator's or Administrator Assistant's account-admin, an
// Assistant's read-only, a team administrator's team-admin; a plain member
// gets no session.
var Callers = []Caller{
	{"cluster-admin", ledger.RoleClusterAdmin, false},
	{"read-only (cluster)", ledger.RoleReadOnly, false},
	{"account-owner", ledger.RoleAccountOwner, true},
	{"account-admin", ledger.RoleAccountAdmin, true},
	{"read-only (account)", ledger.RoleReadOnly, true},
	{"team-admin", ledger.RoleTeamAdmin, true},
}

// MayCall reports whether c may call the route pattern at all (for its own
// account, when c is limited to one). Handlers refine some allowed calls
// further by the request's content — a role grants only roles at or below
// its own (grants.go), a team administrator only changes their teams — and
// those refinements are listed under the table in docs/security.md.
func (c Caller) MayCall(pattern string) bool {
	method, _, _ := strings.Cut(pattern, " ")
	switch {
	case c.Role == ledger.RoleClusterAdmin:
		return true
	case keyMaterial[pattern]:
		return false
	case c.Role == ledger.RoleReadOnly && method != http.MethodGet:
		return false
	case c.Role == ledger.RoleTeamAdmin && method != http.MethodGet && !teamAdminWrites[pattern]:
		return false
	case !c.Account:
		return true // a cluster-wide read-only token reads everything else
	}
	_, scoped := scopeRules[pattern]
	return scoped
}

// AuthorityTable is the markdown table of every authenticated route
// against every caller, for docs/security.md.
func AuthorityTable() string {
	var b strings.Builder
	b.WriteString("| Route |")
	for _, c := range Callers {
		b.WriteString(" " + c.Name + " |")
	}
	b.WriteString("\n|---|")
	for range Callers {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	routes := Routes()
	sort.Slice(routes, func(i, j int) bool {
		pi, pj := strings.SplitN(routes[i], " ", 2), strings.SplitN(routes[j], " ", 2)
		if pi[1] != pj[1] {
			return pi[1] < pj[1]
		}
		return pi[0] < pj[0]
	})
	for _, r := range routes {
		fmt.Fprintf(&b, "| `%s` |", r)
		for _, c := range Callers {
			if c.MayCall(r) {
				b.WriteString(" ✓ |")
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
