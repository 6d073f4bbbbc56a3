package agent_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
)

// fakeServer is a small tallyd stand-in for the agent's tests: real QUIC, real
// mutual TLS with a CA from package certs, the protocol's framing, and just
// enough ledger (seats per feature, leases per device) to exercise the agent.
type fakeServer struct {
	t       testing.TB
	ca      *certs.CA
	caFile  string
	addr    string
	ln      *quic.Listener
	account string
	token   string

	mu       sync.Mutex
	conns    []*quic.Conn
	seats    map[string]int
	leases   map[uint64]*fakeLease
	nextID   uint64
	byReqID  map[string]protocol.Lease
	requests []protocol.Request
	released []uint64
	lose     map[uint64]bool
	interval time.Duration
	servers  []protocol.ServerInfo
	rotate   bool // sign a new token on every heartbeat
	dropNext map[protocol.Type]int
	// refuseDevice answers the next heartbeats with not_enrolled (a node
	// that has just restarted and not replayed its log, or a removal).
	refuseDevice int
}

type fakeLease struct {
	protocol.Lease
	device string
	gen    int
}

const leaseTTL = 10 * time.Minute

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	now := time.Now()
	ca, err := certs.NewCA("test-cluster", now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueNode("node-1", []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		NextProtos:   []string{protocol.ALPN},
		MinVersion:   tls.VersionTLS13,
	}, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{
		t: t, ca: ca, caFile: caFile, addr: ln.Addr().String(), ln: ln,
		account: "acme", token: "enroll-secret",
		seats:    map[string]int{},
		leases:   map[uint64]*fakeLease{},
		byReqID:  map[string]protocol.Lease{},
		lose:     map[uint64]bool{},
		dropNext: map[protocol.Type]int{},
	}
	s.servers = []protocol.ServerInfo{{ID: "node-1", Addr: s.addr, Leader: true}}
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(0, "server closing")
	}
}

// dropConnections closes every agent connection, as a node restart would.
func (s *fakeServer) dropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(0, "node restarting")
	}
}

func (s *fakeServer) accept() {
	for {
		conn, err := s.ln.Accept(context.Background())
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

func (s *fakeServer) serveConn(conn *quic.Conn) {
	device := ""
	if peer := conn.ConnectionState().TLS.PeerCertificates; len(peer) > 0 {
		id, err := certs.DeviceIdentity(peer[0])
		if err != nil {
			conn.CloseWithError(1, err.Error())
			return
		}
		device = id.DeviceCode
	}
	for {
		str, err := conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		go s.serveStream(str, device)
	}
}

func (s *fakeServer) serveStream(str *quic.Stream, device string) {
	var req protocol.Request
	if err := protocol.ReadFrame(str, &req); err != nil {
		str.CancelRead(1)
		str.CancelWrite(1)
		return
	}
	resp := s.dispatch(&req, device)
	if resp == nil { // simulate an answer lost on the way back
		str.CancelWrite(1)
		return
	}
	_ = protocol.WriteFrame(str, resp)
	str.Close()
}

func (s *fakeServer) dispatch(req *protocol.Request, device string) *protocol.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, *req)
	if req.Type == protocol.TypeHeartbeat && s.refuseDevice > 0 {
		s.refuseDevice--
		return fail(protocol.CodeNotEnrolled, "device %s is not enrolled", device)
	}
	resp := s.handle(req, device)
	if s.dropNext[req.Type] > 0 {
		s.dropNext[req.Type]--
		return nil
	}
	return resp
}

func ok(body any) *protocol.Response {
	r, err := protocol.OKResponse(body)
	if err != nil {
		panic(err)
	}
	return r
}

func fail(code protocol.Code, format string, args ...any) *protocol.Response {
	return protocol.ErrorResponse(protocol.Errorf(code, format, args...))
}

