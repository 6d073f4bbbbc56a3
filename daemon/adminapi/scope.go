package adminapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// How an account-scoped token's request is tied to an account. Every
// authenticated route must appear in scopeRules to be usable by such a
// token; a route missing from the table is refused to them, so a new
// endpoint is closed to account administrators until someone decides how
// it is scoped (and TestEveryEndpointRefusesOtherAccounts walks them all).
type scopeRule int

const (
	// scopePath: the {account} path segment.
	scopePath scopeRule = iota + 1
	// scopeQuery: the account= query parameter, forced to the token's
	// account (a listing or report that filters by it).
	scopeQuery
	// scopeLease, scopeLicense, scopeAdminToken: the account of the
	// resource named by {id}.
	scopeLease
	scopeLicense
	scopeAdminToken
	// scopeHandler: the handler checks the request body against the
	// caller's scope (callerToken).
	scopeHandler
)

// Commercial terms are not in the table, so only cluster-wide tokens
// change them: what an account bought (pool seats, product quantities,
// member seats), its plans, subscription and renewals. An account's own
// administrators manage everything inside those limits; letting them raise
// the limits would make "never more seats than purchased" meaningless.
var scopeRules = map[string]scopeRule{
	"GET /v1/status":       scopeQuery,
	"GET /v1/leases":       scopeQuery,
	"GET /v1/queue":        scopeQuery,
	"GET /v1/accounts":     scopeQuery,
	"GET /v1/devices":      scopeQuery,
	"GET /v1/audit":        scopeQuery,
	"GET /v1/usage-report": scopeQuery,
	"GET /v1/admin-tokens": scopeQuery,
	"GET /v1/events":       scopeQuery,

	"POST /v1/leases/{id}/revoke": scopeLease,

	"GET /v1/accounts/{account}":                         scopePath,
	"GET /v1/accounts/{account}/pools":                   scopePath,
	"GET /v1/accounts/{account}/enroll-tokens":           scopePath,
	"POST /v1/accounts/{account}/enroll-tokens":          scopePath,
	"DELETE /v1/accounts/{account}/enroll-tokens/{id}":   scopePath,
	"GET /v1/accounts/{account}/products":                scopePath,
	"GET /v1/accounts/{account}/licenses":                scopePath,
	"POST /v1/accounts/{account}/licenses/assign":        scopePath,
	"GET /v1/accounts/{account}/assignments":             scopePath,
	"POST /v1/accounts/{account}/assignments/import":     scopePath,
	"POST /v1/accounts/{account}/assignments/import.csv": scopePath,
	"GET /v1/licenses/{id}":                              scopeLicense,
	"POST /v1/licenses/{id}/unassign":                    scopeLicense,
	"POST /v1/licenses/{id}/reassign":                    scopeLicense,
	"POST /v1/licenses/{id}/addons":                      scopeLicense,
	"DELETE /v1/licenses/{id}/addons/{code}":             scopeLicense,
	"PUT /v1/licenses/{id}/extension":                    scopeLicense,
	"POST /v1/licenses/{id}/terminate":                   scopeLicense,
	"POST /v1/admin-tokens":                              scopeHandler,

	// Floating policies: putPolicy also refuses an account token changing the
	// commercial terms inside them (overage, subscription end).
	"GET /v1/accounts/{account}/policy":                 scopePath,
	"PUT /v1/accounts/{account}/policy":                 scopePath,
	"GET /v1/accounts/{account}/pools/{feature}/policy": scopePath,
	"PUT /v1/accounts/{account}/pools/{feature}/policy": scopePath,
	"POST /v1/accounts/{account}/devices/{code}/move":   scopePath,
	"POST /v1/accounts/{account}/devices/{code}/free":   scopePath,
	"DELETE /v1/accounts/{account}/devices/{code}":      scopePath,

	// Members, teams, invitations and seat assignment.
	"GET /v1/accounts/{account}/usage":                           scopePath,
	"GET /v1/accounts/{account}/usage-history":                   scopePath,
	"GET /v1/accounts/{account}/users":                           scopePath,
	"POST /v1/accounts/{account}/users":                          scopePath,
	"POST /v1/accounts/{account}/users/bulk":                     scopePath,
	"GET /v1/accounts/{account}/users/{email}":                   scopePath,
	"DELETE /v1/accounts/{account}/users/{email}":                scopePath,
	"PUT /v1/accounts/{account}/users/{email}/role":              scopePath,
	"PUT /v1/accounts/{account}/users/{email}/password":          scopePath,
	"POST /v1/accounts/{account}/invitations":                    scopePath,
	"POST /v1/accounts/{account}/invitations/{email}/accept":     scopePath,
	"DELETE /v1/accounts/{account}/invitations/{email}":          scopePath,
	"POST /v1/accounts/{account}/invitations/expire":             scopePath,
	"GET /v1/accounts/{account}/teams":                           scopePath,
	"POST /v1/accounts/{account}/teams":                          scopePath,
	"DELETE /v1/accounts/{account}/teams/{team}":                 scopePath,
	"PUT /v1/accounts/{account}/teams/{team}/members/{email}":    scopePath,
	"DELETE /v1/accounts/{account}/teams/{team}/members/{email}": scopePath,
	"PUT /v1/accounts/{account}/teams/{team}/admins/{email}":     scopePath,
	"DELETE /v1/accounts/{account}/teams/{team}/admins/{email}":  scopePath,
	"PUT /v1/accounts/{account}/seat-policy":                     scopePath,
	"PUT /v1/accounts/{account}/admin-email":                     scopePath,
	"POST /v1/accounts/{account}/activate":                       scopePath,
	"GET /v1/accounts/{account}/sign-ins":                        scopePath,
	"POST /v1/accounts/{account}/users/{email}/sign-out":         scopePath,
	// Asking for more seats is the account's; granting them is not.
	"GET /v1/accounts/{account}/seat-requests":  scopePath,
	"POST /v1/accounts/{account}/seat-requests": scopePath,

	// Vendor entitlements: an account reads its own; importing one is a
	// commercial term (clusterOnly).
	"GET /v1/accounts/{account}/entitlements":          scopePath,
	"GET /v1/accounts/{account}/entitlements/{serial}": scopePath,
	"GET /v1/accounts/{account}/denials":               scopePath,
	"GET /v1/accounts/{account}/report":                scopePath,

	// Air-gapped devices: the account's own administrators carry files.
	"POST /v1/accounts/{account}/offline/grant":  scopePath,
	"POST /v1/accounts/{account}/offline/return": scopePath,
	"POST /v1/accounts/{account}/offline/enroll": scopePath,

	"DELETE /v1/admin-tokens/{id}": scopeAdminToken,
	"DELETE /v1/sessions/current":  scopeHandler, // the caller's own session
}

