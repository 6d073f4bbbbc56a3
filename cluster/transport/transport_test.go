package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/certs"
)

// logBuf collects slog output from several goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *logBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor polls until s contains all of want, or fails after 5 seconds.
func (w *logBuf) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := w.String()
		ok := true
		for _, line := range strings.Split(s, "\n") {
			ok = true
			for _, x := range want {
				if !strings.Contains(line, x) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line contains all of %q; log:\n%s", want, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newLogger() (*slog.Logger, *logBuf) {
	buf := &logBuf{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func newCA(t *testing.T, clusterID string) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(clusterID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func nodeCert(t *testing.T, ca *certs.CA, nodeID string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueNode(nodeID, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func deviceCert(t *testing.T, ca *certs.CA) tls.Certificate {
	t.Helper()
	key, err := certs.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.CreateCSR(key, "DEV-1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignDevice(csr, "acme", "DEV-1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// plainServerCert is a certificate from ca, valid for ServerAuth and
// ClientAuth, for 127.0.0.1, but without a tally://node/ identity.
func plainServerCert(t *testing.T, ca *certs.CA) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "web"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func listen(t *testing.T, cert tls.Certificate, pool *x509.CertPool, logger *slog.Logger) *TLSStreamLayer {
	t.Helper()
	return listenOn(t, "127.0.0.1:0", cert, pool, logger)
}

func listenOn(t *testing.T, bind string, cert tls.Certificate, pool *x509.CertPool, logger *slog.Logger) *TLSStreamLayer {
	t.Helper()
	if logger == nil {
		logger, _ = newLogger()
	}
	l, err := Listen(Config{BindAddr: bind, Certificate: cert, CAs: pool, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

type accepted struct {
	conn net.Conn
	err  error
}

// acceptOne calls Accept once in the background.
func acceptOne(l *TLSStreamLayer) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

func waitAccepted(t *testing.T, ch <-chan accepted, within time.Duration) net.Conn {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("Accept: %v", a.err)
		}
		t.Cleanup(func() { a.conn.Close() })
		return a.conn
	case <-time.After(within):
		t.Fatalf("Accept returned nothing within %s", within)
		return nil
	}
}

func peerNode(t *testing.T, c net.Conn) string {
	t.Helper()
	tc, ok := c.(*tls.Conn)
	if !ok {
		t.Fatalf("connection is %T, not *tls.Conn", c)
	}
	cs := tc.ConnectionState()
	if !cs.HandshakeComplete || cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != ALPNProtocol {
		t.Fatalf("handshake complete %v, version %x, ALPN %q", cs.HandshakeComplete, cs.Version, cs.NegotiatedProtocol)
	}
	id, err := certs.NodeID(cs.PeerCertificates[0])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func exchange(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	from.SetDeadline(time.Now().Add(5 * time.Second))
	to.SetDeadline(time.Now().Add(5 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := from.Write([]byte(msg))
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("read %q, want %q", got, msg)
	}
}

func TestDialAccept(t *testing.T) {
	ca := newCA(t, "c1")
	a := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), nil)
	b := listen(t, nodeCert(t, ca, "n2"), ca.Pool(), nil)
	if a.NodeID() != "n1" || b.NodeID() != "n2" {
		t.Fatalf("node IDs %q, %q", a.NodeID(), b.NodeID())
	}
	if tcp, ok := b.Addr().(*net.TCPAddr); !ok || !tcp.IP.Equal(net.IPv4(127, 0, 0, 1)) || tcp.Port == 0 {
		t.Fatalf("Addr() = %#v, want the listener's 127.0.0.1 address", b.Addr())
	}

	acc := acceptOne(b)
	client, err := a.Dial(raft.ServerAddress(b.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := waitAccepted(t, acc, 5*time.Second)

	if got := peerNode(t, client); got != "n2" {
		t.Errorf("client sees peer %q, want n2", got)
	}
	if got := peerNode(t, server); got != "n1" {
		t.Errorf("server sees peer %q, want n1", got)
	}
	exchange(t, client, server, "append entries")
	exchange(t, server, client, "ok")
}

// TestIPNotInSANs dials a node at 127.0.0.2, which its certificate does not
// list: nodes are authenticated by chain and node identity, not address.
func TestIPNotInSANs(t *testing.T) {
	ca := newCA(t, "c1")
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	probe.Close()
	a := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), nil)
	b := listenOn(t, "127.0.0.2:0", nodeCert(t, ca, "n2"), ca.Pool(), nil)
	acc := acceptOne(b)
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c, waitAccepted(t, acc, 5*time.Second), "hi")
}

// countFSM counts applied commands.
type countFSM struct {
	mu sync.Mutex
	n  int
}

func (f *countFSM) Apply(*raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.n
}

func (f *countFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return countSnapshot(f.count()), nil }

func (f *countFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var n int
	if err := json.NewDecoder(rc).Decode(&n); err != nil {
		return err
	}
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
	return nil
}

type countSnapshot int

func (s countSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(int(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnapshot) Release() {}

func TestRaftCluster(t *testing.T) {
	ca := newCA(t, "c1")
	logger, logs := newLogger()
	const nodes = 3
	var (
		rafts  []*raft.Raft
		fsms   []*countFSM
		trans  []raft.Transport
		config raft.Configuration
	)
	for i := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		layer, err := Listen(Config{BindAddr: "127.0.0.1:0", Certificate: nodeCert(t, ca, id), CAs: ca.Pool(), Logger: logger.With("node", id)})
		if err != nil {
			t.Fatal(err)
		}
		tr := NewNetworkTransport(layer, logger.With("node", id))
		if tr.LocalAddr() != raft.ServerAddress(layer.Addr().String()) {
			t.Fatalf("LocalAddr %q, layer address %q", tr.LocalAddr(), layer.Addr())
		}
		trans = append(trans, tr)
		config.Servers = append(config.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: tr.LocalAddr()})
	}
	t.Cleanup(func() {
		for _, r := range rafts {
			if err := r.Shutdown().Error(); err != nil {
				t.Errorf("raft shutdown: %v", err)
			}
		}
		for _, tr := range trans {
			if err := tr.(raft.WithClose).Close(); err != nil {
				t.Errorf("close transport: %v", err)
			}
		}
	})
	for i := range nodes {
		rc := raft.DefaultConfig()
		rc.LocalID = config.Servers[i].ID
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
		rc.CommitTimeout = 20 * time.Millisecond
		rc.Logger = newHCLogger(logger.With("node", string(rc.LocalID)), "raft")
		store := raft.NewInmemStore()
		fsm := &countFSM{}
		r, err := raft.NewRaft(rc, fsm, store, store, raft.NewInmemSnapshotStore(), trans[i])
		if err != nil {
			t.Fatal(err)
		}
		rafts = append(rafts, r)
		fsms = append(fsms, fsm)
	}
	if err := rafts[0].BootstrapCluster(config).Error(); err != nil {
		t.Fatal(err)
	}

	leader := func() *raft.Raft {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range rafts {
				if r.State() == raft.Leader {
					return r
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no leader elected; log:\n%s", logs.String())
		return nil
	}

	const entries = 10
	r := leader()
	for i := 0; i < entries; {
		err := r.Apply([]byte("inc"), 5*time.Second).Error()
		if errors.Is(err, raft.ErrNotLeader) {
			r = leader() // lost leadership before the entry was taken
			continue
		}
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		i++
	}
	if err := r.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		var counts []int
		done := true
		for _, f := range fsms {
			counts = append(counts, f.count())
			done = done && f.count() == entries
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FSM counts %v, want %d each", counts, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := logs.String(); strings.Contains(s, "refused connection") {
		t.Errorf("a cluster member's connection was refused:\n%s", s)
	}
}

// badClient is a peer that must be refused. It returns the error it saw
// and its local address.
type badClient func(t *testing.T, addr string) (local string, err error)

// tlsClient handshakes with conf and then waits for the server's verdict:
// in TLS 1.3 the server checks the client's certificate after the client's
// handshake has returned, so a refusal may show only on the first read.
func tlsClient(conf *tls.Config) badClient {
	return func(t *testing.T, addr string) (string, error) {
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		c := tls.Client(raw, conf)
		if err := c.Handshake(); err != nil {
			return raw.LocalAddr().String(), err
		}
		_, err = c.Read(make([]byte, 1))
		if err == nil {
			t.Fatal("the server sent data to a client it should have refused")
		}
		if isTimeout(err) {
			t.Fatal("the server did not refuse the client (read timed out)")
		}
		return raw.LocalAddr().String(), err
	}
}

func TestRefusals(t *testing.T) {
	ca := newCA(t, "c1")
	otherNode := nodeCert(t, newCA(t, "c2"), "n9")
	cases := []struct {
		name   string
		client badClient
		// reason is expected in the server's log line.
		reason string
	}{
		// The standard client sends a certificate only if its issuer is
		// one the server asks for; an attacker forces it.
		{"certificate from another CA (forced)", tlsClient(&tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &otherNode, nil },
			InsecureSkipVerify:   true, NextProtos: []string{ALPNProtocol},
		}), "unknown authority"},
		{"certificate from another CA (standard client)", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{otherNode}, InsecureSkipVerify: true, NextProtos: []string{ALPNProtocol},
		}), "certificate"},
		{"device certificate from the cluster CA", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{deviceCert(t, ca)}, InsecureSkipVerify: true, NextProtos: []string{ALPNProtocol},
		}), "not a node certificate"},
		{"non-node certificate from the cluster CA", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{plainServerCert(t, ca)}, InsecureSkipVerify: true, NextProtos: []string{ALPNProtocol},
		}), "not a node certificate"},
		{"no certificate", tlsClient(&tls.Config{
			InsecureSkipVerify: true, NextProtos: []string{ALPNProtocol},
		}), "certificate"},
		{"node certificate without ALPN", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{nodeCert(t, ca, "n9")}, InsecureSkipVerify: true,
		}), "ALPN"},
		{"node certificate with another ALPN protocol", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{nodeCert(t, ca, "n9")}, InsecureSkipVerify: true, NextProtos: []string{"h2", "tally-raft/2"},
		}), "unsupported application protocols"},
		{"TLS 1.2 only", tlsClient(&tls.Config{
			Certificates: []tls.Certificate{nodeCert(t, ca, "n9")}, InsecureSkipVerify: true, NextProtos: []string{ALPNProtocol},
			MaxVersion: tls.VersionTLS12,
		}), "version"},
		{"plain TCP garbage", func(t *testing.T, addr string) (string, error) {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: raft\r\n\r\n\x00\x01\x02garbage")); err != nil {
				t.Fatal(err)
			}
			// The server answers with at most an alert and hangs up.
			_, err = io.ReadAll(c)
			if isTimeout(err) {
				t.Fatal("the server did not hang up on garbage (read timed out)")
			}
			if err == nil {
				err = io.EOF
			}
			return c.LocalAddr().String(), err
		}, "TLS handshake failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			server := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), logger)
			acc := acceptOne(server)

			local, err := tc.client(t, server.Addr().String())
			if err == nil {
				t.Fatal("the bad client's handshake succeeded")
			}
			t.Logf("bad client saw: %v", err)
			line := logs.waitFor(t, "level=WARN", "refused connection", "remote="+local)
			if !strings.Contains(line, tc.reason) {
				t.Errorf("log line %q does not give the reason %q", line, tc.reason)
			}
			select {
			case a := <-acc:
				t.Fatalf("Accept returned (%v, %v) for a refused client", a.conn, a.err)
			default:
			}

			// A good node connecting afterwards is the first connection
			// Accept returns.
			good := listen(t, nodeCert(t, ca, "n2"), ca.Pool(), nil)
			c, err := good.Dial(raft.ServerAddress(server.Addr().String()), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := waitAccepted(t, acc, 5*time.Second)
			if got.RemoteAddr().String() != c.LocalAddr().String() {
				t.Fatalf("Accept returned a connection from %s, want the good client %s", got.RemoteAddr(), c.LocalAddr())
			}
			if id := peerNode(t, got); id != "n2" {
				t.Fatalf("accepted peer %q, want n2", id)
			}
			exchange(t, c, got, "hello")
		})
	}
}

