package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/internal/e2eframework"
	"github.com/tally-licensing/tally/protocol"
)

// TestAnnouncedFramesCannotExhaustMemory replays finding 4 against a real
// tallyd process: certificate-less QUIC clients open as many connections
// and streams as the server lets them and announce maximum-size frames
// without sending them. The server's resident memory must stay bounded
// (before the fix six such connections took it from 24 MB to 1.1 GB).
func TestAnnouncedFramesCannotExhaustMemory(t *testing.T) {
	s := startServer(t)
	pid := s.proc.cmd.Process.Pid
	pool, err := certs.LoadCAPool(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	before := rssKiB(t, pid)
	heapBefore := heapBytes(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const conns, streamsPerConn = 24, 256
	var mu sync.Mutex
	var opened, streams, refused int
	var wg sync.WaitGroup
	var live []*quic.Conn
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}
			dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
			defer dcancel()
			conn, err := quic.DialAddr(dctx, s.agentAddr, tc, &quic.Config{MaxIdleTimeout: 60 * time.Second, KeepAlivePeriod: 5 * time.Second})
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			mu.Lock()
			opened++
			live = append(live, conn)
			mu.Unlock()
			for j := 0; j < streamsPerConn; j++ {
				str, err := conn.OpenStream()
				if err != nil {
					return // the server's stream limit, or it closed us
				}
				var hdr [4]byte
				binary.BigEndian.PutUint32(hdr[:], protocol.MaxFrame)
				// The announced megabyte never comes: only a few bytes do.
				if _, err := str.Write(append(hdr[:], `{"v":1,`...)); err != nil {
					return
				}
				mu.Lock()
				streams++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Give the server time to act on everything that arrived.
	time.Sleep(2 * time.Second)
	peak := before
	for i := 0; i < 10; i++ {
		peak = max(peak, rssKiB(t, pid))
		time.Sleep(200 * time.Millisecond)
	}
	heap := heapBytes(t, s)
	t.Logf("tallyd RSS %d KiB before, %d KiB peak; Go heap in use %d KiB before, %d KiB after; under %d connections (%d refused) with %d streams announcing %d-byte frames",
		before, peak, int64(heapBefore)>>10, int64(heap)>>10, opened, refused, streams, protocol.MaxFrame)
	// Bounded: whatever the attacker announced (up to 24 x 256 MiB here),
	// the server holds at most a few tens of megabytes more. (Before the
	// fix: +82 MiB resident and +6 GiB of heap, mostly pages never touched.)
	if grew := peak - before; grew > 40<<10 {
		t.Fatalf("tallyd's RSS grew by %d MiB under certificate-less clients announcing large frames", grew>>10)
	}
	if grew := heap - heapBefore; grew > 64<<20 {
		t.Fatalf("tallyd's heap grew by %d MiB under certificate-less clients announcing large frames", int64(grew)>>20)
	}
	for _, c := range live {
		c.CloseWithError(0, "")
	}
	// The node still serves: a device can enroll and check out.
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a1", tok)
	a.mustCheckout("cad")
}

// TestNothingDisclosedWithoutCredentials replays finding 8: /metrics on the
// admin listener needs a cluster-wide token (an account's token is refused,
// since metrics name every account), --metrics-addr serves it where the
// operator chose, and a certificate-less server-list request learns neither
// the cluster's addresses nor its keys.
func TestNothingDisclosedWithoutCredentials(t *testing.T) {
	metricsAddr := e2eframework.FreeAddr(t, "tcp")
	s := startServer(t, "--metrics-addr", metricsAddr)
	s.setupAccount("acme", "cad", 1)
	if code, body := s.getPublic("/metrics"); code != http.StatusUnauthorized || strings.Contains(body, "acme") {
		t.Fatalf("/metrics without a token: %d %.200s", code, body)
	}
	acct := s.tokenOf("account-owner", "acme")
	if code, body := s.do(acct, http.MethodGet, "/metrics", ""); code != http.StatusForbidden {
		t.Fatalf("/metrics with an account token: %d %.200s", code, body)
	}
	ro := s.tokenOf("read-only", "")
	if code, body := s.do(ro, http.MethodGet, "/metrics", ""); code != 200 || !strings.Contains(body, `account="acme"`) {
		t.Fatalf("/metrics with a cluster-wide read-only token: %d %.200s", code, body)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "tally_agent_connections") {
		t.Fatalf("--metrics-addr: %d %.200s", resp.StatusCode, b)
	}

	base, err := client.TLSConfig(s.caFile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New([]string{s.agentAddr}, base)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	var servers protocol.ServersResponse
	if err := anon.Do(doCtx(t), protocol.TypeServers, "", protocol.ServersRequest{}, &servers); err != nil {
		t.Fatal(err)
	}
	if len(servers.Servers) != 0 || len(servers.JWKS) != 0 {
		t.Fatalf("certificate-less server list disclosed %d servers and a %d-byte JWKS", len(servers.Servers), len(servers.JWKS))
	}
	// Everything else needs a certificate.
	if err := anon.Do(doCtx(t), protocol.TypeCheckout, "x", protocol.CheckoutRequest{Feature: "cad"}, nil); protocol.CodeOf(err) != protocol.CodeNotEnrolled {
		t.Fatalf("certificate-less checkout: %v", err)
	}
}

// heapBytes is the Go heap in use of the tallyd behind s, from its metrics.
func heapBytes(t *testing.T, s *server) float64 {
	t.Helper()
	code, body := s.do(s.token, http.MethodGet, "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	v, ok := metricValue(body, "go_memstats_heap_inuse_bytes")
	if !ok {
		t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	}
	return v
}

// TestAdminServerBoundsSlowAndLargeRequests covers the admin half of
// finding 9 (and 4): a body over a route's cap is refused without being
// read, and a client trickling a body is cut off by the read timeout.
func TestAdminServerBoundsSlowAndLargeRequests(t *testing.T) {
	s := startServer(t, "--admin-read-timeout", "1s")
	big := strings.Repeat("x", 2<<20)
	if code, body := s.do(s.token, http.MethodPost, "/v1/accounts", big); code != http.StatusBadRequest || !strings.Contains(body, "exceeds") {
		t.Fatalf("2 MiB body: %d %.200s", code, body)
	}
	pool, err := certs.LoadCAPool(s.caFile())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", s.adminAddr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{", s.token)
	start := time.Now()
	var closed bool
	for time.Since(start) < 20*time.Second {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte(" ")); err != nil {
			closed = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !closed {
		t.Fatal("the admin server kept reading a trickled body for 20s despite --admin-read-timeout 1s")
	}
}

// TestCheckoutWaitIsCapped: a device cannot park a checkout in the queue
// for longer than leasing.MaxWait (finding 9).
func TestCheckoutWaitIsCapped(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	d := rawDevice(t, s, tok, "DEV-W")
	err := d.Do(doCtx(t), protocol.TypeCheckout, "w1", protocol.CheckoutRequest{Feature: "cad", Wait: protocol.Duration(10000 * time.Hour)}, nil)
	if protocol.CodeOf(err) != protocol.CodeInvalidArgument || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("checkout waiting 10000h: %v, want invalid_argument", err)
	}
}
