package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTallyctlAcrossADeadNode runs a three-node cluster, kills a follower
// with SIGKILL and checks what an operator sees (issue 15): `cluster list`
// shows the dead node as unreachable, saying so once; with TALLY_ADDR
// listing the dead node first, tallyctl moves on to the next, says which
// node answered, and writes still work; with only dead addresses it fails
// with the reason.
func TestTallyctlAcrossADeadNode(t *testing.T) {
	nodes := startCluster(t, 3)
	first := nodes[0]
	v, err := clusterView(t, first)
	if err != nil {
		t.Fatal(err)
	}
	var dead *server
	for _, s := range nodes[1:] {
		if s.nodeID != v.Leader {
			dead = s
			break
		}
	}
	dead.proc.kill9()

	var row string
	eventually(t, 30*time.Second, "cluster list marks the killed node", func() error {
		out := first.mustCtl("cluster", "list")
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, dead.nodeID+" ") {
				row = l
			}
		}
		if !strings.Contains(row, "unreachable") {
			return fmt.Errorf("%s row: %q\n%s", dead.nodeID, row, out)
		}
		return nil
	})
	if fields := strings.Fields(row); fields[1] != "unreachable" {
		t.Errorf("the dead node's role column is %q, want unreachable: %q", fields[1], row)
	}
	if n := strings.Count(row, "unreachable"); n != 1 {
		t.Errorf("the dead node's row says unreachable %d times: %q", n, row)
	}
	if strings.Contains(row, "follower") {
		t.Errorf("the dead node is still listed as a follower: %q", row)
	}
	var jv struct {
		Members []struct {
			ID, Role, Error string
			Reachable       bool
		}
	}
	if err := json.Unmarshal([]byte(first.mustCtl("cluster", "list", "--json")), &jv); err != nil {
		t.Fatal(err)
	}
	for _, m := range jv.Members {
		if m.ID == dead.nodeID && (m.Reachable || m.Role != "unreachable" || m.Error == "") {
			t.Errorf("JSON for the dead node: %+v", m)
		}
	}

	// TALLY_ADDR=dead,live: the read and a write both reach the live node.
	env := append(first.env(), "TALLY_ADDR="+dead.adminAddr+","+first.adminAddr)
	r := run(t, env, bin("tallyctl"), "leases")
	if r.code != 0 {
		t.Fatalf("tallyctl leases with the dead node first: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "no answer from "+dead.adminAddr) || !strings.Contains(r.stderr, "answered by node1 at "+first.adminAddr) {
		t.Errorf("tallyctl does not say which node answered:\n%s", r.stderr)
	}
	r = run(t, env, bin("tallyctl"), "accounts", "create", "failover")
	if r.code != 0 || !strings.Contains(r.stdout, "created account failover") {
		t.Fatalf("a write with the dead node first: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Only dead nodes: a clear failure naming them, exit 1.
	r = run(t, append(first.env(), "TALLY_ADDR="+dead.adminAddr+", "+dead.adminAddr), bin("tallyctl"), "leases")
	if r.code != 1 || !strings.Contains(r.stderr, dead.adminAddr) || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("tallyctl with only dead nodes: exit %d\n%s", r.code, r.stderr)
	}
}

// TestTallyctlUnknownSubcommand runs the binary: `tallyctl pools create`
// (not a command) exits 2 and says what pools has, printing no help.
func TestTallyctlUnknownSubcommand(t *testing.T) {
	r := run(t, nil, bin("tallyctl"), "pools", "create", "demo", "cad")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "create" for "tallyctl pools"`) || !strings.Contains(r.stderr, "set-seats") || r.stdout != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
}

// durationNumber matches a JSON duration field written as a bare number.
var durationNumber = regexp.MustCompile(`"(lease_ttl|heartbeat_interval|max_skew|audit_retention|idle_timeout|max_checkout|linger|interval)": -?[0-9]`)

// TestJSONDurationsAreStrings checks the one convention for durations on
// the real outputs: tallyctl status/pools/accounts/policy --json and
// tally-agent status --json all write "30s"-style strings.
func TestJSONDurationsAreStrings(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 2)
	s.mustCtl("policy", "set", "acme", "--idle", "90s", "--linger", "1m")
	s.mustCtl("pools", "set-seats", "acme", "cad", "2", "--lease-ttl", "2m")
	a := startAgent(t, s, "a1", tok)
	a.mustCheckout("cad")
	outputs := map[string]string{
		"tallyctl status --json":          s.mustCtl("status", "--json"),
		"tallyctl pools list --json":      s.mustCtl("pools", "list", "acme", "--json"),
		"tallyctl accounts list --json":   s.mustCtl("accounts", "list", "--json"),
		"tallyctl policy show --json":     s.mustCtl("policy", "show", "acme", "--json"),
		"tallyctl policy show --pool cad": s.mustCtl("policy", "show", "acme", "--pool", "cad", "--json"),
		"tally-agent status --json":       a.cli("status", "--json").stdout,
	}
	for what, out := range outputs {
		if m := durationNumber.FindString(out); m != "" {
			t.Errorf("%s writes a duration as a number (%s):\n%s", what, m, out)
		}
	}
	for what, want := range map[string]string{
		"tallyctl status --json":        `"lease_ttl": "3s"`,
		"tallyctl pools list --json":    `"lease_ttl": "2m0s"`,
		"tallyctl accounts list --json": `"lease_ttl": "2m0s"`,
		"tallyctl policy show --json":   `"idle_timeout": "1m30s"`,
		"tally-agent status --json":     `"heartbeat_interval": "500ms"`,
	} {
		if !strings.Contains(outputs[what], want) {
			t.Errorf("%s lacks %s:\n%s", what, want, outputs[what])
		}
	}
}

// TestAgentStatusAfterServerDeath: after its server is killed, `tally-agent
// status` no longer says "(connected)" (issue 15) but when the server last
// answered.
func TestAgentStatusAfterServerDeath(t *testing.T) {
	s := startServer(t)
	a := startAgent(t, s, "a1", s.setupAccount("acme", "cad", 1))
	a.mustCheckout("cad")
	if out := a.cli("status").stdout; !strings.Contains(out, s.agentAddr+" (last answered ") {
		t.Fatalf("status of a live server:\n%s", out)
	}
	s.proc.kill9()
	out := a.cli("status").stdout
	if strings.Contains(out, "(connected)") {
		t.Fatalf("status claims a connection to a killed server:\n%s", out)
	}
	if !regexp.MustCompile(`Server: +.*last answer(ed)? .*ago`).MatchString(out) {
		t.Fatalf("status does not say when the server last answered:\n%s", out)
	}
}
