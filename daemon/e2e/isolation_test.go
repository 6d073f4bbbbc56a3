package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// do calls the admin API with token (none when empty) and returns the
// status and raw body.
func (s *server) do(token, method, path, body string) (int, string) {
	s.t.Helper()
	pem, err := os.ReadFile(s.caFile())
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(method, "https://"+s.adminAddr+path, bytes.NewBufferString(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// bravoView is everything of account bravo a refused request must leave
// unchanged, read with the cluster admin token.
func bravoView(t *testing.T, s *server) string {
	t.Helper()
	var parts []string
	for _, p := range []string{
		"/v1/accounts/bravo", "/v1/accounts/bravo/pools", "/v1/accounts/bravo/enroll-tokens", "/v1/accounts/bravo/products",
		"/v1/accounts/bravo/licenses", "/v1/admin-tokens?account=bravo", "/v1/devices?account=bravo",
		"/v1/audit?account=bravo&format=ndjson", "/v1/accounts/bravo/users", "/v1/accounts/bravo/teams",
		"/v1/accounts/bravo/usage", "/v1/accounts/bravo/policy", "/v1/accounts/bravo/pools/cad/policy",
	} {
		code, body := s.do(s.token, http.MethodGet, p, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
		parts = append(parts, p+"\n"+body)
	}
	// Leases: their identity and state, not the moving horizons.
	var ls []adminapi.LeaseView
	if err := s.api(http.MethodGet, "/v1/leases?account=bravo", nil, &ls); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("lease %d %s %s revoked=%v", l.ID, l.Feature, l.Device, l.Revoked))
	}
	return strings.Join(parts, "\n")
}

// TestEveryEndpointRefusesOtherAccounts walks every authenticated route of
// the admin API (from the router, so a new endpoint cannot be forgotten)
// with an account-owner token of alpha against bravo's resources, and
// checks each is refused and bravo is unchanged.
func TestEveryEndpointRefusesOtherAccounts(t *testing.T) {
	s := startServer(t)
	s.setupAccount("alpha", "cad", 2)
	tokB := s.setupAccount("bravo", "cad", 2)
	s.mustCtl("products", "set", "bravo", "phone_system", "2", "--feature", "cad", "--extension")
	s.mustCtl("products", "set", "bravo", "rec", "2", "--addon")
	s.mustCtl("seats", "set", "bravo", "3")
	s.mustCtl("users", "add", "bravo", "bob@bravo.test", "--password", passwordOf("bob@bravo.test"))
	s.mustCtl("teams", "create", "bravo", "eng")
	s.mustCtl("teams", "add", "bravo", "eng", "bob@bravo.test")
	s.mustCtl("policy", "set", "bravo", "--linger", "1m")
	var lic ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "assign", "phone_system", "bob@bravo.test", "--account", "bravo", "--ext", "201", "--addon", "rec", "--json"), &lic)
	agentB := startAgent(t, s, "b1", tokB)
	agentB.mustLogin(nil, "bob@bravo.test", passwordOf("bob@bravo.test"))
	agentB.mustCheckout("cad")
	var bTok adminapi.TokenResponse
	mustJSON(t, s.mustCtl("tokens", "create", "--account", "bravo", "--role", "account-owner", "--name", "bravo owner", "--json"), &bTok)
	var aTok, aRO adminapi.TokenResponse
	mustJSON(t, s.mustCtl("tokens", "create", "--account", "alpha", "--role", "account-owner", "--name", "alpha owner", "--json"), &aTok)
	mustJSON(t, s.mustCtl("tokens", "create", "--account", "alpha", "--role", "read-only", "--json"), &aRO)
	var enrollB []ledger.EnrollToken
	if err := s.api(http.MethodGet, "/v1/accounts/bravo/enroll-tokens", nil, &enrollB); err != nil || len(enrollB) == 0 {
		t.Fatalf("bravo's enrollment tokens: %v %+v", err, enrollB)
	}
	ls := s.leases()
	if len(ls) != 1 || ls[0].Account != "bravo" {
		t.Fatalf("leases %+v", ls)
	}

	// The alpha token works on alpha: the refusals below are about scope.
	if code, body := s.do(aTok.Token, http.MethodPut, "/v1/accounts/alpha/policy", `{"policy":{"linger":60000000000}}`); code != 200 {
		t.Fatalf("alpha owner sets alpha's policy: %d %s", code, body)
	}
	if code, body := s.do(aTok.Token, http.MethodPost, "/v1/accounts/alpha/users", `{"email":"ann@alpha.test","role":"assistant"}`); code != 200 {
		t.Fatalf("alpha owner adds a member to alpha: %d %s", code, body)
	}
	if code, body := s.do(aRO.Token, http.MethodPut, "/v1/accounts/alpha/policy", `{"policy":{"linger":120000000000}}`); code != 403 || !strings.Contains(body, "read-only") {
		t.Fatalf("read-only token changed the policy: %d %s", code, body)
	}
	// What the account bought is the cluster administrator's to change,
	// even for the account's owner: seats, quantities, overage, end date.
	for _, c := range []struct{ method, path, body, want string }{
		{http.MethodPut, "/v1/accounts/alpha/pools/cad", `{"seats":3}`, "cluster-wide"},
		{http.MethodPut, "/v1/accounts/alpha/products/cad_pro", `{"quantity":3}`, "cluster-wide"},
		{http.MethodPut, "/v1/accounts/alpha/seats", `{"seats":30}`, "cluster-wide"},
		{http.MethodPut, "/v1/accounts/alpha/subscription", `{"plan":"pro"}`, "cluster-wide"},
		{http.MethodPut, "/v1/accounts/alpha/policy", `{"policy":{"overage":5}}`, "overage needs a cluster-wide token"},
		{http.MethodPut, "/v1/accounts/alpha/policy", `{"policy":{},"subscription_end":"2099-01-01T00:00:00Z"}`, "subscription end needs a cluster-wide token"},
	} {
		if code, body := s.do(aTok.Token, c.method, c.path, c.body); code != 403 || !strings.Contains(body, c.want) {
			t.Errorf("alpha owner %s %s: %d %s; want 403 naming %q", c.method, c.path, code, body, c.want)
		}
	}

	before := bravoView(t, s)
	wildcard := regexp.MustCompile(`\{[a-z]+\}`)
	routes := adminapi.Routes()
	sort.Strings(routes)
	for _, pattern := range routes {
		if pattern == "DELETE /v1/sessions/current" {
			continue // acts on the caller's own session, nothing of bravo's
		}
		method, path, _ := strings.Cut(pattern, " ")
		path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
			switch {
			case w == "{account}":
				return "bravo"
			case w == "{feature}":
				return "cad"
			case w == "{code}":
				return "rec"
			case w == "{email}":
				return "bob@bravo.test"
			case w == "{team}":
				return "eng"
			case w == "{id}" && strings.HasPrefix(path, "/v1/leases/"):
				return fmt.Sprint(ls[0].ID)
			case w == "{id}" && strings.HasPrefix(path, "/v1/licenses/"):
				return lic.ID
			case w == "{id}" && strings.HasPrefix(path, "/v1/admin-tokens/"):
				return bTok.ID
			case w == "{id}" && strings.Contains(path, "/enroll-tokens/"):
				return enrollB[0].ID
			case w == "{id}" && strings.HasPrefix(path, "/v1/cluster/nodes/"):
				return "node1"
			case w == "{kid}":
				return "any-vendor-key" // cluster-only: refused before it is looked up
			case w == "{serial}":
				return "ENT-1"
			}
			t.Fatalf("route %s has wildcard %s this test does not know how to fill: teach it which of bravo's resources to use", pattern, w)
			return ""
		})
		if !strings.Contains(pattern, "{account}") {
			path += "?account=bravo"
		}
		// A body that would do something if the request got through.
		body := `{"account":"bravo","seats":0,"name":"x","role":"account-owner","user":"eve@alpha.test","product":"phone_system","quantity":9}`
		if pattern == "POST /v1/admin-tokens" {
			body = `{"account":"bravo","role":"account-owner","name":"x"}` // its handler checks the scope
		}
		for _, tok := range []adminapi.TokenResponse{aTok, aRO} {
			code, resp := s.do(tok.Token, method, path, body)
			var eb adminapi.ErrorBody
			json.Unmarshal([]byte(resp), &eb)
			if (code != 403 && code != 404) || (eb.Error.Code != "forbidden" && eb.Error.Code != "not_found") {
				t.Errorf("%s as alpha %s: %d %s; want forbidden or not_found", pattern, tok.Role, code, resp)
			}
		}
	}
	if after := bravoView(t, s); after != before {
		t.Fatalf("refused requests changed bravo:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Listings without an account show alpha's data only.
	for _, pattern := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodGet || strings.Contains(path, "{") {
			continue
		}
		q := ""
		if path == "/v1/usage-report" {
			q = "?" + url.Values{"from": {"2026-01-01"}, "to": {"2099-01-01"}}.Encode()
		}
		code, resp := s.do(aTok.Token, method, path+q, "")
		if code == 200 && strings.Contains(resp, "bravo") {
			t.Errorf("%s as alpha shows bravo's data:\n%s", pattern, resp)
		}
		if code != 200 && code != 403 {
			t.Errorf("%s as alpha: %d %s", pattern, code, resp)
		}
	}
	// Tokens: an account token cannot mint a cluster-wide one.
	if code, resp := s.do(aTok.Token, http.MethodPost, "/v1/admin-tokens", `{"role":"cluster-admin"}`); code != 403 {
		t.Fatalf("alpha minted a cluster-admin token: %d %s", code, resp)
	}
	if code, resp := s.do(aTok.Token, http.MethodPost, "/v1/admin-tokens", `{"role":"read-only","name":"alpha auditor"}`); code != 201 || !strings.Contains(resp, `"account": "alpha"`) {
		t.Fatalf("alpha owner creates an alpha read-only token: %d %s", code, resp)
	}
	// An account administrator manages the account but not its owners.
	var aAdm adminapi.TokenResponse
	mustJSON(t, s.mustCtl("tokens", "create", "--account", "alpha", "--role", "account-admin", "--json"), &aAdm)
	if code, resp := s.do(aAdm.Token, http.MethodPost, "/v1/admin-tokens", `{"role":"account-owner"}`); code != 403 {
		t.Fatalf("alpha admin minted an owner token: %d %s", code, resp)
	}
	if code, resp := s.do(aAdm.Token, http.MethodDelete, "/v1/admin-tokens/"+aTok.ID, ""); code != 403 {
		t.Fatalf("alpha admin revoked the owner's token: %d %s", code, resp)
	}
	if code, resp := s.do(aAdm.Token, http.MethodPut, "/v1/accounts/alpha/pools/cad/policy", `{"policy":{"idle_timeout":600000000000}}`); code != 200 {
		t.Fatalf("alpha admin sets alpha's pool policy: %d %s", code, resp)
	}
}