func TestDialRefusesBadServer(t *testing.T) {
	ca := newCA(t, "c1")
	other := newCA(t, "c2")
	client := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), nil)

	t.Run("server from another CA", func(t *testing.T) {
		server := listen(t, nodeCert(t, other, "n2"), other.Pool(), nil)
		_, err := client.Dial(raft.ServerAddress(server.Addr().String()), 5*time.Second)
		if err == nil {
			t.Fatal("Dial succeeded")
		}
		t.Log(err)
		if !strings.Contains(err.Error(), "cluster's CA") {
			t.Fatalf("error %q does not mention the CA", err)
		}
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("error %q does not wrap x509.UnknownAuthorityError", err)
		}
	})

	// Raw TLS servers presenting certificates from the cluster CA that are
	// not node certificates.
	for _, tc := range []struct {
		name, want string
		cert       tls.Certificate
	}{
		{"server with a device certificate", "incompatible key usage", deviceCert(t, ca)},
		{"server with a non-node certificate", "not a node certificate", plainServerCert(t, ca)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
				Certificates: []tls.Certificate{tc.cert}, NextProtos: []string{ALPNProtocol},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
			_, err = client.Dial(raft.ServerAddress(ln.Addr().String()), 5*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial error %v, want one mentioning %q", err, tc.want)
			}
		})
	}

	t.Run("server without ALPN", func(t *testing.T) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			Certificates: []tls.Certificate{nodeCert(t, ca, "n2")},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
		}()
		_, err = client.Dial(raft.ServerAddress(ln.Addr().String()), 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "ALPN") {
			t.Fatalf("Dial error %v, want one mentioning ALPN", err)
		}
	})

	t.Run("silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		start := time.Now()
		_, err = client.Dial(raft.ServerAddress(ln.Addr().String()), 300*time.Millisecond)
		if err == nil {
			t.Fatal("Dial succeeded without a handshake")
		}
		if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			t.Fatalf("Dial error %v, want a timeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Dial took %s with a 300ms timeout", d)
		}
	})
}

