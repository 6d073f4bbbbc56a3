package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminclient"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// dgEnv is a real node with one enrolled device holding one lease, talking
// to the node over real QUIC and UDP on loopback.
type dgEnv struct {
	t     testing.TB
	n     *Node
	admin *adminclient.Client
	c     *client.Client
	lease protocol.Lease
}

// longLeases keep every horizon far away, so that only what a test does
// (and never the clock of a slow machine) turns a datagram away.
var longLeases = ledger.Settings{LeaseTTL: time.Hour, HeartbeatInterval: 30 * time.Second, MaxSkew: time.Second}

func newDgEnv(t *testing.T) *dgEnv { return newDgEnvWith(t, longLeases) }

func newDgEnvWith(t testing.TB, settings ledger.Settings) *dgEnv {
	t.Helper()
	n, dir := startNodeWith(t, settings)
	ca := filepath.Join(dir, "ca.pem")
	tok, err := readFileTrim(filepath.Join(dir, FileAdminToken))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := adminclient.New(n.AdminAddr(), tok, ca)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := admin.Do(ctx, http.MethodPost, "/v1/accounts", map[string]any{"id": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, http.MethodPut, "/v1/accounts/acme/pools/cad", map[string]any{"seats": 2}, nil); err != nil {
		t.Fatal(err)
	}
	var et api.TokenResponse
	if err := admin.Do(ctx, http.MethodPost, "/v1/accounts/acme/enroll-tokens", map[string]any{}, &et); err != nil {
		t.Fatal(err)
	}
	base, err := client.TLSConfig(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := certs.NewDeviceKey()
	csr, _ := certs.CreateCSR(key, "DG-0001")
	keyPEM, _ := certs.EncodeKeyPEM(key)
	anon, err := client.New([]string{n.AgentAddr()}, base)
	if err != nil {
		t.Fatal(err)
	}
	var enr protocol.EnrollResponse
	if err := anon.Do(ctx, protocol.TypeEnroll, "", protocol.EnrollRequest{Token: et.Token, DeviceCode: "DG-0001", CSR: csr}, &enr); err != nil {
		t.Fatal(err)
	}
	anon.Close()
	pair, err := certs.KeyPair(enr.Certificate, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conf := base.Clone()
	conf.Certificates = []tls.Certificate{pair}
	c, err := client.New([]string{n.AgentAddr()}, conf, client.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var co protocol.CheckoutResponse
	if err := c.Do(ctx, protocol.TypeCheckout, "", protocol.CheckoutRequest{Feature: "cad"}, &co); err != nil {
		t.Fatal(err)
	}
	return &dgEnv{t: t, n: n, admin: admin, c: c, lease: co.Lease}
}

// quicHeartbeat heartbeats over QUIC as a tally-agent does, asking for a
// datagram session.
func (e *dgEnv) quicHeartbeat() protocol.HeartbeatResponse {
	e.t.Helper()
	var resp protocol.HeartbeatResponse
	req := protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: e.lease.ID, Feature: e.lease.Feature}}, Datagrams: true}
	if err := e.c.Do(context.Background(), protocol.TypeHeartbeat, "", req, &resp); err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// metric reads one sample from the node's /metrics, e.g.
// `tally_heartbeat_datagrams_total{result="ok"}`.
func (e *dgEnv) metric(sample string) float64 {
	e.t.Helper()
	var raw []byte
	if err := e.admin.Do(context.Background(), http.MethodGet, "/metrics", nil, &raw); err != nil {
		e.t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				e.t.Fatal(err)
			}
			return f
		}
	}
	e.t.Fatalf("no %s in /metrics", sample)
	return 0
}

func (e *dgEnv) waitMetric(sample string, want float64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.metric(sample) != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s = %v, want %v", sample, e.metric(sample), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	mAccepted = `tally_agent_connections_accepted_total`
	mOK       = `tally_heartbeat_datagrams_total{result="ok"}`
	mQUIC     = `tally_heartbeat_datagrams_total{result="quic"}`
	mReplay   = `tally_heartbeat_datagrams_total{result="replay"}`
	mForged   = `tally_heartbeat_datagrams_total{result="forged"}`
	mUnknown  = `tally_heartbeat_datagrams_total{result="unknown_key"}`
	mBeats    = `tally_heartbeats_total`
)

