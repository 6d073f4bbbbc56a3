package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/certs"
)

// The floor is what the machine can do without Tally: raw quic-go round
// trips with mutual TLS over as many connections as the bench has devices,
// served by a separate process as tallyd would be, and Ed25519 signatures
// on one core. Every Tally figure is printed as a ratio to it, because on a
// shared machine the absolute figures move with the neighbours' load while
// the ratio to a floor measured in the same run moves much less.

// Frame sizes of the floor's round trip: about what a checkout request and
// its answer (a signed lease token) weigh on the agent protocol.
const (
	floorRequestBytes  = 160
	floorResponseBytes = 900
	floorALPN          = "tally-floor"
)

// Floor is what the floor phases measured.
type Floor struct {
	Connections int `json:"connections"`
	// Handshake is N full mutual-TLS handshakes (ECDSA device certificate,
	// as agents present).
	Handshake               Phase   `json:"handshake"`
	ServerCPUusPerHandshake float64 `json:"server_cpu_us_per_handshake"`
	// ServerRSSPerConnKiB is the floor server's resident memory growth per
	// open, idle connection.
	ServerRSSPerConnKiB float64 `json:"server_rss_per_connection_kib"`
	// RoundTrip is one request/response on a new stream of an open
	// connection, once per connection.
	RoundTrip        Phase   `json:"round_trip"`
	ServerCPUusPerRT float64 `json:"server_cpu_us_per_round_trip"`
	// Resumed is a new connection per operation, resumed with a TLS 1.3
	// session ticket (no 0-RTT), one round trip, closed: what a device that
	// holds no idle connection pays per heartbeat.
	Resumed               Phase   `json:"resumed"`
	ResumedFraction       float64 `json:"resumed_fraction"`
	ServerCPUusPerResumed float64 `json:"server_cpu_us_per_resumed_round_trip"`
	// Ed25519 signatures per second on one goroutine locked to one thread.
	Ed25519SignsPerSec float64 `json:"ed25519_signs_per_sec"`
	// Datagram is one AES-GCM sealed UDP datagram each way per operation
	// on the same port, opened and sealed by the server: the floor of a
	// datagram heartbeat.
	Datagram               Phase   `json:"datagram"`
	ServerCPUusPerDatagram float64 `json:"server_cpu_us_per_datagram_round_trip"`
}

// CheckoutCPUus is the floor for server CPU per checkout: one round trip
// and one signature.
func (f *Floor) CheckoutCPUus() float64 {
	if f.Ed25519SignsPerSec == 0 {
		return f.ServerCPUusPerRT
	}
	return f.ServerCPUusPerRT + 1e6/f.Ed25519SignsPerSec
}

// floorFiles is where the floor's certificates live.
type floorFiles struct{ dir string }

func (f floorFiles) ca() string         { return filepath.Join(f.dir, "ca.pem") }
func (f floorFiles) serverCert() string { return filepath.Join(f.dir, "server.pem") }
func (f floorFiles) serverKey() string  { return filepath.Join(f.dir, "server.key") }
func (f floorFiles) addr() string       { return filepath.Join(f.dir, "addr") }

// ServeFloor is the floor server: mutual-TLS QUIC on addr, one goroutine per
// connection and per stream (as tallyd's agent server), answering each
// request frame with a fixed-size frame. dir holds the certificates the
// bench generated; the bound address is written to dir/addr (addr may have
// port 0). It returns when ctx ends.
func ServeFloor(ctx context.Context, addr, dir string) error {
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("floor server: listen on %s: %w", addr, err)
	}
	if err := certs.WriteFileAtomic(floorFiles{dir}.addr(), []byte(udp.LocalAddr().String()), 0o600); err != nil {
		udp.Close()
		return fmt.Errorf("floor server: %w", err)
	}
	return serveFloor(ctx, udp, dir)
}

