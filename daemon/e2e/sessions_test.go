package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// signIn starts a console session as a member: the status, the decoded
// answer and the raw body.
func (s *server) signIn(account, email, password string) (int, adminapi.SessionResponse, string) {
	s.t.Helper()
	body, _ := json.Marshal(adminapi.SessionRequest{Account: account, Email: email, Password: password})
	code, resp := s.do("", http.MethodPost, "/v1/sessions", string(body))
	var out adminapi.SessionResponse
	json.Unmarshal([]byte(resp), &out)
	return code, out, resp
}

// TestConsoleSessions signs members in to a real tallyd with their
// passwords and checks what each session may do, that it follows the
// member's role, and that signing out ends it.
func TestConsoleSessions(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "cad", 2)
	s.setupAccount("other", "cad", 1)
	s.mustCtl("seats", "set", "acme", "5")
	s.mustCtl("users", "add", "acme", "own@acme.test", "--role", "owner", "--password", "correct horse")
	s.mustCtl("users", "add", "acme", "ast@acme.test", "--role", "assistant", "--password", "battery staple")
	s.mustCtl("users", "add", "acme", "mem@acme.test", "--role", "member", "--password", "just a member")

	signIn := func(email, password string) (int, adminapi.SessionResponse, string) {
		t.Helper()
		return s.signIn("acme", email, password)
	}
	code, own, resp := signIn("OWN@acme.test", "correct horse")
	if code != 201 || own.Access != "account-owner" || own.Role != "owner" || own.Email != "own@acme.test" || !strings.HasPrefix(own.Token, "tat_") {
		t.Fatalf("owner sign-in: %d %s", code, resp)
	}
	// The session is an admin credential limited to the member's account.
	if code, resp := s.do(own.Token, http.MethodPost, "/v1/accounts/acme/invitations", `{"email":"new@acme.test","role":"member"}`); code != 200 {
		t.Fatalf("owner invites: %d %s", code, resp)
	}
	if code, resp := s.do(own.Token, http.MethodGet, "/v1/accounts/other/pools", ""); code != 403 {
		t.Fatalf("owner reads another account: %d %s", code, resp)
	}
	if code, resp := s.do(own.Token, http.MethodPut, "/v1/accounts/acme/pools/cad", `{"seats":9}`); code != 403 || !strings.Contains(resp, "cluster-wide") {
		t.Fatalf("owner buys seats through the console: %d %s", code, resp)
	}
	// The audit log names the member, not a token.
	out := s.mustCtl("audit", "--json", "--account", "acme", "--type", "members")
	if !strings.Contains(out, `"actor":"member:acme/own@acme.test"`) {
		t.Fatalf("audit does not name the member:\n%s", out)
	}

	// An assistant reads but changes nothing; a member has no console.
	code, ast, resp := signIn("ast@acme.test", "battery staple")
	if code != 201 || ast.Access != "read-only" {
		t.Fatalf("assistant sign-in: %d %s", code, resp)
	}
	if code, resp := s.do(ast.Token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 200 || !strings.Contains(resp, "new@acme.test") {
		t.Fatalf("assistant lists members: %d %s", code, resp)
	}
	if code, resp := s.do(ast.Token, http.MethodDelete, "/v1/accounts/acme/users/mem@acme.test", ""); code != 403 {
		t.Fatalf("assistant deletes a member: %d %s", code, resp)
	}
	if code, _, resp := signIn("mem@acme.test", "just a member"); code != 403 || !strings.Contains(resp, "only owners, administrators, assistants and team administrators") {
		t.Fatalf("member sign-in: %d %s", code, resp)
	}

	// Promoting the assistant ends their read-only session at once.
	s.mustCtl("users", "set-role", "acme", "ast@acme.test", "administrator")
	if code, resp := s.do(ast.Token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 401 || !strings.Contains(resp, "sign in again") {
		t.Fatalf("session after a role change: %d %s", code, resp)
	}

	// Wrong passwords: the same refusal for an unknown email, then a brake.
	for i := 0; i < 5; i++ {
		if code, _, resp := signIn("own@acme.test", "wrong"); code != 401 || !strings.Contains(resp, "wrong email or password") {
			t.Fatalf("wrong password %d: %d %s", i, code, resp)
		}
	}
	if code, _, resp := signIn("own@acme.test", "correct horse"); code != http.StatusTooManyRequests || !strings.Contains(resp, "too many wrong passwords") {
		t.Fatalf("sign-in after five failures: %d %s", code, resp)
	}
	if code, _, resp := signIn("nobody@acme.test", "whatever1"); code != 401 || !strings.Contains(resp, "wrong email or password") {
		t.Fatalf("unknown member: %d %s", code, resp)
	}

	// Signing out ends the session; an admin token cannot "sign out".
	if code, resp := s.do(own.Token, http.MethodDelete, "/v1/sessions/current", ""); code != 204 {
		t.Fatalf("sign out: %d %s", code, resp)
	}
	if code, resp := s.do(own.Token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 401 {
		t.Fatalf("session after sign-out: %d %s", code, resp)
	}
	if code, resp := s.do(s.token, http.MethodDelete, "/v1/sessions/current", ""); code != 400 || !strings.Contains(resp, "not a console session") {
		t.Fatalf("admin token signs out: %d %s", code, resp)
	}
	// Deleting a member ends their sessions too.
	code, adm, _ := signIn("ast@acme.test", "battery staple")
	if code != 201 || adm.Access != "account-admin" {
		t.Fatalf("administrator sign-in: %d %+v", code, adm)
	}
	s.mustCtl("users", "delete", "acme", "ast@acme.test")
	if code, resp := s.do(adm.Token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 401 || !strings.Contains(resp, "no longer a member") {
		t.Fatalf("session of a deleted member: %d %s", code, resp)
	}
}

// TestTeamAdministrators: a member who administers a team signs in to a
// session that manages that team's members and invitations and nothing
// else, and loses it the moment they stop administering it.
func TestTeamAdministrators(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "cad", 2)
	s.mustCtl("seats", "set", "acme", "6")
	s.mustCtl("teams", "create", "acme", "sales")
	s.mustCtl("teams", "create", "acme", "support")
	s.mustCtl("users", "add", "acme", "ann@acme.test", "--password", "sales lead 1", "--team", "sales")
	s.mustCtl("users", "add", "acme", "bob@acme.test", "--team", "sales")
	s.mustCtl("users", "add", "acme", "cid@acme.test", "--team", "support")
	if r := s.ctl("teams", "admin", "acme", "support", "ann@acme.test"); r.code == 0 || !strings.Contains(r.stderr, "not in team support") {
		t.Fatalf("ann made administrator of a team she is not in: %d %s", r.code, r.stderr)
	}
	s.mustCtl("teams", "admin", "acme", "sales", "ann@acme.test")
	if out := s.mustCtl("users", "list", "acme"); !strings.Contains(out, "sales*") {
		t.Fatalf("users list does not mark ann as sales administrator:\n%s", out)
	}

	code, ann, resp := s.signIn("acme", "ann@acme.test", "sales lead 1")
	if code != 201 || ann.Access != "team-admin" || len(ann.AdminOf) != 1 || ann.AdminOf[0] != "sales" {
		t.Fatalf("team administrator sign-in: %d %s", code, resp)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/v1/accounts/acme/users", "", 200},
		{http.MethodPut, "/v1/accounts/acme/teams/sales/members/cid@acme.test", "", 200},
		{http.MethodDelete, "/v1/accounts/acme/teams/sales/members/bob@acme.test", "", 200},
		{http.MethodPost, "/v1/accounts/acme/invitations", `{"email":"dee@acme.test","teams":["sales"]}`, 200},
		{http.MethodDelete, "/v1/accounts/acme/invitations/dee@acme.test", "", 200},
		// Not their team, not their business:
		{http.MethodPut, "/v1/accounts/acme/teams/support/members/bob@acme.test", "", 403},
		{http.MethodPost, "/v1/accounts/acme/invitations", `{"email":"eve@acme.test"}`, 403},
		{http.MethodPost, "/v1/accounts/acme/invitations", `{"email":"eve@acme.test","teams":["sales"],"role":"owner"}`, 403},
		{http.MethodDelete, "/v1/accounts/acme/users/cid@acme.test", "", 403},
		{http.MethodPut, "/v1/accounts/acme/teams/sales/admins/cid@acme.test", "", 403},
		{http.MethodPut, "/v1/accounts/acme/policy", `{"policy":{}}`, 403},
	} {
		if code, resp := s.do(ann.Token, c.method, c.path, c.body); code != c.want {
			t.Errorf("ann %s %s: %d %s; want %d", c.method, c.path, code, resp, c.want)
		}
	}
	var cid ledger.UserView
	mustJSON(t, s.mustCtl("users", "show", "acme", "cid@acme.test", "--json"), &cid)
	if strings.Join(cid.Teams, ",") != "sales,support" {
		t.Fatalf("cid's teams: %v", cid.Teams)
	}

	// No longer administering sales ends the session.
	s.mustCtl("teams", "admin", "acme", "sales", "ann@acme.test", "--remove")
	if code, resp := s.do(ann.Token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 401 {
		t.Fatalf("session after losing the team: %d %s", code, resp)
	}
}