// A heartbeat with nothing to renew, once the device holds a session, is
// one datagram each way: no QUIC connection is opened, the answer carries
// the lease's horizon, and it counts as a heartbeat.
func TestDatagramHeartbeatOpensNoConnection(t *testing.T) {
	e := newDgEnv(t)
	if e.c.HasSession() {
		t.Fatal("a session before any heartbeat asked for one")
	}
	e.quicHeartbeat()
	if !e.c.HasSession() {
		t.Fatal("no datagram session after a QUIC heartbeat asking for one")
	}
	e.c.Close() // as the agent's idle close does between heartbeats
	accepted, beats := e.metric(mAccepted), e.metric(mBeats)
	for i := range 3 {
		ans, err := e.c.QuickHeartbeat(context.Background(), []uint64{e.lease.ID}, nil)
		if err != nil {
			t.Fatalf("datagram heartbeat %d: %v", i, err)
		}
		if len(ans.Expires) != 1 || !ans.Expires[0].Equal(e.lease.Expires) {
			t.Fatalf("expires %v, want the lease's horizon %v", ans.Expires, e.lease.Expires)
		}
	}
	if got := e.metric(mAccepted); got != accepted {
		t.Fatalf("%v QUIC connections accepted during datagram heartbeats", got-accepted)
	}
	if got := e.metric(mOK); got != 3 {
		t.Fatalf("%s = %v, want 3", mOK, got)
	}
	if got := e.metric(mBeats); got != beats+3 {
		t.Fatalf("heartbeats counted %v, want %v", got, beats+3)
	}
}

// rawSession gets a session's key the way the agent does, but keeps it, so
// that the test can send datagrams of its own making.
func (e *dgEnv) rawSession() *protocol.HeartbeatSession {
	e.t.Helper()
	var out struct {
		Session *protocol.HeartbeatSession `json:"hb_session"`
	}
	req := protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: e.lease.ID, Feature: e.lease.Feature}}, Datagrams: true}
	if err := e.c.Do(context.Background(), protocol.TypeHeartbeat, "", req, &out); err != nil || out.Session == nil {
		e.t.Fatalf("session: %+v, %v", out.Session, err)
	}
	return out.Session
}

