package loadgen

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// The floor server answers a round trip over mutual-TLS QUIC, and a second
// connection from the same client resumes the first one's TLS session: the
// floor's "resumed" phase measures what it says.
func TestFloorServerRoundTripAndResumption(t *testing.T) {
	dir := t.TempDir()
	conf, err := writeFloorCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveFloor(ctx, udp, dir) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("floor server: %v", err)
		}
	}()
	conf.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	qc := &quic.Config{HandshakeIdleTimeout: 10 * time.Second}
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	for i, wantResumed := range []bool{false, true} {
		c, err := quic.DialAddr(dctx, udp.LocalAddr().String(), conf, qc)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if err := floorRoundTrip(dctx, c); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		if got := c.ConnectionState().TLS.DidResume; got != wantResumed {
			t.Errorf("connection %d resumed %v; want %v", i, got, wantResumed)
		}
		c.CloseWithError(0, "")
	}

	// A client without a certificate from the floor's CA is refused: the
	// floor measures mutual TLS, as agents use.
	anon := conf.Clone()
	anon.Certificates = nil
	anon.ClientSessionCache = nil
	if c, err := quic.DialAddr(dctx, udp.LocalAddr().String(), anon, qc); err == nil {
		if err := floorRoundTrip(dctx, c); err == nil {
			t.Error("a client without a certificate got an answer")
		}
		c.CloseWithError(0, "")
	}

	// Authenticated datagrams on the same port are answered (the datagram
	// heartbeat's floor).
	p, err := floorDatagrams(ctx, measurer{ctx: ctx, conc: 2, stats: func() (time.Duration, int64) { return 0, 0 }}, udp.LocalAddr().String(), dir, 5)
	if err != nil || p.Ops != 5 || p.Errors != 0 {
		t.Fatalf("floor datagrams: %+v, %v", p, err)
	}
}

func TestEd25519RateIsPositive(t *testing.T) {
	if r := ed25519Rate(20 * time.Millisecond); r <= 0 {
		t.Errorf("rate %v", r)
	}
}

func TestPortPlanKeepsEveryListenerApart(t *testing.T) {
	p := portPlan{base: 20000}
	seen := map[string]string{}
	for i := range 3 {
		for what, a := range map[string]string{"agent": p.agent(i), "admin": p.admin(i), "raft": p.raft(i), "pprof": p.pprof(i)} {
			if prev, dup := seen[a]; dup {
				t.Fatalf("%s of node %d and %s share %s", what, i, prev, a)
			}
			seen[a] = what
		}
	}
	if _, dup := seen[p.floor()]; dup {
		t.Fatalf("floor port %s is a node's", p.floor())
	}
	if e := (portPlan{}); e.check() != nil || e.agent(2) != "127.0.0.1:0" || e.floor() != "127.0.0.1:0" {
		t.Errorf("base 0 should bind every listener to port 0")
	}
	for _, bad := range []int{-1, 65500} {
		if err := (portPlan{base: bad}).check(); err == nil || !strings.Contains(err.Error(), "--port-base") {
			t.Errorf("base %d: err %v; want a --port-base error", bad, err)
		}
	}
}

// The results table reads each figure against its floor and target.
func TestTargetsRatiosAndVerdicts(t *testing.T) {
	r := &Report{
		Floor: &Floor{RoundTrip: Phase{OpsPerSec: 10000, P99ms: 5}, ServerCPUusPerRT: 80, Ed25519SignsPerSec: 50000,
			ServerRSSPerConnKiB: 85, ServerCPUusPerResumed: 250, ServerCPUusPerDatagram: 10},
		Runs: []*Result{
			{Nodes: 1, Devices: 50000, LeaderRSSPerKDevKiB: 12000, ServerCPUmsPerKCheckouts: 110, ServerCPUmsPerKHeartbeats: 320,
				IdleCloseSeconds: 1, ServerCPUusPerDatagram: 20, SteadyHeartbeatUs: 102,
				Phases: []Phase{{Name: "checkout", OpsPerSec: 8500, P99ms: 25, Ops: 50000, ServerCPUSeconds: 10}, {Name: "heartbeat"}, {Name: "heartbeat-datagram"}}},
			{Nodes: 3, Devices: 50000, Elections: 1, GrantsResumeSeconds: 1.2, ElectionSeconds: 1.0,
				Phases: []Phase{{Name: "checkout", OpsPerSec: 9000, Ops: 50000, ServerCPUSeconds: 20,
					PerNode: []NodeUsage{{Node: "node1", CPUSeconds: 8}, {Node: "node2", CPUSeconds: 6}, {Node: "node3", CPUSeconds: 6}}}}},
		},
	}
	r.ComputeTargets()
	got := map[string]Target{}
	for _, tg := range r.Targets {
		got[strings.SplitN(tg.Figure, " (", 2)[0]] = tg
	}
	check := func(fig string, now, ratio float64, met bool) {
		t.Helper()
		tg, ok := got[fig]
		if !ok {
			t.Fatalf("no row %q in %v", fig, r.Targets)
		}
		if diff(tg.Now, now) || diff(tg.Ratio, ratio) || tg.Met != met {
			t.Errorf("%s: now %v ratio %v met %v; want %v %v %v", fig, tg.Now, tg.Ratio, tg.Met, now, ratio, met)
		}
	}
	check("server RSS per enrolled device, 1 node, 50000 devices", 12, 12.0/85, true)
	check("server CPU per checkout, 1 node", 0.11, 0.11/0.1, true) // floor 80 µs + 20 µs per signature
	check("checkouts/s, 1 node", 8500, 0.85, true)
	check("checkout p99, 1 node", 25, 5, false)
	check("server CPU per QUIC heartbeat, 1 node", 320, 320.0/250, false)
	check("server CPU per datagram heartbeat, 1 node", 20, 2, true)
	// TTL 5m, interval 30s: 1 renewal in 6 heartbeats, plus a server-list
	// refresh every 10: 0.267 QUIC + 0.833 datagram per heartbeat.
	check("server CPU per heartbeat, steady fleet, 1 node", 102, 102/(250*(1.0/6+0.1)+10*5.0/6), true)
	check("elections on the healthy 3-node cluster under load", 1, 0, false)
	check("grants resume after a leader kill", 1.2, 1.2, true)
	check("checkouts/s, 3 nodes ÷ 1 node", 9000.0/8500, 0, true)
	// One node spends 0.2 ms per checkout; the busiest of three 0.16 ms.
	check("checkout capacity, 3 nodes ÷ 1 node, a core per node", 10.0/8, 0, true)
}

func diff(a, b float64) bool { return a-b > 1e-9 || b-a > 1e-9 }

// The steady mix follows from when a node renews: below TTL/2 left.
func TestSteadyMix(t *testing.T) {
	m := SteadyMix(5*time.Minute, 30*time.Second)
	if m.Cycle != 6 || diff(m.DatagramPerHeartbeat, 5.0/6) || diff(m.QUICPerHeartbeat, 1.0/6+0.1) {
		t.Fatalf("5m/30s: %+v", m)
	}
	if m := SteadyMix(10*time.Second, 30*time.Second); m.Cycle != 1 || m.DatagramPerHeartbeat != 0 {
		t.Fatalf("a TTL shorter than two intervals renews every heartbeat: %+v", m)
	}
}
