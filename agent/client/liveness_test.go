package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/protocol"
)

// fakeServer is a real QUIC listener on loopback. It answers liveness
// probes (the server list) at once unless probesToo, and every other
// request after delay, or never when hung is set. kill makes its socket
// silent — nothing sent, everything received dropped — as a process killed
// with SIGKILL (or frozen with SIGSTOP) is to its peers, while its QUIC
// state stays as it was.
type fakeServer struct {
	addr  string
	cert  *x509.Certificate
	roots *x509.CertPool
	sock  *silenceableConn
}

type fakeBehaviour struct {
	delay     time.Duration // before answering a request
	probesToo bool          // delay the liveness probes' answers as well
	hung      bool          // read requests, never answer them
}

// silenceableConn is a UDP socket that can go silent.
type silenceableConn struct {
	net.PacketConn
	silent atomic.Bool
}

func (s *silenceableConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if s.silent.Load() {
		return len(b), nil
	}
	return s.PacketConn.WriteTo(b, addr)
}

func (s *silenceableConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := s.PacketConn.ReadFrom(b)
		if err != nil || !s.silent.Load() {
			return n, addr, err
		}
	}
}

func (s *fakeServer) kill() { s.sock.silent.Store(true) }

func newFakeServer(t *testing.T, b fakeBehaviour) *fakeServer {
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
	s := &fakeServer{cert: cert, roots: x509.NewCertPool()}
	s.roots.AddCert(cert)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.sock = &silenceableConn{PacketConn: udp}
	tr := &quic.Transport{Conn: s.sock}
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); tr.Close(); udp.Close() })
	s.addr = udp.LocalAddr().String()
	go func() {
		for {
			conn, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
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
						if b.hung {
							return // read, never answered, stream left open
						}
						if req.Type != protocol.TypeServers || b.probesToo {
							time.Sleep(b.delay)
						}
						resp, _ := protocol.OKResponse(protocol.ServersResponse{Interval: protocol.Duration(42 * time.Second)})
						protocol.WriteFrame(str, resp)
						str.Close()
					}()
				}
			}()
		}
	}()
	return s
}

// A killed node sends nothing: a request on a connection to it is given up
// as soon as a liveness probe brings nothing back, not at the attempt
// timeout, and the next request goes to the other server.
func TestKilledServerIsGivenUpByTheLivenessProbe(t *testing.T) {
	doomed, other := newFakeServer(t, fakeBehaviour{}), newFakeServer(t, fakeBehaviour{})
	roots := x509.NewCertPool()
	roots.AddCert(doomed.cert)
	roots.AddCert(other.cert)
	c, err := New([]string{doomed.addr, other.addr}, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, protocol.TypeServers, "r1", protocol.ServersRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	if addr, _ := c.Connected(); addr != doomed.addr {
		t.Fatalf("connected to %s, want the first server %s", addr, doomed.addr)
	}
	doomed.kill()
	err = c.Do(ctx, protocol.TypeHeartbeat, "r2", protocol.HeartbeatRequest{}, nil)
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "stopped answering") {
		t.Fatalf("a killed server: %v; want a transport error naming the failed liveness probe (not the %v attempt timeout)", err, AttemptTimeout)
	}
	if err := c.Do(ctx, protocol.TypeHeartbeat, "r2", protocol.HeartbeatRequest{}, nil); err != nil {
		t.Fatalf("retry after the kill: %v", err)
	}
	if addr, _ := c.LastAnswer(); addr != other.addr {
		t.Fatalf("answered by %s after the kill, want the other server %s", addr, other.addr)
	}
}

// A server too busy to answer anything promptly — its liveness probes
// included, as tallyd at 50,000 devices was (issue 16) — still
// acknowledges what it receives: it is alive, and the request is waited
// for instead of being abandoned (and retried, adding to its load).
func TestBusyServerThatAnswersProbesLateIsWaitedFor(t *testing.T) {
	s := newFakeServer(t, fakeBehaviour{delay: ProbeAfter + 3*ProbeTimeout, probesToo: true})
	c, err := New([]string{s.addr}, &tls.Config{RootCAs: s.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out protocol.ServersResponse
	if err := c.Do(context.Background(), protocol.TypeRelease, "r1", protocol.ReleaseRequest{LeaseID: 7}, &out); err != nil {
		t.Fatalf("a busy server that answers late was given up: %v", err)
	}
	if out.Interval.D() != 42*time.Second {
		t.Fatalf("answer %+v", out)
	}
}

func TestSlowButAliveServerIsWaitedFor(t *testing.T) {
	s := newFakeServer(t, fakeBehaviour{delay: ProbeAfter + ProbeTimeout + 500*time.Millisecond})
	c, err := New([]string{s.addr}, &tls.Config{RootCAs: s.roots})
	if err != nil {
		t.Fatal(err)
	}
	var out protocol.ServersResponse
	if err := c.Do(context.Background(), protocol.TypeHeartbeat, "r1", protocol.HeartbeatRequest{}, &out); err != nil {
		t.Fatalf("a slow server that answers its probes was given up: %v", err)
	}
	if out.Interval.D() != 42*time.Second {
		t.Fatalf("answer %+v", out)
	}
}
