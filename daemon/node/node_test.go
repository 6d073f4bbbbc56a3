package node

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminclient"
	"github.com/tally-licensing/tally/protocol"
)

var testSettings = ledger.Settings{LeaseTTL: 3 * time.Second, HeartbeatInterval: 500 * time.Millisecond, MaxSkew: time.Second}

// startNode runs a real single node in a temp dir on loopback ports.
func startNode(t *testing.T) (*Node, string) {
	t.Helper()
	return startNodeWith(t, testSettings)
}

// startNodeWith is startNode with other cluster settings.
func startNodeWith(t testing.TB, settings ledger.Settings) (*Node, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{NodeID: "n1", Settings: settings}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{
		DataDir: dir, AgentAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftHeartbeatTimeout: 100 * time.Millisecond, ReapInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, dir
}

// rawConn dials the agent endpoint without a client certificate.
func rawConn(t *testing.T, n *Node) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, n.AgentAddr(), &tls.Config{
		RootCAs: n.keys.ca.Pool(), ServerName: "localhost", NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13,
	}, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

// exchange writes raw bytes on a new stream and reads one response frame.
func exchange(t *testing.T, conn *quic.Conn, raw []byte) protocol.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write(raw); err != nil {
		t.Fatal(err)
	}
	str.Close()
	var resp protocol.Response
	if err := protocol.ReadFrame(str, &resp); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

func frame(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

func TestAgentEndpointRejectsBadInput(t *testing.T) {
	n, _ := startNode(t)
	conn := rawConn(t, n)
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, protocol.MaxFrame+1)
	cases := []struct {
		name string
		raw  []byte
		code protocol.Code
		want string
	}{
		{"not json", frame("{this is not json"), protocol.CodeBadRequest, "malformed request frame"},
		{"truncated frame", frame(`{"v":1,"type":"checkout"}`)[:10], protocol.CodeBadRequest, "malformed request frame"},
		{"oversized length", huge, protocol.CodeBadRequest, "maximum size"},
		{"future version", frame(`{"v":2,"type":"checkout","body":{}}`), protocol.CodeUnsupportedVersion, "version 2"},
		{"unknown type", frame(`{"v":1,"type":"teleport","body":{}}`), protocol.CodeNotEnrolled, "enroll"},
		{"checkout without certificate", frame(`{"v":1,"type":"checkout","body":{"feature":"cad"}}`), protocol.CodeNotEnrolled, "no device certificate"},
		{"enroll with garbage token", frame(`{"v":1,"type":"enroll","body":{"token":"nope","device_code":"AAAA","csr":""}}`), protocol.CodeEnrollTokenInvalid, "token"},
		{"enroll without body", frame(`{"v":1,"type":"enroll"}`), protocol.CodeBadRequest, "no body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := exchange(t, conn, c.raw)
			if resp.Error == nil || resp.Error.Code != c.code || !strings.Contains(resp.Error.Message, c.want) {
				t.Fatalf("got %+v, want %s mentioning %q", resp.Error, c.code, c.want)
			}
		})
	}
	// Nothing the garbage said changed the ledger.
	n.Store.Read(func(st *ledger.State) {
		if len(st.Devices("")) != 0 || len(st.Leases(ledger.LeaseFilter{})) != 0 {
			t.Fatalf("bad input changed the ledger: %d devices, %d leases", len(st.Devices("")), len(st.Leases(ledger.LeaseFilter{})))
		}
	})
}

func TestAdminAPIAuthAndErrors(t *testing.T) {
	n, dir := startNode(t)
	ca := filepath.Join(dir, "ca.pem")
	tokBytes, err := readFileTrim(filepath.Join(dir, FileAdminToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, bad := range []string{"", "tat_nothex00000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tokBytes[:len(tokBytes)-2] + "zz"} {
		c, _ := adminclient.New(n.AdminAddr(), bad, ca)
		err := c.Do(ctx, http.MethodGet, "/v1/status", nil, nil)
		if protocol.CodeOf(err) != protocol.CodeUnauthorized {
			t.Errorf("token %q: got %v, want unauthorized", bad, err)
		}
	}
	c, _ := adminclient.New(n.AdminAddr(), tokBytes, ca)
	if err := c.Do(ctx, http.MethodPost, "/v1/accounts", map[string]any{"id": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path string
		body         any
		code         protocol.Code
	}{
		{http.MethodPost, "/v1/accounts", map[string]any{"id": "acme"}, protocol.CodeAlreadyExists},
		{http.MethodPost, "/v1/accounts", map[string]any{"id": "bad id!"}, protocol.CodeInvalidArgument},
		{http.MethodPost, "/v1/accounts", map[string]any{"id": "x", "colour": "red"}, protocol.CodeBadRequest},
		{http.MethodPut, "/v1/accounts/nope/pools/cad", map[string]any{"seats": 2}, protocol.CodeUnknownAccount},
		{http.MethodPut, "/v1/accounts/acme/pools/cad", map[string]any{"seats": -2}, protocol.CodeInvalidArgument},
		{http.MethodPost, "/v1/leases/abc/revoke", nil, protocol.CodeInvalidArgument},
		{http.MethodPost, "/v1/leases/42/revoke", nil, protocol.CodeLeaseNotFound},
		{http.MethodPost, "/v1/accounts/nope/enroll-tokens", map[string]any{}, protocol.CodeUnknownAccount},
		{http.MethodPost, "/v1/accounts/acme/enroll-tokens", map[string]any{"ttl": "-5m"}, protocol.CodeInvalidArgument},
	}
	for _, tc := range cases {
		err := c.Do(ctx, tc.method, tc.path, tc.body, nil)
		if protocol.CodeOf(err) != tc.code {
			t.Errorf("%s %s: got %v, want %s", tc.method, tc.path, err, tc.code)
		}
	}
	// JWKS is public and holds this node's key.
	var jwks []byte
	anon, _ := adminclient.New(n.AdminAddr(), "", ca)
	if err := anon.Do(ctx, http.MethodGet, "/v1/jwks", nil, &jwks); err != nil || !strings.Contains(string(jwks), `"OKP"`) {
		t.Fatalf("jwks: %v %s", err, jwks)
	}
}

func readFileTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}
