package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/protocol"
)

// recordingServer is a real QUIC listener that answers every request with
// the server list and records, per accepted connection, whether its TLS
// session was resumed and whether it carried 0-RTT data. It allows 0-RTT
// itself, so that only the client's choice keeps 0-RTT out.
type recordingServer struct {
	addr  string
	cert  *x509.Certificate
	roots *x509.CertPool
	mu    sync.Mutex
	conns []*quic.Conn
}

func newRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := &recordingServer{cert: cert, roots: x509.NewCertPool()}
	s.roots.AddCert(cert)
	ln, err := quic.ListenAddrEarly("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}, &quic.Config{MaxIdleTimeout: time.Minute, Allow0RTT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			conn, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			go func() {
				for {
					str, err := conn.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go func() {
						var req protocol.Request
						if protocol.ReadFrame(str, &req) != nil {
							return
						}
						resp, _ := protocol.OKResponse(protocol.ServersResponse{Interval: protocol.Duration(30 * time.Second)})
						protocol.WriteFrame(str, resp)
						str.Close()
					}()
				}
			}()
		}
	}()
	return s
}

func (s *recordingServer) connections() []*quic.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*quic.Conn(nil), s.conns...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closed(c *quic.Conn) bool { return c.Context().Err() != nil }

// An idle client holds no connection: once nothing has been in flight for
// the idle close, the server sees the connection closed; the next request
// opens a new one that resumes the TLS session, never with 0-RTT data, even
// though the server would accept it.
func TestIdleConnectionIsClosedAndTheNextOneResumesWithout0RTT(t *testing.T) {
	srv := newRecordingServer(t)
	c, err := New([]string{srv.addr}, &tls.Config{RootCAs: srv.roots}, WithIdleClose(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the idle connection to be closed", func() bool {
		cs := srv.connections()
		return len(cs) == 1 && closed(cs[0])
	})
	if addr, ok := c.Connected(); !ok || addr != srv.addr {
		t.Errorf("Connected() = %q, %v after an idle close; want the last server, true (it answered, nothing failed)", addr, ok)
	}
	if err := c.Do(ctx, protocol.TypeHeartbeat, "", protocol.HeartbeatRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	cs := srv.connections()
	if len(cs) != 2 {
		t.Fatalf("%d connections; want a second one for the request after the idle close", len(cs))
	}
	st := cs[1].ConnectionState()
	if !st.TLS.DidResume {
		t.Error("the reconnect did a full handshake; want a resumed TLS session")
	}
	if st.Used0RTT {
		t.Error("the reconnect sent 0-RTT data; grants, renewals and releases must never be replayable")
	}
}

// Requests close together share one connection: the idle timer only runs
// while nothing is in flight.
func TestBusyConnectionIsKept(t *testing.T) {
	srv := newRecordingServer(t)
	c, err := New([]string{srv.addr}, &tls.Config{RootCAs: srv.roots}, WithIdleClose(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Do(context.Background(), protocol.TypeServers, fmt.Sprint(i), protocol.ServersRequest{}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if cs := srv.connections(); len(cs) != 1 || closed(cs[0]) {
		t.Fatalf("%d connections (first closed: %v); want one, open", len(cs), len(cs) > 0 && closed(cs[0]))
	}
}

// Without an idle close the connection stays open between requests, as
// before (tallyctl-style short-lived clients and tests rely on it).
func TestWithoutIdleCloseTheConnectionStays(t *testing.T) {
	srv := newRecordingServer(t)
	c, err := New([]string{srv.addr}, &tls.Config{RootCAs: srv.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		if err := c.Do(context.Background(), protocol.TypeServers, "", protocol.ServersRequest{}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cs := srv.connections(); len(cs) != 1 || closed(cs[0]) {
		t.Fatalf("%d connections; want one, open", len(cs))
	}
}

// A device goes first to the node its Device Code hashes to, and a fleet
// spreads evenly over the nodes.
func TestAffinitySpreadsDevicesAndPicksTheHashedServer(t *testing.T) {
	counts := make([]int, 3)
	for i := range 3000 {
		counts[AffinityIndex(fmt.Sprintf("DEV-%05d", i), 3)]++
	}
	for i, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("server %d gets %d of 3000 devices; want about 1000 (%v)", i, n, counts)
		}
	}
	if AffinityIndex("ABCD-1234", 3) != AffinityIndex("ABCD-1234", 3) {
		t.Fatal("affinity is not stable")
	}

	// Both servers are trusted, so only the preference decides.
	a, b := newRecordingServer(t), newRecordingServer(t)
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	roots.AddCert(b.cert)
	servers := []string{a.addr, b.addr}
	for _, code := range []string{"DEV-1", "DEV-2", "DEV-3", "DEV-4"} {
		want := AffinityIndex(code, 2)
		other := []*recordingServer{a, b}[1-want]
		before := len(other.connections())
		c, err := New(servers, &tls.Config{RootCAs: roots}, WithAffinity(code), WithDialTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Do(context.Background(), protocol.TypeServers, "", protocol.ServersRequest{}, nil); err != nil {
			t.Fatal(err)
		}
		if addr, _ := c.Connected(); addr != servers[want] {
			t.Errorf("%s connected to %s; want %s (index %d)", code, addr, servers[want], want)
		}
		if n := len(other.connections()); n != before {
			t.Errorf("%s also dialled the other server", code)
		}
		c.Close()
	}
}

// A device whose node died learns it only when it reconnects (it holds no
// connection while idle): the dial to the dead node must not hold up the
// request for the whole dial timeout, which is longer here than the
// request's own deadline. The next server is dialled alongside it and
// answers.
func TestReconnectDoesNotWaitOutADeadServer(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // a socket that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	live := newRecordingServer(t)
	c, err := New([]string{dead.LocalAddr().String(), live.addr}, &tls.Config{RootCAs: live.roots},
		WithDialTimeout(time.Hour), WithIdleClose(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{}, nil); err != nil {
		t.Fatalf("with a dead first server and an hour's dial timeout: %v", err)
	}
	if addr, _ := c.Connected(); addr != live.addr {
		t.Fatalf("connected to %q; want the live server %s", addr, live.addr)
	}
}