func serveFloor(ctx context.Context, udp net.PacketConn, dir string) error {
	ff := floorFiles{dir}
	pool, err := certs.LoadCAPool(ff.ca())
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(ff.serverCert(), ff.serverKey())
	if err != nil {
		udp.Close()
		return fmt.Errorf("floor server certificate: %w", err)
	}
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	go serveFloorDatagrams(ctx, tr, dir)
	ln, err := tr.Listen(&tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, NextProtos: []string{floorALPN},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}, &quic.Config{MaxIdleTimeout: 5 * time.Minute, HandshakeIdleTimeout: 10 * time.Second, MaxIncomingStreams: 256})
	if err != nil {
		return fmt.Errorf("floor server: %w", err)
	}
	defer ln.Close()
	answer := make([]byte, 4+floorResponseBytes)
	binary.BigEndian.PutUint32(answer, floorResponseBytes)
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			for {
				str, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				go func() {
					defer str.Close()
					if _, err := readFloorFrame(str); err != nil {
						str.CancelRead(1)
						return
					}
					str.Write(answer)
				}()
			}
		}()
	}
}

func readFloorFrame(r io.Reader) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<16 {
		return 0, errors.New("floor frame too large")
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return int(n), err
}

// floorProc is the floor server process.
type floorProc struct {
	cmd  *exec.Cmd
	addr string
}

// startFloor writes the floor's certificates into dir and starts self
// (this binary) as "floor-server" on addr.
func startFloor(ctx context.Context, self, addr, dir string) (*floorProc, *tls.Config, error) {
	conf, err := writeFloorCerts(dir)
	if err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "floor-server.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, "floor-server", "--addr", addr, "--dir", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start the floor server (%s floor-server): %w", self, err)
	}
	logf.Close()
	p := &floorProc{cmd: cmd}
	if err := waitFor(ctx, 20*time.Second, "the floor server's address", func() error {
		b, err := os.ReadFile(floorFiles{dir}.addr())
		p.addr = string(b)
		return err
	}); err != nil {
		return p, nil, err
	}
	return p, conf, nil
}

// writeFloorCerts writes a throwaway CA and the floor server's certificate
// into dir and returns the clients' TLS configuration, with a device
// certificate from that CA (ECDSA P-256, as agents have).
func writeFloorCerts(dir string) (*tls.Config, error) {
	ff := floorFiles{dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := certs.NewCA("floor", time.Now())
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueNode("floor", []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		return nil, err
	}
	devKey, err := certs.NewDeviceKey()
	if err != nil {
		return nil, err
	}
	csr, err := certs.CreateCSR(devKey, "floor-device")
	if err != nil {
		return nil, err
	}
	devCert, err := ca.SignDevice(csr, "floor", "floor-device", time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	devKeyPEM, err := certs.EncodeKeyPEM(devKey)
	if err != nil {
		return nil, err
	}
	pair, err := certs.KeyPair(devCert, devKeyPEM)
	if err != nil {
		return nil, err
	}
	for file, data := range map[string][]byte{ff.ca(): ca.CertPEM(), ff.serverCert(): certPEM, ff.serverKey(): keyPEM} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	if _, err := writeFloorKey(dir); err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}, ServerName: "localhost",
		MinVersion: tls.VersionTLS13, NextProtos: []string{floorALPN}}, nil
}

func (p *floorProc) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func (p *floorProc) stats() (time.Duration, int64) {
	ps, err := readProc(p.cmd.Process.Pid)
	if err != nil {
		return 0, 0
	}
	return ps.CPU, ps.RSSKiB
}

