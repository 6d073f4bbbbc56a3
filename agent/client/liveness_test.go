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
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/protocol"
)

// fakeServer is a real QUIC listener on loopback that answers liveness
// probes (the server list) at once and every other request after delay,
// or never when hung is set: a node that is alive but slow, or one that
// stopped answering without closing its connection (as a killed process
// does).
func fakeServer(t *testing.T, delay time.Duration, hung bool) (addr string, roots *x509.CertPool) {
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
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13}, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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
						if hung {
							return // read, never answered, stream left open
						}
						if req.Type != protocol.TypeServers {
							time.Sleep(delay)
						}
						resp, _ := protocol.OKResponse(protocol.ServersResponse{Interval: protocol.Duration(42 * time.Second)})
						protocol.WriteFrame(str, resp)
						str.Close()
					}()
				}
			}()
		}
	}()
	return ln.Addr().String(), roots
}

func TestUnresponsiveServerIsGivenUpByTheLivenessProbe(t *testing.T) {
	addr, roots := fakeServer(t, 0, true)
	c, err := New([]string{addr}, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(context.Background(), protocol.TypeServers, "r1", protocol.ServersRequest{}, nil)
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "liveness probe") {
		t.Fatalf("a server that stopped answering: %v; want a transport error naming the failed liveness probe (not the %v attempt timeout)", err, AttemptTimeout)
	}
}

func TestSlowButAliveServerIsWaitedFor(t *testing.T) {
	addr, roots := fakeServer(t, ProbeAfter+ProbeTimeout+500*time.Millisecond, false)
	c, err := New([]string{addr}, &tls.Config{RootCAs: roots})
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
