package svc

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: the agent's YAML configuration never panics the reader.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte("server: 10.0.0.1:7443\nca: /etc/tally/ca.pem\nenroll_token_file: /etc/tally/enroll.token\n"))
	f.Add([]byte("servers: [a, b]\nsocket_group: tally\n"))
	f.Add([]byte("- just\n- a list\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = LoadConfig(path)
	})
}
