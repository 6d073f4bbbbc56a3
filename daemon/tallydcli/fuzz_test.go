package tallydcli

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile: a tallyd YAML configuration never panics the reader;
// what it refuses it refuses with an error.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("node_id: node2\ndata: /tmp/x\nagent_addr: \":7443\"\njoin:\n  addr: 10.0.0.1:7444\n  cacert: /etc/ca.pem\n  token_file: /etc/t\n"))
	f.Add([]byte("bootstrap: true\njoin: {addr: x}\n"))
	f.Add([]byte("lease_ttl: -5s\nunknown: 1\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "tallyd.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = applyConfigFile(serveCmd(io.Discard, io.Discard), path)
	})
}
