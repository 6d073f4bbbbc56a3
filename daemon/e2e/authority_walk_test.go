package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/daemon/adminapi"
)

// TestAuthorityWalk walks the authority table of docs/security.md both
// ways against real tallyd processes, one per caller so that one caller's
// allowed changes cannot disturb another's walk: every route the table
// refuses the caller answers 403 and leaves the ledger as it was (compared
// through a backup), and every route it allows is not refused for
// authority (never 401 or 403; the walk's minimal bodies may still be
// refused as bad input or name things that do not exist).
func TestAuthorityWalk(t *testing.T) {
	routes := adminapi.Routes()
	sort.Strings(routes)
	for _, caller := range adminapi.Callers {
		t.Run(strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(caller.Name), func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			token, spare := walkSetup(t, s, caller)
			var denied, allowed []string
			for _, r := range routes {
				if caller.MayCall(r) {
					allowed = append(allowed, r)
				} else {
					denied = append(denied, r)
				}
			}
			before := ledgerView(t, s)
			for _, r := range denied {
				method, path := walkRequest(r, spare)
				if code, body := s.do(token, method, path, walkBody(r)); code != http.StatusForbidden {
					t.Errorf("%s: %s %s answered %d, want 403: %.200s", caller.Name, method, path, code, body)
				}
			}
			if after := ledgerView(t, s); after != before {
				t.Fatalf("%s: refused calls changed the ledger", caller.Name)
			}
			// The caller's own sign-out last: it ends a session.
			sort.SliceStable(allowed, func(i, j int) bool { return allowed[j] == "DELETE /v1/sessions/current" && allowed[i] != allowed[j] })
			succeeded := 0
			for _, r := range allowed {
				method, path := walkRequest(r, spare)
				code, body := s.do(token, method, path, walkBody(r))
				if code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("%s: %s %s is allowed by the table but answered %d: %.200s", caller.Name, method, path, code, body)
				}
				if code < 300 {
					succeeded++
				}
			}
			t.Logf("%s: %d routes refused with 403 and no change; %d allowed, of which %d succeeded outright with the walk's minimal requests", caller.Name, len(denied), len(allowed), succeeded)
		})
	}
}

// walkSetup gives s an account with members, a team and its
// administrator, and returns the caller's credential and a spare admin
// token ID the walk may revoke.
func walkSetup(t *testing.T, s *server, c adminapi.Caller) (token, spare string) {
	t.Helper()
	s.setupAccount("acme", "cad", 2)
	s.mustCtl("seats", "set", "acme", "10")
	s.mustCtl("users", "add", "acme", "owner@acme.test", "--role", "owner", "--password", "owner password 1")
	s.mustCtl("users", "add", "acme", "mem@acme.test", "--role", "member", "--password", "member password 1")
	s.mustCtl("users", "add", "acme", "tadm@acme.test", "--role", "member", "--password", "team admin pw 1")
	s.mustCtl("teams", "create", "acme", "t1")
	s.mustCtl("teams", "add", "acme", "t1", "mem@acme.test")
	s.mustCtl("teams", "add", "acme", "t1", "tadm@acme.test")
	if code, body := s.do(s.token, http.MethodPut, "/v1/accounts/acme/teams/t1/admins/tadm@acme.test", ""); code != 200 {
		t.Fatalf("make tadm a team administrator: %d %s", code, body)
	}
	var tr adminapi.TokenResponse
	if err := s.api(http.MethodPost, "/v1/admin-tokens", adminapi.CreateTokenRequest{Name: "spare", Role: "read-only", Account: "acme"}, &tr); err != nil {
		t.Fatal(err)
	}
	spare = tr.ID
	switch {
	case c.Role == "cluster-admin":
		return s.token, spare
	case c.Role == "team-admin":
		code, out, resp := s.signIn("acme", "tadm@acme.test", "team admin pw 1")
		if code != http.StatusCreated || out.Access != "team-admin" {
			t.Fatalf("team administrator's session: %d %s", code, resp)
		}
		return out.Token, spare
	}
	account := ""
	if c.Account {
		account = "acme"
	}
	return s.tokenOf(string(c.Role), account), spare
}

// walkRequest fills a route's path parameters with the walk's resources.
func walkRequest(route, spare string) (method, path string) {
	method, path, _ = strings.Cut(route, " ")
	id := "nope"
	switch {
	case strings.HasPrefix(path, "/v1/admin-tokens/"):
		id = spare
	case strings.HasPrefix(path, "/v1/leases/"):
		id = "1"
	}
	path = strings.NewReplacer("{account}", "acme", "{feature}", "cad", "{id}", id, "{email}", "mem@acme.test",
		"{team}", "t1", "{code}", "NOPE-CODE", "{name}", "nope").Replace(path)
	return method, path
}

// walkBody is a body that passes each allowed route's content checks
// where the route has any, and "{}" elsewhere.
func walkBody(route string) string {
	method, path, _ := strings.Cut(route, " ")
	switch {
	case method == http.MethodGet || method == http.MethodDelete:
		return ""
	case strings.HasSuffix(path, "/invitations"):
		return `{"email":"new@acme.test","teams":["t1"]}`
	case strings.HasSuffix(path, "/signin"):
		return `{"email":"owner@acme.test","password":"owner password 1"}`
	}
	return "{}"
}

// ledgerView is the ledger as a backup shows it, less what moves by itself
// (the applied index, the backup's own time).
func ledgerView(t *testing.T, s *server) string {
	t.Helper()
	code, body := s.do(s.token, http.MethodGet, "/v1/backup", "")
	if code != 200 {
		t.Fatalf("backup: %d %s", code, body)
	}
	var b struct {
		Ledger map[string]json.RawMessage `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Ledger) < 5 || len(b.Ledger["accounts"]) < 10 {
		t.Fatalf("the backup holds no ledger to compare: %.200s", body)
	}
	delete(b.Ledger, "applied_index")
	delete(b.Ledger, "last_now")
	out, _ := json.Marshal(b.Ledger)
	return fmt.Sprintf("%s", out)
}
