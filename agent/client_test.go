package agent_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
)

// otherCA writes a CA file that did not sign the fake server's certificate.
func otherCA(t *testing.T) string {
	t.Helper()
	ca, err := certs.NewCA("another-cluster", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// silentServer is a UDP port that swallows packets: a node that is down.
func silentServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestUntrustedServerIsNamed(t *testing.T) {
	srv := newFakeServer(t)
	caFile := otherCA(t)
	conf, err := client.TLSConfig(caFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = client.Dial(ctx, []string{srv.addr}, conf, client.WithCAFile(caFile))
	var ue *client.UntrustedServerError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "is not signed by the CA given in --ca") || !strings.Contains(err.Error(), caFile) {
		t.Fatalf("Dial with the wrong CA = %v", err)
	}

	// The agent stops at once with that error instead of retrying forever.
	dir := t.TempDir()
	err = agent.Run(ctx, agent.Config{StateDir: dir, Servers: []string{srv.addr}, CAFile: caFile, EnrollToken: srv.token})
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "not signed by the CA given in --ca") {
		t.Fatalf("Run with the wrong CA = %v", err)
	}
	if srv.count(protocol.TypeEnroll) != 0 {
		t.Fatal("an enrollment reached an untrusted server")
	}
}

func TestFailoverSkipsDeadServer(t *testing.T) {
	srv := newFakeServer(t)
	dead := silentServer(t)
	conf, err := client.TLSConfig(srv.caFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, []string{dead, srv.addr}, conf, client.WithDialTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if addr, ok := c.Connected(); !ok || addr != srv.addr {
		t.Fatalf("connected to %q (%v), want %s", addr, ok, srv.addr)
	}
	// A round trip without a device certificate: the server's refusal comes
	// back as a protocol error, not a transport error.
	err = c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{}, &protocol.ServersResponse{})
	if protocol.CodeOf(err) != protocol.CodeNotEnrolled {
		t.Fatalf("Do = %v, want %s", err, protocol.CodeNotEnrolled)
	}

	// After the server drops the connection, the next call reconnects.
	srv.dropConnections()
	waitFor(t, "connection seen as closed", func() bool { _, ok := c.Connected(); return !ok })
	err = c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{}, &protocol.ServersResponse{})
	if protocol.CodeOf(err) != protocol.CodeNotEnrolled {
		t.Fatalf("Do after reconnect = %v", err)
	}

	if err := c.SetServers([]string{"no-port"}); err == nil {
		t.Fatal("address without a port accepted")
	}
	if err := c.SetServers([]string{srv.addr, " ", srv.addr, dead}); err != nil {
		t.Fatal(err)
	}
	if got := c.Servers(); len(got) != 2 || got[0] != srv.addr || got[1] != dead {
		t.Fatalf("servers = %v", got)
	}
}

func TestNoServerReachable(t *testing.T) {
	conf, err := client.TLSConfig(newFakeServer(t).caFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New([]string{silentServer(t), silentServer(t)}, conf,
		client.WithDialTimeout(100*time.Millisecond), client.WithBackoff(client.Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err = c.Do(ctx, protocol.TypeServers, "", protocol.ServersRequest{}, nil)
	var te *client.TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || protocol.CodeOf(err) != "" {
		t.Fatalf("Do with every server down = %v, want a TransportError ending in the deadline", err)
	}
	if _, err := client.New(nil, conf); !errors.Is(err, client.ErrNoServers) {
		t.Fatalf("New without servers = %v", err)
	}
}

func TestServerName(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1": "localhost", "::1": "localhost", "10.1.2.3": "localhost", "LocalHost": "localhost",
		"tally-1.example.com": "tally-1.example.com",
	} {
		if got := client.ServerName(host); got != want {
			t.Errorf("ServerName(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	b := client.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for n, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 50 {
			if d := b.Delay(n); d < base/2 || d > base {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, base/2, base)
			}
		}
	}
}
