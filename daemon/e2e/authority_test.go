package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// tokenOf creates an admin token through the API and returns its secret.
func (s *server) tokenOf(role, account string) string {
	s.t.Helper()
	var tr adminapi.TokenResponse
	if err := s.api(http.MethodPost, "/v1/admin-tokens", adminapi.CreateTokenRequest{Name: role, Role: role, Account: account}, &tr); err != nil {
		s.t.Fatalf("create %s token: %v", role, err)
	}
	return tr.Token
}

// nodeCall posts body to an internal endpoint with a node certificate.
func (s *server) nodeCall(t *testing.T, certPEM, keyPEM []byte, path string, body any) (int, string) {
	t.Helper()
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.LoadCAPool(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	raw, _ := json.Marshal(body)
	resp, err := hc.Post("https://"+s.adminAddr+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *server) adminTokenIDs(t *testing.T) string {
	t.Helper()
	var toks []ledger.AdminToken
	if err := s.api(http.MethodGet, "/v1/admin-tokens", nil, &toks); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range toks {
		ids = append(ids, x.ID+":"+x.Role)
	}
	return strings.Join(ids, ",")
}

// TestReadOnlyTokenCannotBecomeClusterAdmin replays finding 1 of issue 13
// against a real tallyd: a read-only token fetches a backup to get the CA
// key, mints a node certificate with it and proposes create_admin_token on
// the internal endpoint. Every step must now be refused, and nothing change.
func TestReadOnlyTokenCannotBecomeClusterAdmin(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	s.mustCtl("seats", "set", "acme", "5")
	s.mustCtl("users", "add", "acme", "pat@acme.example", "--role", "member", "--password", "correct horse battery")
	ro := s.tokenOf("read-only", "")

	// 1. The backup and the join bundle need cluster-admin.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/backup", ""},
		{"POST", "/v1/backup", `{"passphrase":"a long enough passphrase"}`},
		{"POST", "/v1/cluster/join-bundle", `{"node_id":"evil"}`},
	} {
		if code, body := s.do(ro, c.method, c.path, c.body); code != http.StatusForbidden {
			t.Fatalf("read-only %s %s: %d %s, want 403", c.method, c.path, code, body)
		}
	}
	// A cluster admin's plain backup carries no secret at all.
	code, plain := s.do(s.token, "GET", "/v1/backup", "")
	if code != 200 || strings.Contains(plain, "PRIVATE KEY") || strings.Contains(plain, "argon2") || strings.Contains(plain, `"ca_key"`) {
		t.Fatalf("plain backup: %d, holds secrets: %.300s", code, plain)
	}
	// An encrypted one holds them sealed only.
	code, sealed := s.do(s.token, "POST", "/v1/backup", `{"passphrase":"a long enough passphrase"}`)
	if code != 200 || strings.Contains(sealed, "PRIVATE KEY") || strings.Contains(sealed, "argon2") || !strings.Contains(sealed, `"sealed"`) {
		t.Fatalf("sealed backup: %d %.300s", code, sealed)
	}
	var b adminapi.Backup
	if err := json.Unmarshal([]byte(sealed), &b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open([]byte("the wrong passphrase!")); err == nil {
		t.Fatal("a sealed backup opened with the wrong passphrase")
	}
	if key, _, err := b.Open([]byte("a long enough passphrase")); err != nil || !bytes.Contains(key, []byte("PRIVATE KEY")) {
		t.Fatalf("open sealed backup: %v", err)
	}

	// 2. Suppose the CA key leaked anyway: a node certificate minted with
	// it, for a node that is not in the Raft configuration, forwards
	// nothing.
	before := s.adminTokenIDs(t)
	ca, err := certs.LoadCA(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	evilCert, evilKey, err := ca.IssueNode("evil", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := ledger.Command{Type: ledger.CmdCreateAdminToken, Actor: "system", Payload: &ledger.AdminToken{ID: "evil1", Name: "x", Hash: "00"}}
	if code, body := s.nodeCall(t, evilCert, evilKey, adminapi.PathInternalPropose, forged); code != http.StatusForbidden || !strings.Contains(body, "not a member") {
		t.Fatalf("outsider node proposing create_admin_token: %d %s", code, body)
	}
	// 3. Even a real member's node certificate may forward only device and
	// node commands: an administrator's change needs the administrator.
	nodeCert, _ := os.ReadFile(filepath.Join(s.dir, "node.pem"))
	nodeKey, _ := os.ReadFile(filepath.Join(s.dir, "node.key"))
	for _, c := range []ledger.Command{
		forged,
		{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "evilcorp", Name: "x"}},
		{Type: ledger.CmdAddUser, Payload: &ledger.AddUser{Account: "acme", Email: "evil@acme.example", Role: ledger.RoleOwner}},
		{Type: ledger.CmdRegisterNode, Payload: &ledger.Node{ID: "other", RaftAddr: "127.0.0.1:1"}},
		{Type: ledger.CmdCheckout, Actor: "admin-token:x", Payload: &ledger.Checkout{Account: "acme", Device: "D", Feature: "cad"}},
	} {
		if code, body := s.nodeCall(t, nodeCert, nodeKey, adminapi.PathInternalPropose, c); code != http.StatusForbidden {
			t.Fatalf("member node forwarding %s: %d %s, want 403", c.Type, code, body)
		}
	}
	if after := s.adminTokenIDs(t); after != before {
		t.Fatalf("admin tokens changed: %s -> %s", before, after)
	}
	var accts []ledger.Account
	if err := s.api("GET", "/v1/accounts", nil, &accts); err != nil || len(accts) != 1 {
		t.Fatalf("accounts after forged proposals: %+v %v", accts, err)
	}
	// The read-only token cannot mint a token either, of any role.
	for _, role := range []string{"read-only", "cluster-admin"} {
		if code, body := s.do(ro, "POST", "/v1/admin-tokens", fmt.Sprintf(`{"role":%q}`, role)); code != http.StatusForbidden {
			t.Fatalf("read-only creating a %s token: %d %s", role, code, body)
		}
	}
}

// TestRoleGrantsOnlyItsOwnOrLower replays finding 5: an account
// administrator (or Administrator Assistant) signed in to the console
// cannot create an owner, promote anyone to owner, or take over an owner by
// setting their password; an account-admin token cannot mint an owner
// token.
func TestRoleGrantsOnlyItsOwnOrLower(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	s.mustCtl("seats", "set", "acme", "10")
	s.mustCtl("users", "add", "acme", "olivia@acme.example", "--role", "owner", "--password", "owner password 1")
	s.mustCtl("users", "add", "acme", "adam@acme.example", "--role", "administrator", "--password", "admin password 1")
	s.mustCtl("users", "add", "acme", "asta@acme.example", "--role", "administrator_assistant", "--password", "assistant pw 1")
	s.mustCtl("users", "add", "acme", "mel@acme.example", "--role", "member")
	before := s.mustCtl("users", "list", "acme", "--json")
	for _, who := range []struct{ email, password string }{{"adam@acme.example", "admin password 1"}, {"asta@acme.example", "assistant pw 1"}} {
		sess := s.session(who.email, who.password)
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/v1/accounts/acme/users", `{"email":"mallory@acme.example","role":"owner","password":"mallory password"}`},
			{"POST", "/v1/accounts/acme/users/bulk", `{"emails":["m2@acme.example"],"role":"owner"}`},
			{"POST", "/v1/accounts/acme/invitations", `{"email":"m3@acme.example","role":"owner"}`},
			{"PUT", "/v1/accounts/acme/users/mel@acme.example/role", `{"role":"owner"}`},
			{"PUT", "/v1/accounts/acme/users/olivia@acme.example/password", `{"password":"taken over now"}`},
			{"PUT", "/v1/accounts/acme/users/olivia@acme.example/role", `{"role":"member"}`},
			{"DELETE", "/v1/accounts/acme/users/olivia@acme.example", ""},
			{"POST", "/v1/admin-tokens", `{"role":"account-owner","account":"acme"}`},
		} {
			if code, body := s.do(sess, c.method, c.path, c.body); code != http.StatusForbidden {
				t.Fatalf("%s: %s %s: %d %s, want 403", who.email, c.method, c.path, code, body)
			}
		}
		// What is at or below their own role still works.
		if code, body := s.do(sess, "PUT", "/v1/accounts/acme/users/mel@acme.example/role", `{"role":"administrator"}`); code != 200 {
			t.Fatalf("%s promoting a member to administrator: %d %s", who.email, code, body)
		}
		s.mustCtl("users", "set-role", "acme", "mel@acme.example", "member")
	}
	if after := s.mustCtl("users", "list", "acme", "--json"); after != before {
		t.Fatalf("members changed:\n%s\n->\n%s", before, after)
	}
	// The owner may make another owner.
	owner := s.session("olivia@acme.example", "owner password 1")
	if code, body := s.do(owner, "PUT", "/v1/accounts/acme/users/mel@acme.example/role", `{"role":"owner"}`); code != 200 {
		t.Fatalf("owner making an owner: %d %s", code, body)
	}
	admTok := s.tokenOf("account-admin", "acme")
	if code, body := s.do(admTok, "POST", "/v1/admin-tokens", `{"role":"account-owner","account":"acme"}`); code != http.StatusForbidden {
		t.Fatalf("account-admin token minting an owner token: %d %s", code, body)
	}
}

// session signs a member of acme in and returns the session token.
func (s *server) session(email, password string) string {
	s.t.Helper()
	code, out, resp := s.signIn("acme", email, password)
	if code != http.StatusCreated {
		s.t.Fatalf("sign in %s: %d %s", email, code, resp)
	}
	return out.Token
}

// TestFollowerForwardsWithTheCallersIdentity: an administrator's change
// sent to a follower reaches the leader with the administrator's own
// credential (the follower proxies the request; it no longer proposes in
// its own name), so the leader checks the caller's role and the audit log
// names the caller, not "system"; a device checkout through the follower
// still works (node-to-node forwarding of device commands).
func TestFollowerForwardsWithTheCallersIdentity(t *testing.T) {
	nodes := startCluster(t, 2)
	leader, follower := nodes[0], nodes[1]
	tok := leader.setupAccount("acme", "cad", 2)
	var tr adminapi.TokenResponse
	if err := leader.api(http.MethodPost, "/v1/admin-tokens", adminapi.CreateTokenRequest{Name: "acme admin", Role: "account-admin", Account: "acme"}, &tr); err != nil {
		t.Fatal(err)
	}
	code, body := follower.do(tr.Token, http.MethodPost, "/v1/accounts/acme/enroll-tokens", `{"name":"via follower"}`)
	if code != http.StatusCreated {
		t.Fatalf("account admin writes through the follower: %d %s", code, body)
	}
	var created adminapi.TokenResponse
	json.Unmarshal([]byte(body), &created)
	code, audit := leader.do(leader.token, http.MethodGet, "/v1/audit?account=acme&format=ndjson", "")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, audit)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(audit), "\n") {
		var rec ledger.AuditRecord
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Summary, created.ID) {
			found = true
			if rec.Actor != "admin-token:"+tr.ID {
				t.Fatalf("audit names %q for a change by admin token %s", rec.Actor, tr.ID)
			}
		}
	}
	if !found {
		t.Fatalf("no audit record of enrollment token %s:\n%s", created.ID, audit)
	}
	// Taking the CA key for a joining node is in the audit log too.
	code, all := leader.do(leader.token, http.MethodGet, "/v1/audit?format=ndjson", "")
	if code != 200 || !strings.Contains(all, "issue join bundle (cluster CA key) for node node2") || !strings.Contains(all, `"actor": "admin-token:`) && !strings.Contains(all, `"actor":"admin-token:`) {
		t.Fatalf("the join bundle node2 took is not audited with its taker: %d %.600s", code, all)
	}
	// A read-only token is refused on the follower as on the leader.
	ro := leader.tokenOf("read-only", "acme")
	if code, body := follower.do(ro, http.MethodPost, "/v1/accounts/acme/enroll-tokens", `{}`); code != http.StatusForbidden {
		t.Fatalf("read-only write through the follower: %d %s", code, body)
	}
	// Devices connected to the follower still get seats.
	a := startAgent(t, follower, "a1", tok)
	eventually(t, 30*time.Second, "checkout through the follower", func() error {
		r := a.checkout("cad")
		if r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
}

// TestSignInBrakeIsSharedPerSourceAndDelays replays finding 7 on a real
// two-node cluster: wrong passwords counted on one node brake sign-ins on
// the other (not N x 5 tries), spraying many members from one address is
// braked per source, and the real member is delayed, not locked out.
func TestSignInBrakeIsSharedPerSourceAndDelays(t *testing.T) {
	nodes := startCluster(t, 2)
	leader, follower := nodes[0], nodes[1]
	leader.mustCtl("accounts", "create", "acme")
	leader.mustCtl("seats", "set", "acme", "40")
	leader.mustCtl("users", "add", "acme", "own@acme.test", "--role", "owner", "--password", "correct horse")
	signIn := func(s *server, email, password string) (int, string) {
		t.Helper()
		code, _, resp := s.signIn("acme", email, password)
		return code, resp
	}
	// Five wrong passwords, alternating nodes: the sixth try is braked on
	// either node.
	for i := 0; i < 5; i++ {
		s := []*server{leader, follower}[i%2]
		if code, resp := signIn(s, "own@acme.test", "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on %s: %d %s", i, s.nodeID, code, resp)
		}
	}
	for _, s := range []*server{follower, leader} {
		if code, resp := signIn(s, "own@acme.test", "correct horse"); code != http.StatusTooManyRequests {
			t.Fatalf("after five failures, on node %q: %d %s, want 429", s.nodeID, code, resp)
		}
	}
	// A delay, not a lock-out: the real member gets in a few seconds later.
	eventually(t, 30*time.Second, "the real member signs in after the delay", func() error {
		if code, resp := signIn(follower, "own@acme.test", "correct horse"); code != http.StatusCreated {
			return fmt.Errorf("%d %s", code, resp)
		}
		return nil
	})
	// Spraying: one wrong guess each at many members from this address,
	// which has five failures already (20 are free per address).
	for i := 0; i < 15; i++ {
		if code, resp := signIn(leader, fmt.Sprintf("user%d@acme.test", i), "Winter2026!"); code != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d %s", i, code, resp)
		}
	}
	if code, resp := signIn(follower, "fresh@acme.test", "Winter2026!"); code != http.StatusTooManyRequests {
		t.Fatalf("the 21st wrong guess from one address, at a fresh member: %d %s, want 429", code, resp)
	}
}