// clusterOnly lists the routes deliberately closed to account tokens and
// console sessions: the cluster itself, creating accounts, and the
// commercial terms (see scopeRules). TestEveryRouteHasAScopeDecision
// checks every route is in exactly one of the two tables, so a new route
// cannot be left undecided.
var clusterOnly = map[string]bool{
	"POST /v1/accounts":                              true,
	"GET /v1/cluster":                                true,
	"POST /v1/cluster/join-bundle":                   true,
	"POST /v1/cluster/nodes":                         true,
	"DELETE /v1/cluster/nodes/{id}":                  true,
	"POST /v1/cluster/transfer-leader":               true,
	"GET /v1/backup":                                 true,
	"POST /v1/backup":                                true,
	"GET /metrics":                                   true, // every account's pools and seats
	"PUT /v1/accounts/{account}/pools/{feature}":     true,
	"PUT /v1/accounts/{account}/products/{code}":     true,
	"PUT /v1/accounts/{account}/seats":               true,
	"PUT /v1/accounts/{account}/subscription":        true,
	"POST /v1/accounts/{account}/subscription/renew": true,
	"PUT /v1/accounts/{account}/users/{email}/plan":  true,
	"PUT /v1/accounts/{account}/teams/{team}/plan":   true,
	"POST /v1/accounts/{account}/signin":             true, // tallyctl's password check; the console uses /v1/sessions
	"GET /v1/vendors":                                true,
	"POST /v1/vendors":                               true,
	"DELETE /v1/vendors/{kid}":                       true,
	"POST /v1/accounts/{account}/entitlements":       true,
	"PUT /v1/accounts/{account}/prices":              true,
}