// udpExchange sends pkt to the node's agent port and returns the reply, or
// nil when none came within wait.
func udpExchange(t *testing.T, conn *net.UDPConn, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// A replayed datagram (same counter), a forged one (a bit flipped) and one
// with a key ID the node never issued are dropped without an answer and
// change nothing: the next genuine datagram is answered as before.
func TestDatagramReplayForgeryAndUnknownKeyAreDropped(t *testing.T) {
	e := newDgEnv(t)
	hs := e.rawSession()
	aead, err := hbdgram.NewAEAD(hs.Key)
	if err != nil {
		t.Fatal(err)
	}
	var id hbdgram.KeyID
	copy(id[:], hs.KeyID)
	raddr, _ := net.ResolveUDPAddr("udp", e.n.AgentAddr())
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := hbdgram.Request{Leases: []uint64{e.lease.ID}}
	// answered sends a genuine datagram and checks that it is answered,
	// authenticated, for its counter, and (wantOK) "ok".
	answered := func(counter uint64, wantOK bool) {
		t.Helper()
		pkt, _ := hbdgram.AppendRequest(nil, aead, id, counter, req)
		reply := udpExchange(t, conn, pkt, 10*time.Second)
		if len(reply) > len(pkt) {
			t.Fatalf("reply %d bytes to a %d-byte request", len(reply), len(pkt))
		}
		h, err := hbdgram.ParseHeader(reply)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hbdgram.OpenReply(aead, h, reply)
		if err != nil || (wantOK && r.Status != hbdgram.StatusOK) || h.Counter != counter {
			t.Fatalf("reply to counter %d: %+v (counter %d), %v", counter, r, h.Counter, err)
		}
	}
	answered(1, true)
	beats := e.metric(mBeats)

	// Replay: the same datagram again.
	pkt1, _ := hbdgram.AppendRequest(nil, aead, id, 1, req)
	if reply := udpExchange(t, conn, pkt1, 300*time.Millisecond); reply != nil {
		t.Fatalf("a replayed datagram was answered (%d bytes)", len(reply))
	}
	e.waitMetric(mReplay, 1)

	// Forgery: every region of the datagram, one bit flipped.
	pkt2, _ := hbdgram.AppendRequest(nil, aead, id, 2, req)
	for _, at := range []int{hbdgram.HeaderSize - 1, hbdgram.HeaderSize + 3, len(pkt2) - 1} {
		bad := bytes.Clone(pkt2)
		bad[at] ^= 0x10
		if reply := udpExchange(t, conn, bad, 300*time.Millisecond); reply != nil {
			t.Fatalf("a datagram with byte %d changed was answered", at)
		}
	}
	e.waitMetric(mForged, 3)

	// A key ID this node never issued (a restarted node forgot them all).
	other := id
	other[0] ^= 0xff
	pkt3, _ := hbdgram.AppendRequest(nil, aead, other, 3, req)
	if reply := udpExchange(t, conn, pkt3, 300*time.Millisecond); reply != nil {
		t.Fatal("a datagram with an unknown key ID was answered")
	}
	e.waitMetric(mUnknown, 1)

	if got := e.metric(mBeats); got != beats {
		t.Fatalf("dropped datagrams counted %v heartbeats", got-beats)
	}
	// The forged counter 2 did not advance the session: the genuine 2 is
	// answered "ok".
	answered(2, true)
}

// A revoked lease is never "all still held": the datagram says ask over
// QUIC, and the QUIC heartbeat reports the lease lost.
func TestDatagramRevokedLeaseGoesToQUIC(t *testing.T) {
	e := newDgEnv(t)
	e.quicHeartbeat()
	ctx := context.Background()
	if err := e.admin.Do(ctx, http.MethodPost, "/v1/leases/"+strconv.FormatUint(e.lease.ID, 10)+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, nil); !errors.Is(err, client.ErrAskQUIC) {
		t.Fatalf("datagram heartbeat of a revoked lease: %v, want ErrAskQUIC", err)
	}
	resp := e.quicHeartbeat()
	if len(resp.Leases) != 1 || resp.Leases[0].State != protocol.LeaseLost {
		t.Fatalf("QUIC heartbeat after revoke: %+v, want lost", resp.Leases)
	}
}

// A policy change reaches the agent at its next heartbeat: the datagram
// says ask over QUIC (the view it was given is stale), and the QUIC answer
// carries the new policy and a new session that is "ok" again.
func TestDatagramPolicyChangeGoesToQUIC(t *testing.T) {
	e := newDgEnv(t)
	e.quicHeartbeat()
	ctx := context.Background()
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, nil); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	pol := api.PolicyRequest{Policy: api.Policy{IdleTimeout: protocol.Duration(7 * time.Minute)}}
	if err := e.admin.Do(ctx, http.MethodPut, "/v1/accounts/acme/policy", pol, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, nil); !errors.Is(err, client.ErrAskQUIC) {
		t.Fatalf("after a policy change: %v, want ErrAskQUIC", err)
	}
	resp := e.quicHeartbeat()
	if resp.Policy == nil || resp.Policy.IdleTimeout.D() != 7*time.Minute {
		t.Fatalf("QUIC heartbeat policy %+v, want idle timeout 7m", resp.Policy)
	}
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, nil); err != nil {
		t.Fatalf("after the QUIC heartbeat: %v", err)
	}
}

