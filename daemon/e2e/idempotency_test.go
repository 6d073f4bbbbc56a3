package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// answerDroppingProxy is a plain-HTTP proxy in front of tallyd's admin
// API. The first try of the first `drops` writes it forwards is delivered and answered by
// tallyd, and then the proxy drops the client's connection without passing
// the answer on: the client cannot know whether its write happened.
type answerDroppingProxy struct {
	srv     *http.Server
	addr    string
	drops   atomic.Int32
	dropped atomic.Int32
	mu      sync.Mutex
	keys    []string // Idempotency-Key of every write seen
}

func startAnswerDroppingProxy(t *testing.T, s *server, drops int) *answerDroppingProxy {
	t.Helper()
	pem, err := os.ReadFile(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	upstream := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := &answerDroppingProxy{}
	p.drops.Store(int32(drops))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequest(r.Method, "https://"+s.adminAddr+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		out.ContentLength = r.ContentLength
		firstTry := false
		if r.Method != http.MethodGet {
			key := r.Header.Get(adminapi.HeaderIdempotencyKey)
			p.mu.Lock()
			firstTry = !slices.Contains(p.keys, key)
			p.keys = append(p.keys, key)
			p.mu.Unlock()
		}
		resp, err := upstream.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if firstTry && p.drops.Add(-1) >= 0 {
			// tallyd has answered: the write happened. The client never
			// hears of it.
			p.dropped.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	})}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// TestAdminWriteRetriedAfterLostAnswerChangesOnce: tallyctl's write reaches
// tallyd and is applied, but the connection drops before the answer comes
// back. tallyctl retries with the same Idempotency-Key and gets the first
// attempt's answer: one enrollment token, not two, and `accounts create`
// succeeds instead of failing with already_exists.
func TestAdminWriteRetriedAfterLostAnswerChangesOnce(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	p := startAnswerDroppingProxy(t, s, 2)
	env := []string{"TALLY_ADDR=http://" + p.addr, "TALLY_TOKEN=" + s.token, "TALLY_CACERT=" + s.caFile()}

	r := run(t, env, bin("tallyctl"), "enroll-tokens", "create", "acme", "--json")
	if r.code != 0 {
		t.Fatalf("enroll-tokens create through a connection that drops the answer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var tok adminapi.TokenResponse
	mustJSON(t, r.stdout, &tok)
	var toks []ledger.EnrollToken
	if err := s.api(http.MethodGet, "/v1/accounts/acme/enroll-tokens", nil, &toks); err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 || toks[0].ID != tok.ID {
		t.Fatalf("after one tallyctl write whose answer was lost once: %d enrollment tokens %+v, want exactly the one answered (%s)", len(toks), toks, tok.ID)
	}

	r = run(t, env, bin("tallyctl"), "accounts", "create", "beta")
	if r.code != 0 {
		t.Fatalf("accounts create retried after a lost answer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := p.dropped.Load(); n != 2 {
		t.Fatalf("the proxy dropped %d answers, want 2", n)
	}
	p.mu.Lock()
	keys := append([]string(nil), p.keys...)
	p.mu.Unlock()
	if len(keys) != 4 || keys[0] == "" || keys[0] != keys[1] || keys[2] != keys[3] || keys[0] == keys[2] {
		t.Fatalf("Idempotency-Keys of the writes (first try, retry, first try, retry): %q", keys)
	}
	if !strings.Contains(s.proc.out.String(), "replayed an idempotent write") {
		t.Fatal("tallyd did not replay the retried writes")
	}
}

// TestIdempotencyKeyScope: a key reused for a different body is refused; the
// same key from another caller is that caller's own request.
func TestIdempotencyKeyScope(t *testing.T) {
	s := startServer(t)
	hdr := map[string]string{adminapi.HeaderIdempotencyKey: "k-1"}
	code, _, body := rawAdmin(t, s, http.MethodPost, "/v1/accounts", []byte(`{"id":"one"}`), hdr)
	if code != http.StatusCreated {
		t.Fatalf("first: %d %s", code, body)
	}
	code, h, body2 := rawAdmin(t, s, http.MethodPost, "/v1/accounts", []byte(`{"id":"one"}`), hdr)
	if code != http.StatusCreated || h.Get(adminapi.HeaderIdempotentReplay) != "true" || body2 != body {
		t.Fatalf("same key, same request: %d %v %s", code, h, body2)
	}
	code, _, body = rawAdmin(t, s, http.MethodPost, "/v1/accounts", []byte(`{"id":"two"}`), hdr)
	if code != http.StatusBadRequest || !strings.Contains(body, "different request") {
		t.Fatalf("same key, another body: %d %s", code, body)
	}
	var accts []ledger.Account
	if err := s.api(http.MethodGet, "/v1/accounts", nil, &accts); err != nil || len(accts) != 1 {
		t.Fatalf("accounts: %+v %v", accts, err)
	}
	// Another caller with the same key makes its own request.
	var other adminapi.TokenResponse
	if err := s.api(http.MethodPost, "/v1/admin-tokens", adminapi.CreateTokenRequest{Name: "other"}, &other); err != nil {
		t.Fatal(err)
	}
	o := *s
	o.token = other.Token
	code, h, body = rawAdmin(t, &o, http.MethodPost, "/v1/accounts", []byte(`{"id":"one"}`), hdr)
	if code != http.StatusConflict || h.Get(adminapi.HeaderIdempotentReplay) != "" || !strings.Contains(body, "already_exists") {
		t.Fatalf("another caller's same key: %d %v %s", code, h, body)
	}
	fmt.Fprint(io.Discard, body)
}