// keyMaterial lists the routes whose answer carries secrets that make the
// holder a node of the cluster or let them impersonate one (the CA key, in
// a backup or a join bundle). Only cluster-admin tokens get them, whatever
// the method: a cluster-wide read-only token may read everything else.
var keyMaterial = map[string]bool{
	"GET /v1/backup":               true,
	"POST /v1/backup":              true,
	"POST /v1/cluster/join-bundle": true,
}

type tokenKey struct{}

// callerToken is the authenticated admin token of the request.
func callerToken(r *http.Request) ledger.AdminToken {
	t, _ := r.Context().Value(tokenKey{}).(ledger.AdminToken)
	return t
}

// authorize applies the token's role and account scope to a request of
// route pattern. It returns the request to serve (an account-scoped
// listing gets its account= parameter forced) or a refusal.
func (a *api) authorize(pattern string, tok ledger.AdminToken, r *http.Request) (*http.Request, error) {
	method, _, _ := strings.Cut(pattern, " ")
	role := tok.TokenRole()
	if keyMaterial[pattern] && role != ledger.RoleClusterAdmin {
		return nil, protocol.Errorf(protocol.CodeForbidden, "%s carries the cluster's key material and needs a cluster-admin token; token %s is %s", pattern, tok.ID, role)
	}
	if role == ledger.RoleReadOnly && method != http.MethodGet {
		return nil, protocol.Errorf(protocol.CodeForbidden, "admin token %s is read-only", tok.ID)
	}
	if role == ledger.RoleTeamAdmin && method != http.MethodGet {
		if err := a.authorizeTeamAdmin(pattern, tok, r); err != nil {
			return nil, err
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
	if tok.Account == "" {
		return r, nil // cluster-wide
	}
	rule, ok := scopeRules[pattern]
	if !ok {
		return nil, protocol.Errorf(protocol.CodeForbidden, "%s needs a cluster-wide token; token %s is limited to account %s", pattern, tok.ID, tok.Account)
	}
	other := func() error {
		return protocol.Errorf(protocol.CodeForbidden, "admin token %s is limited to account %s", tok.ID, tok.Account)
	}
	var owner string
	var found bool
	switch rule {
	case scopeHandler:
		return r, nil
	case scopeQuery:
		q := r.URL.Query()
		if acct := q.Get("account"); acct != "" && acct != tok.Account {
			return nil, other()
		}
		q.Set("account", tok.Account)
		r.URL.RawQuery = q.Encode()
		return r, nil
	case scopePath:
		if r.PathValue("account") != tok.Account {
			return nil, other()
		}
		return r, nil
	case scopeLease:
		id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "L"), 10, 64)
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "lease ID %q is not a number", r.PathValue("id"))
		}
		a.cfg.Store.Read(func(st *ledger.State) {
			l, perr := st.Lease(id)
			owner, found = l.Account, perr == nil
		})
	case scopeLicense:
		a.cfg.Store.Read(func(st *ledger.State) {
			v, ok := st.License(r.PathValue("id"))
			owner, found = v.Account, ok
		})
	case scopeAdminToken:
		a.cfg.Store.Read(func(st *ledger.State) {
			t, ok := st.AdminToken(r.PathValue("id"))
			owner, found = t.Account, ok
		})
	}
	// Another account's resource is reported as absent, so a scoped token
	// cannot even learn which IDs exist elsewhere.
	if !found || owner != tok.Account {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no %s", r.PathValue("id"))
	}
	return r, nil
}

