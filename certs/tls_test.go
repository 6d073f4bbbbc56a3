package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serveOnce accepts one TLS connection on a loopback listener, completes the
// handshake, echoes a byte and reports the peer's certificates.
type handshakeResult struct {
	peers []*x509.Certificate
	err   error
}

func startServer(t *testing.T, conf *tls.Config) (addr string, results <-chan handshakeResult) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan handshakeResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		var b [1]byte
		if _, err := io.ReadFull(tc, b[:]); err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		if _, err := tc.Write(b[:]); err != nil {
			ch <- handshakeResult{err: err}
			return
		}
		ch <- handshakeResult{peers: tc.ConnectionState().PeerCertificates}
	}()
	return ln.Addr().String(), ch
}

func dialAndPing(t *testing.T, addr string, conf *tls.Config) error {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{42}); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if b[0] != 42 {
		return errors.New("bad echo")
	}
	return nil
}

func clock() time.Time { return testNow }

func nodeServerConfig(t *testing.T, ca *CA, hosts []string, clientAuth tls.ClientAuthType) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueNode("node-1", hosts, testNow)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: clientAuth, Time: clock, MinVersion: tls.VersionTLS13}
}

func TestNodeCertificateHandshake(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	hosts := []string{"license.example.com", "10.9.8.7"}
	for _, serverName := range []string{"localhost", "license.example.com", "10.9.8.7", "127.0.0.1"} {
		t.Run(serverName, func(t *testing.T) {
			addr, results := startServer(t, nodeServerConfig(t, ca, hosts, tls.NoClientCert))
			err := dialAndPing(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: serverName, Time: clock})
			if err != nil {
				t.Fatalf("handshake with ServerName %q: %v", serverName, err)
			}
			if r := <-results; r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
		})
	}
	t.Run("wrong name", func(t *testing.T) {
		addr, _ := startServer(t, nodeServerConfig(t, ca, hosts, tls.NoClientCert))
		err := dialAndPing(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "elsewhere.example.com", Time: clock})
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Fatalf("err = %v, want a hostname error", err)
		}
	})
	t.Run("another cluster's CA", func(t *testing.T) {
		addr, _ := startServer(t, nodeServerConfig(t, ca, hosts, tls.NoClientCert))
		err := dialAndPing(t, addr, &tls.Config{RootCAs: newTestCA(t, "tally-2").Pool(), ServerName: "localhost", Time: clock})
		var ue x509.UnknownAuthorityError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v, want an unknown authority error", err)
		}
	})
}

func TestMutualTLSDeviceVerification(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	other := newTestCA(t, "tally-2")

	devicePair := func(t *testing.T, ca *CA, account, code string) tls.Certificate {
		key, certPEM := issueDevice(t, ca, account, code, 24*time.Hour)
		keyPEM, err := EncodeKeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}

	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		want   DeviceID
		reason string
	}{
		{"enrolled device", ptr(devicePair(t, ca, "acme", "LAPTOP-7")), DeviceID{"acme", "LAPTOP-7"}, ""},
		{"device of another cluster", ptr(devicePair(t, other, "acme", "LAPTOP-7")), DeviceID{}, ReasonUnknownAuthority},
		{"no certificate", nil, DeviceID{}, ReasonNoCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := startServer(t, nodeServerConfig(t, ca, nil, tls.RequestClientCert))
			conf := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Time: clock}
			if tc.cert != nil {
				conf.Certificates = []tls.Certificate{*tc.cert}
			}
			if err := dialAndPing(t, addr, conf); err != nil {
				t.Fatalf("client: %v (the handshake must complete whatever the client certificate)", err)
			}
			r := <-results
			if r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
			id, err := VerifyDevice(ca.Pool(), r.peers, testNow)
			if tc.reason == "" {
				if err != nil || id != tc.want {
					t.Fatalf("VerifyDevice = %+v, %v; want %+v", id, err, tc.want)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("VerifyDevice = %+v, %v; want reason %s", id, err, tc.reason)
			}
			if tc.reason == ReasonUnknownAuthority && !strings.Contains(re.Error(), "another Tally cluster") {
				t.Errorf("message %q", re.Error())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