// A lease within half its TTL of its horizon must be renewed, which only
// QUIC does: the datagram says so, and the QUIC heartbeat moves the horizon.
func TestDatagramNearTheHorizonRenewsOverQUIC(t *testing.T) {
	e := newDgEnvWith(t, testSettings) // lease TTL 3 s
	e.quicHeartbeat()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, nil)
		if errors.Is(err, client.ErrAskQUIC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the datagram heartbeat kept answering ok as the horizon came near")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp := e.quicHeartbeat()
	if len(resp.Leases) != 1 || resp.Leases[0].State != protocol.LeaseHeld || !resp.Leases[0].Expires.After(e.lease.Expires) || resp.Leases[0].Token == "" {
		t.Fatalf("QUIC heartbeat near the horizon: %+v, want a renewal past %v", resp.Leases, e.lease.Expires)
	}
}

// BenchmarkDatagramHeartbeat is the node's whole work for one datagram
// heartbeat of a device holding one lease: header, session, counter,
// AES-GCM open, the read-only checks against the applied ledger (device,
// lease, view), the last-seen books and the sealed reply. It runs the
// server's handler directly, without the UDP socket (the floor phase of
// tally-bench measures that part). Compare BenchmarkHeartbeatNoRenewal
// (daemon/leasing) and the resumed QUIC connection it replaces.
func BenchmarkDatagramHeartbeat(b *testing.B) {
	e := newDgEnvWith(b, longLeases)
	hs := e.rawSession()
	aead, err := hbdgram.NewAEAD(hs.Key)
	if err != nil {
		b.Fatal(err)
	}
	var id hbdgram.KeyID
	copy(id[:], hs.KeyID)
	req := hbdgram.Request{Leases: []uint64{e.lease.ID}}
	const batch = 4096
	pkts := make([][]byte, batch)
	counter := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			for j := range pkts {
				counter++
				pkts[j], _ = hbdgram.AppendRequest(pkts[j][:0], aead, id, counter, req)
			}
			b.StartTimer()
		}
		reply := e.n.agents.AnswerDatagram(pkts[i%batch])
		if reply == nil {
			b.Fatal("no answer")
		}
	}
	b.StopTimer()
	if ok := e.metric(mOK); ok != float64(b.N) {
		b.Fatalf("%v answered ok of %d", ok, b.N)
	}
}

// A member signed out by an administrator: the datagram listing that
// sign-in says ask over QUIC, and the QUIC heartbeat lists it as signed
// out (the agent then drops it).
func TestDatagramSignedOutMemberGoesToQUIC(t *testing.T) {
	e := newDgEnv(t)
	ctx := context.Background()
	const email, password = "ann@acme.test", "correct horse battery staple"
	seats := 5
	if err := e.admin.Do(ctx, http.MethodPut, "/v1/accounts/acme/seats", api.MemberRequest{Seats: &seats}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Do(ctx, http.MethodPost, "/v1/accounts/acme/users", api.MemberRequest{Email: email, Role: "member", Password: password}, nil); err != nil {
		t.Fatal(err)
	}
	var login protocol.LoginResponse
	if err := e.c.Do(ctx, protocol.TypeLogin, "", protocol.LoginRequest{Email: email, Password: password}, &login); err != nil {
		t.Fatal(err)
	}
	signIns := []string{login.SignInID}
	heartbeat := func() protocol.HeartbeatResponse {
		t.Helper()
		var resp protocol.HeartbeatResponse
		req := protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: e.lease.ID, Feature: e.lease.Feature}}, SignIns: signIns, Datagrams: true}
		if err := e.c.Do(ctx, protocol.TypeHeartbeat, "", req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := heartbeat(); len(resp.SignedOut) != 0 {
		t.Fatalf("signed out at once: %v", resp.SignedOut)
	}
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, signIns); err != nil {
		t.Fatalf("while signed in: %v", err)
	}
	if err := e.admin.Do(ctx, http.MethodPost, "/v1/accounts/acme/users/"+email+"/sign-out", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.QuickHeartbeat(ctx, []uint64{e.lease.ID}, signIns); !errors.Is(err, client.ErrAskQUIC) {
		t.Fatalf("after the sign-out: %v, want ErrAskQUIC", err)
	}
	if resp := heartbeat(); len(resp.SignedOut) != 1 || resp.SignedOut[0] != login.SignInID {
		t.Fatalf("QUIC heartbeat after the sign-out: signed out %v, want [%s]", resp.SignedOut, login.SignInID)
	}
}
