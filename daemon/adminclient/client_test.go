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
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tally-licensing/tally/protocol/api"
)

// answering starts an HTTPS server that answers, and a CA file that trusts it.
func answering(t *testing.T, hits *atomic.Int32) (addr, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
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

// dropping accepts connections and closes them at once: the request may
// have reached a node that then failed.
func dropping(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// A node that refuses the connection is passed over, for reads and writes,
// and the client says which node did not answer and which did.
func TestFailoverOnRefusedConnection(t *testing.T) {
	var hits atomic.Int32
	live, ca := answering(t, &hits)
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

// A write whose connection was made and then lost may have been acted on.
// It carries an Idempotency-Key, the same on every attempt, so it may be
// sent again, to this node or the next: the cluster records the key with the
// outcome and answers a retry with it instead of making the change twice
// (daemon/e2e TestAdminWriteRetriedAfterLostAnswerChangesOnce checks that end to end).
func TestWriteAfterLostConnectionRetriesWithItsKey(t *testing.T) {
	var hits atomic.Int32
	var keys []string
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		keys = append(keys, r.Header.Get(api.HeaderIdempotencyKey))
		mu.Unlock()
		w.Header().Set(api.HeaderNode, "node2")
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	live := strings.TrimPrefix(srv.URL, "https://")
	c, err := New(dropping(t)+","+live, "tat_x", ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(context.Background(), http.MethodPost, "/v1/accounts", map[string]string{"id": "a"}, nil); err != nil {
		t.Fatalf("a write whose connection dropped was not retried with its key: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits.Load() != 1 || len(keys) != 1 || len(keys[0]) < 32 {
		t.Fatalf("the live node saw %d writes with keys %q, want one with an idempotency key", hits.Load(), keys)
	}
}

func TestNoAddress(t *testing.T) {
	if _, err := New(" , ", "tat_x", ""); err == nil || !strings.Contains(err.Error(), "TALLY_ADDR") {
		t.Fatalf("empty address list: %v", err)
	}
}