func TestCloseUnblocksAccept(t *testing.T) {
	ca := newCA(t, "c1")
	l, err := Listen(Config{BindAddr: "127.0.0.1:0", Certificate: nodeCert(t, ca, "n1"), CAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	// A client in the middle of a handshake must not hold Close up.
	stalled, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	acc := acceptOne(l)
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked")
	}
	select {
	case a := <-acc:
		if a.err == nil || !errors.Is(a.err, net.ErrClosed) {
			t.Fatalf("Accept after Close = (%v, %v), want net.ErrClosed", a.conn, a.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Accept: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The stalled client was hung up on.
	stalled.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(stalled); isTimeout(err) {
		t.Fatal("the pending handshake was not aborted by Close")
	}
}

// TestSlowClientDoesNotBlock: clients that never finish their handshake do
// not delay a good peer.
func TestSlowClientDoesNotBlock(t *testing.T) {
	ca := newCA(t, "c1")
	server := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), nil)
	for range 3 {
		c, err := net.Dial("tcp", server.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x16, 0x03, 0x01}) // the start of a record, then nothing
	}
	acc := acceptOne(server)
	good := listen(t, nodeCert(t, ca, "n2"), ca.Pool(), nil)
	start := time.Now()
	c, err := good.Dial(raft.ServerAddress(server.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id := peerNode(t, waitAccepted(t, acc, 3*time.Second)); id != "n2" {
		t.Fatalf("accepted %q", id)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("good peer waited %s", d)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	saved := handshakeTimeout
	handshakeTimeout = 300 * time.Millisecond
	defer func() { handshakeTimeout = saved }()

	ca := newCA(t, "c1")
	logger, logs := newLogger()
	server := listen(t, nodeCert(t, ca, "n1"), ca.Pool(), logger)
	c, err := net.Dial("tcp", server.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Fatal("the server did not hang up on an idle client")
	}
	logs.waitFor(t, "level=WARN", "refused connection", "remote="+c.LocalAddr().String(), "not completed within 300ms")
}

func TestListenConfig(t *testing.T) {
	ca := newCA(t, "c1")
	other := newCA(t, "c2")
	cert := nodeCert(t, ca, "n1")

	t.Run("unspecified bind address needs Advertise", func(t *testing.T) {
		for _, bind := range []string{"0.0.0.0:0", ":0"} {
			l, err := Listen(Config{BindAddr: bind, Certificate: cert, CAs: ca.Pool()})
			if err == nil {
				l.Close()
				t.Fatalf("%s: Listen succeeded without Advertise", bind)
			}
			if !strings.Contains(err.Error(), "Advertise") {
				t.Errorf("%s: error %q does not point at Advertise", bind, err)
			}
		}
	})
	t.Run("Advertise", func(t *testing.T) {
		for _, adv := range []string{"10.1.2.3:7001", "node1.example.com:7001", "[fd00::1]:7001"} {
			l, err := Listen(Config{BindAddr: "0.0.0.0:0", Advertise: adv, Certificate: cert, CAs: ca.Pool()})
			if err != nil {
				t.Fatalf("%s: %v", adv, err)
			}
			if got := l.Addr().String(); got != adv || l.Addr().Network() != "tcp" {
				t.Errorf("Addr() = %s %q, want tcp %q", l.Addr().Network(), got, adv)
			}
			if tr := NewNetworkTransport(l, nil); tr.LocalAddr() != raft.ServerAddress(adv) {
				t.Errorf("LocalAddr() = %q, want %q", tr.LocalAddr(), adv)
				tr.(raft.WithClose).Close()
			} else if err := tr.(raft.WithClose).Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	bad := []struct {
		name string
		cfg  Config
	}{
		{"unspecified Advertise", Config{BindAddr: "127.0.0.1:0", Advertise: "0.0.0.0:7001", Certificate: cert, CAs: ca.Pool()}},
		{"Advertise without host", Config{BindAddr: "127.0.0.1:0", Advertise: ":7001", Certificate: cert, CAs: ca.Pool()}},
		{"Advertise port 0", Config{BindAddr: "127.0.0.1:0", Advertise: "10.0.0.1:0", Certificate: cert, CAs: ca.Pool()}},
		{"Advertise without port", Config{BindAddr: "127.0.0.1:0", Advertise: "10.0.0.1", Certificate: cert, CAs: ca.Pool()}},
		{"no bind address", Config{Certificate: cert, CAs: ca.Pool()}},
		{"no CA pool", Config{BindAddr: "127.0.0.1:0", Certificate: cert}},
		{"no certificate", Config{BindAddr: "127.0.0.1:0", CAs: ca.Pool()}},
		{"certificate from another CA", Config{BindAddr: "127.0.0.1:0", Certificate: nodeCert(t, other, "n1"), CAs: ca.Pool()}},
		{"device certificate", Config{BindAddr: "127.0.0.1:0", Certificate: deviceCert(t, ca), CAs: ca.Pool()}},
		{"non-node certificate", Config{BindAddr: "127.0.0.1:0", Certificate: plainServerCert(t, ca), CAs: ca.Pool()}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Listen(tc.cfg)
			if err == nil {
				l.Close()
				t.Fatal("Listen succeeded")
			}
			t.Log(err)
		})
	}
}
