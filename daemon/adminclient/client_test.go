package adminclient

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tally-licensing/tally/protocol/api"
)

// answering starts an HTTPS server that answers, and a CA file that trusts it.
func answering(t *testing.T, hits *atomic.Int32, keys chan<- string) (addr, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if keys != nil {
			keys <- r.Header.Get(api.HeaderIdempotencyKey)
		}
		w.Header().Set(api.HeaderNode, "node2")
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "https://"), caFile
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// dropping reads each request's head, records its Idempotency-Key, and
// closes the connection without answering: the write may have reached a
// node that then failed.
func dropping(t *testing.T, keys chan<- string) string {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get(api.HeaderIdempotencyKey)
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	}))
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "https://")
}

// A node that refuses the connection is passed over, for reads and writes,
// and the client says which node did not answer and which did.
func TestFailoverOnRefusedConnection(t *testing.T) {
	var hits atomic.Int32
	live, ca := answering(t, &hits, nil)
	dead := closedAddr(t)
	c, err := New(dead+", "+live, "tat_x", ca)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var out map[string]bool
		if err := c.Do(context.Background(), method, "/v1/status", nil, &out); err != nil || !out["ok"] {
			t.Fatalf("%s through dead,live: %v %v", method, out, err)
		}
		if f := c.Failovers(); method == http.MethodGet && (len(f) != 1 || !strings.HasPrefix(f[0], dead+": ")) {
			t.Errorf("failovers %q, want the dead node %s", f, dead)
		}
		if fr := c.LastFreshness(); fr.Addr != live || fr.Node != "node2" {
			t.Errorf("answered by %+v, want node2 at %s", fr, live)
		}
	}
	// The node that answered is asked first next time.
	c.Do(context.Background(), http.MethodGet, "/v1/status", nil, nil)
	if f := c.Failovers(); len(f) != 0 {
		t.Errorf("the live node was not asked first: failovers %q", f)
	}
	if hits.Load() != 3 {
		t.Errorf("the live node got %d requests, want 3", hits.Load())
	}
}

// A write whose answer was lost after it may have arrived is sent again,
// to the next node, with the same Idempotency-Key, so the cluster answers
// the retry with the first attempt's outcome instead of acting twice.
func TestLostWriteIsRetriedWithTheSameIdempotencyKey(t *testing.T) {
	keys := make(chan string, 8)
	var hits atomic.Int32
	live, _ := answering(t, &hits, keys)
	lost := dropping(t, keys)
	c, err := New(lost+","+live, "tat_x", "")
	if err != nil {
		t.Fatal(err)
	}
	c.http.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // two test CAs
	if err := c.Do(context.Background(), http.MethodPost, "/v1/accounts", map[string]string{"id": "a"}, nil); err != nil {
		t.Fatalf("a write whose first answer was lost: %v", err)
	}
	first, second := <-keys, <-keys
	if first == "" || first != second {
		t.Fatalf("idempotency keys of the lost attempt and the retry: %q, %q", first, second)
	}
	if f := c.Failovers(); len(f) != 1 || !strings.HasPrefix(f[0], lost+": ") {
		t.Errorf("failovers %q, want the node that lost the answer", f)
	}
}

func TestNoAddress(t *testing.T) {
	if _, err := New(" , ", "tat_x", ""); err == nil || !strings.Contains(err.Error(), "TALLY_ADDR") {
		t.Fatalf("empty address list: %v", err)
	}
}