// checkTokenGrant refuses a scoped caller creating a token beyond its own
// scope: another account, cluster-wide, or (for account admins) an owner.
func checkTokenGrant(caller ledger.AdminToken, want *ledger.AdminToken) error {
	if want.Role == "" && (want.Account != "" || caller.Account != "") {
		want.Role = string(ledger.RoleAccountAdmin)
	}
	if caller.Account == "" {
		return nil
	}
	if want.Account == "" {
		want.Account = caller.Account
	}
	if want.Account != caller.Account {
		return protocol.Errorf(protocol.CodeForbidden, "admin token %s is limited to account %s", caller.ID, caller.Account)
	}
	switch want.TokenRole() {
	case ledger.RoleClusterAdmin:
		return protocol.Errorf(protocol.CodeForbidden, "an account token cannot create a cluster-admin token")
	case ledger.RoleAccountOwner:
		if caller.TokenRole() != ledger.RoleAccountOwner {
			return protocol.Errorf(protocol.CodeForbidden, "only an account owner can create owner tokens")
		}
	}
	return nil
}

// teamAdminWrites are the only changes a team administrator's session may
// ask for; everything else it may only read, like read-only.
var teamAdminWrites = map[string]bool{
	"PUT /v1/accounts/{account}/teams/{team}/members/{email}":    true,
	"DELETE /v1/accounts/{account}/teams/{team}/members/{email}": true,
	"POST /v1/accounts/{account}/invitations":                    true, // memberOp checks the teams in the body
	"DELETE /v1/accounts/{account}/invitations/{email}":          true,
	"DELETE /v1/sessions/current":                                true,
}

// authorizeTeamAdmin lets a team administrator change only the teams they
// administer now (read from the ledger at each request, so taking a team
// away takes effect at once).
func (a *api) authorizeTeamAdmin(pattern string, tok ledger.AdminToken, r *http.Request) error {
	if !teamAdminWrites[pattern] {
		return protocol.Errorf(protocol.CodeForbidden, "%s administers teams only: it may change their members and invitations, not %s", tok.Session, pattern)
	}
	adminOf := a.teamsAdministered(tok)
	switch {
	case r.PathValue("team") != "":
		if !slices.Contains(adminOf, r.PathValue("team")) {
			return protocol.Errorf(protocol.CodeForbidden, "%s does not administer team %s (only %s)", tok.Session, r.PathValue("team"), strings.Join(adminOf, ", "))
		}
	case strings.HasPrefix(pattern, "DELETE /v1/accounts/{account}/invitations/"):
		var u ledger.UserView
		a.cfg.Store.Read(func(st *ledger.State) { u, _ = st.User(tok.Account, r.PathValue("email")) })
		if len(u.Teams) == 0 || !subset(u.Teams, adminOf) {
			return protocol.Errorf(protocol.CodeForbidden, "%s may cancel only invitations into the teams they administer (%s)", tok.Session, strings.Join(adminOf, ", "))
		}
	}
	return nil
}

// teamsAdministered is the caller's teams if it is a team administrator's
// session, nil otherwise.
func (a *api) teamsAdministered(tok ledger.AdminToken) []string {
	if tok.TokenRole() != ledger.RoleTeamAdmin {
		return nil
	}
	var u ledger.UserView
	a.cfg.Store.Read(func(st *ledger.State) { u, _ = st.User(tok.Account, tok.Session) })
	return u.AdminOf
}

func subset(items, of []string) bool {
	for _, x := range items {
		if !slices.Contains(of, x) {
			return false
		}
	}
	return true
}
