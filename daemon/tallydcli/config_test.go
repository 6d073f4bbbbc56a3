package tallydcli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tallyd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileSetsFlagsButCommandLineWins(t *testing.T) {
	cmd := serveCmd(io.Discard, io.Discard)
	if err := cmd.ParseFlags([]string{"--admin-addr", "127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
node_id: node7
data: /var/lib/tally
agent_addr: ":8443"
admin_addr: ":8444"
raft_addr: "10.0.0.7:8445"
hosts: [tally7.example.com, 10.0.0.7]
lease_ttl: 90s
bootstrap: true
`)
	join, err := applyConfigFile(cmd, path)
	if err != nil {
		t.Fatal(err)
	}
	if join != nil {
		t.Fatalf("bootstrap config produced join settings %+v", join)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	for flag, want := range map[string]string{
		"node-id": "node7", "data": "/var/lib/tally", "agent-addr": ":8443", "raft-addr": "10.0.0.7:8445",
		"hosts": "tally7.example.com,10.0.0.7", "lease-ttl": "1m30s", "bootstrap": "true",
		"admin-addr": "127.0.0.1:9999", // the command line wins
	} {
		if got := get(flag); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
}

func TestConfigFileJoin(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tat_secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := serveCmd(io.Discard, io.Discard)
	join, err := applyConfigFile(cmd, writeConfig(t, "join:\n  addr: 10.0.0.1:7444\n  cacert: /etc/tally/ca.pem\n  token_file: "+tokenFile+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if join == nil || join.addr != "10.0.0.1:7444" || join.caFile != "/etc/tally/ca.pem" || join.token != "tat_secret" {
		t.Fatalf("join settings = %+v", join)
	}
	if got := cmd.Flags().Lookup("bootstrap").Value.String(); got != "false" {
		t.Errorf("a joining node must not bootstrap; --bootstrap = %s", got)
	}
}

func TestConfigFileErrorsNameTheProblem(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":     {"node_id: n1\nraft_adress: x\n", "raft_adress"},
		"both modes":      {"bootstrap: true\njoin:\n  addr: a:1\n", "either bootstrap: true or join"},
		"incomplete join": {"join:\n  addr: a:1\n", "join needs addr, cacert and token_file"},
		"bad duration":    {"lease_ttl: soon\n", "lease_ttl"},
		"not yaml":        {"node_id: [unterminated\n", "tallyd.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("TALLY_TOKEN", "")
			_, err := applyConfigFile(serveCmd(io.Discard, io.Discard), writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := applyConfigFile(serveCmd(io.Discard, io.Discard), filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: err = %v", err)
	}
}

// TestPackagedConfigLoads: the /etc/tally/tallyd.yaml the .deb and .rpm
// install is a valid configuration that founds a cluster in /var/lib/tallyd.
func TestPackagedConfigLoads(t *testing.T) {
	cmd := serveCmd(io.Discard, io.Discard)
	join, err := applyConfigFile(cmd, filepath.Join("..", "..", "packaging", "tallyd", "tallyd.yaml"))
	if err != nil || join != nil {
		t.Fatalf("packaged config: join %+v, %v", join, err)
	}
	for flag, want := range map[string]string{"data": "/var/lib/tallyd", "bootstrap": "true", "agent-addr": ":7443", "admin-addr": ":7444"} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
}