func (s *fakeServer) handle(req *protocol.Request, device string) *protocol.Response {
	if req.V != protocol.Version {
		return fail(protocol.CodeUnsupportedVersion, "version %d", req.V)
	}
	if device == "" && req.Type != protocol.TypeEnroll {
		return fail(protocol.CodeNotEnrolled, "%s needs a device certificate", req.Type)
	}
	now := time.Now().UTC()
	switch req.Type {
	case protocol.TypeEnroll:
		var body protocol.EnrollRequest
		if err := req.DecodeBody(&body); err != nil {
			return protocol.ErrorResponse(err.(*protocol.Error))
		}
		if body.Token != s.token {
			return fail(protocol.CodeEnrollTokenInvalid, "unknown enrollment token")
		}
		certPEM, err := s.ca.SignDevice(body.CSR, s.account, body.DeviceCode, now, 24*time.Hour)
		if err != nil {
			return fail(protocol.CodeBadRequest, "sign: %v", err)
		}
		return ok(protocol.EnrollResponse{Account: s.account, DeviceCode: body.DeviceCode, Certificate: certPEM, Servers: s.servers})

	case protocol.TypeCheckout:
		var body protocol.CheckoutRequest
		if err := req.DecodeBody(&body); err != nil {
			return protocol.ErrorResponse(err.(*protocol.Error))
		}
		if l, ok2 := s.byReqID[req.ID]; ok2 && req.ID != "" {
			return ok(protocol.CheckoutResponse{Lease: l})
		}
		seats, known := s.seats[body.Feature]
		if !known {
			return fail(protocol.CodeUnknownFeature, "no pool has feature %q", body.Feature)
		}
		inUse := 0
		for _, l := range s.leases {
			if l.Feature == body.Feature {
				inUse++
			}
		}
		if inUse >= seats {
			return fail(protocol.CodeNoSeat, "all %d seats of %q are in use", seats, body.Feature)
		}
		s.nextID++
		l := protocol.Lease{ID: s.nextID, Feature: body.Feature, Kind: "floating",
			Token: fmt.Sprintf("tok-%d-0", s.nextID), Expires: now.Add(leaseTTL), Since: now}
		s.leases[l.ID] = &fakeLease{Lease: l, device: device}
		s.byReqID[req.ID] = l
		return ok(protocol.CheckoutResponse{Lease: l})

	case protocol.TypeHeartbeat:
		var body protocol.HeartbeatRequest
		if err := req.DecodeBody(&body); err != nil {
			return protocol.ErrorResponse(err.(*protocol.Error))
		}
		resp := protocol.HeartbeatResponse{ServerTime: now, Interval: protocol.Duration(s.interval), Servers: s.servers}
		for _, ref := range body.Leases {
			l, held := s.leases[ref.ID]
			switch {
			case !held || l.device != device:
				resp.Leases = append(resp.Leases, protocol.LeaseStatus{ID: ref.ID, State: protocol.LeaseLost,
					Error: protocol.Errorf(protocol.CodeLeaseNotFound, "no lease %d", ref.ID)})
			case s.lose[ref.ID]:
				delete(s.leases, ref.ID)
				resp.Leases = append(resp.Leases, protocol.LeaseStatus{ID: ref.ID, State: protocol.LeaseLost,
					Error: protocol.Errorf(protocol.CodeLeaseRevoked, "revoked by an administrator")})
			default:
				st := protocol.LeaseStatus{ID: ref.ID, State: protocol.LeaseHeld, Expires: l.Expires}
				if s.rotate {
					l.gen++
					l.Expires = now.Add(leaseTTL)
					l.Token = fmt.Sprintf("tok-%d-%d", l.ID, l.gen)
					st.Token, st.Expires = l.Token, l.Expires
				}
				resp.Leases = append(resp.Leases, st)
			}
		}
		return ok(resp)

	case protocol.TypeRelease:
		var body protocol.ReleaseRequest
		if err := req.DecodeBody(&body); err != nil {
			return protocol.ErrorResponse(err.(*protocol.Error))
		}
		l, held := s.leases[body.LeaseID]
		if !held || l.device != device {
			return fail(protocol.CodeLeaseNotFound, "no lease %d", body.LeaseID)
		}
		delete(s.leases, body.LeaseID)
		s.released = append(s.released, body.LeaseID)
		return ok(protocol.ReleaseResponse{})

	case protocol.TypeServers:
		return ok(protocol.ServersResponse{Servers: s.servers})
	}
	return fail(protocol.CodeUnknownRequest, "unknown request %q", req.Type)
}

// --- accessors for assertions ---

func (s *fakeServer) setSeats(feature string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seats[feature] = n
}

func (s *fakeServer) count(typ protocol.Type) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Type == typ {
			n++
		}
	}
	return n
}

func (s *fakeServer) requestsOf(typ protocol.Type) []protocol.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Request
	for _, r := range s.requests {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// heartbeatIDs returns the lease IDs of every heartbeat received so far.
func (s *fakeServer) heartbeatIDs() [][]uint64 {
	var out [][]uint64
	for _, r := range s.requestsOf(protocol.TypeHeartbeat) {
		var hb protocol.HeartbeatRequest
		if err := r.DecodeBody(&hb); err != nil {
			s.t.Errorf("bad heartbeat body: %v", err)
			continue
		}
		var ids []uint64
		for _, l := range hb.Leases {
			ids = append(ids, l.ID)
		}
		out = append(out, ids)
	}
	return out
}

func (s *fakeServer) releasedIDs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.released)
}

func (s *fakeServer) activeLeases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

// grant creates a lease for device directly, as if an earlier agent run had
// checked it out.
func (s *fakeServer) grant(feature, device string) protocol.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	s.nextID++
	l := protocol.Lease{ID: s.nextID, Feature: feature, Kind: "floating",
		Token: fmt.Sprintf("tok-%d-0", s.nextID), Expires: now.Add(leaseTTL), Since: now}
	s.leases[l.ID] = &fakeLease{Lease: l, device: device}
	return l
}

func (s *fakeServer) loseLease(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose[id] = true
}

func (s *fakeServer) set(f func(s *fakeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer collects the agent's logs for assertions and echoes them to the
// test log while the test runs.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	t    testing.TB
	done bool
}

func newLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{t: t}
	t.Cleanup(func() {
		lb.mu.Lock()
		lb.done = true
		lb.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if !b.done && testing.Verbose() {
		b.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*logBuffer)(nil)