// runFloor measures the floor with n connections and conc requests in
// flight, over the bench's shared client transports.
func runFloor(ctx context.Context, cfg Config, transports *transportPool, dir string, say func(string, ...any)) (*Floor, error) {
	proc, base, err := startFloor(ctx, cfg.Self, cfg.ports().floor(), dir)
	defer proc.stop()
	if err != nil {
		return nil, err
	}
	addr := proc.addr
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	n := cfg.Devices
	quicConf := &quic.Config{MaxIdleTimeout: 5 * time.Minute, HandshakeIdleTimeout: 10 * time.Second}
	// Each simulated device keeps its own session cache, as an agent does.
	confs := make([]*tls.Config, n)
	for i := range confs {
		confs[i] = base.Clone()
		confs[i].ClientSessionCache = tls.NewLRUClientSessionCache(1)
	}
	dial := func(ctx context.Context, i int) (*quic.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return transports.get(i).Dial(dctx, udpAddr, confs[i], quicConf)
	}
	if err := waitFor(ctx, 20*time.Second, "the floor server", func() error {
		c, err := quic.DialAddr(ctx, addr, base, quicConf)
		if err != nil {
			return err
		}
		return c.CloseWithError(0, "")
	}); err != nil {
		return nil, err
	}
	f := &Floor{Connections: n}
	conns := make([]*quic.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseWithError(0, "")
			}
		}
	}()
	m := measurer{ctx: ctx, conc: cfg.Concurrency, stats: proc.stats}

	say("floor: %d mutual-TLS QUIC handshakes", n)
	_, rss0 := proc.stats()
	f.Handshake, err = m.run("floor handshake", n, func(i int) error {
		c, err := dial(ctx, i)
		conns[i] = c
		return err
	})
	if err != nil {
		return nil, err
	}
	f.ServerCPUusPerHandshake = perOpUs(f.Handshake)
	time.Sleep(500 * time.Millisecond) // let the session tickets arrive and the server settle
	if _, rss1 := proc.stats(); n > 0 {
		f.ServerRSSPerConnKiB = float64(rss1-rss0) / float64(n)
	}

	say("floor: %d round trips, one per connection", n)
	f.RoundTrip, err = m.run("floor round trip", n, func(i int) error {
		if conns[i] == nil {
			return errors.New("not connected")
		}
		return floorRoundTrip(ctx, conns[i])
	})
	if err != nil {
		return nil, err
	}
	f.ServerCPUusPerRT = perOpUs(f.RoundTrip)

	for i, c := range conns {
		if c != nil {
			c.CloseWithError(0, "")
			conns[i] = nil
		}
	}
	say("floor: %d resumed connections with one round trip each", n)
	var resumed atomic.Int64
	f.Resumed, err = m.run("floor resumed", n, func(i int) error {
		c, err := dial(ctx, i)
		if err != nil {
			return err
		}
		defer c.CloseWithError(0, "")
		if c.ConnectionState().TLS.DidResume {
			resumed.Add(1)
		}
		return floorRoundTrip(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	f.ServerCPUusPerResumed = perOpUs(f.Resumed)
	if n > 0 {
		f.ResumedFraction = float64(resumed.Load()) / float64(n)
	}

	say("floor: %d authenticated datagram round trips", 2*n)
	f.Datagram, err = floorDatagrams(ctx, m, addr, dir, 2*n)
	if err != nil {
		return nil, err
	}
	f.ServerCPUusPerDatagram = perOpUs(f.Datagram)

	say("floor: Ed25519 signatures on one core")
	f.Ed25519SignsPerSec = ed25519Rate(time.Second)
	return f, nil
}

func floorRoundTrip(ctx context.Context, c *quic.Conn) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	str, err := c.OpenStreamSync(sctx)
	if err != nil {
		return err
	}
	defer context.AfterFunc(sctx, func() { str.CancelRead(0); str.CancelWrite(0) })()
	req := make([]byte, 4+floorRequestBytes)
	binary.BigEndian.PutUint32(req, floorRequestBytes)
	if _, err := str.Write(req); err != nil {
		return err
	}
	if err := str.Close(); err != nil {
		return err
	}
	_, err = readFloorFrame(str)
	return err
}

// ed25519Rate signs a lease-sized message for d on one goroutine locked to
// its thread and returns signatures per second.
func ed25519Rate(d time.Duration) float64 {
	var rate float64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return
		}
		msg := make([]byte, 400)
		n := 0
		t0 := time.Now()
		for time.Since(t0) < d {
			for range 100 {
				ed25519.Sign(key, msg)
			}
			n += 100
		}
		rate = float64(n) / time.Since(t0).Seconds()
	}()
	wg.Wait()
	return rate
}

func perOpUs(p Phase) float64 {
	ok := p.Ops - p.Errors
	if ok <= 0 {
		return 0
	}
	return p.ServerCPUSeconds / float64(ok) * 1e6
}
