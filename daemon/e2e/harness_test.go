// Package e2e runs Tally the way people do: real tallyd, tally-agent and
// tallyctl processes on loopback, talking QUIC and HTTPS, with Raft state in
// temporary directories.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/internal/e2eframework"
)

var binaries e2eframework.Binaries

func TestMain(m *testing.M) { os.Exit(e2eframework.Main(m, &binaries)) }

func bin(name string) string { return binaries.Path(name) }

// anyPort lets the kernel choose a loopback port: a tallyd started on it
// reports the port it bound in its --addr-file (server.start). The network
// argument is kept for the callers' readability.
func anyPort(_ *testing.T, _ string) string { return e2eframework.AnyPort }

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer = e2eframework.SyncBuffer

// proc is a long-running child process (e2eframework.Proc, with the short
// names these tests use).
type proc struct {
	*e2eframework.Proc
	cmd *exec.Cmd
	out *syncBuffer
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := e2eframework.StartProc(t, name, env, args...)
	return &proc{Proc: p, cmd: p.Cmd, out: p.Out}
}

func tail(s string, lines int) string { return e2eframework.Tail(s, lines) }

// kill9 is kill -9: no cleanup, no releases.
func (p *proc) kill9() { p.Kill9() }

// term is a polite stop (SIGTERM) that waits for the process to exit.
func (p *proc) term(t *testing.T) { t.Helper(); p.Term(t) }

func (p *proc) exited() bool { return p.Exited() }

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r, err := runE(env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runE is run for goroutines other than the test's own.
func runE(env []string, args ...string) (result, error) {
	r, err := e2eframework.Run(env, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}, err
}

// eventually polls f until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	e2eframework.Eventually(t, timeout, what, f)
}

// server is a tallyd process with its addresses and credentials.
type server struct {
	t                              *testing.T
	dir                            string
	agentAddr, adminAddr, raftAddr string
	proc                           *proc
	token                          string
	extra                          []string
	// join is set for nodes that joined another's cluster.
	join   *server
	nodeID string
	// viaConfig starts a joining node with `tallyd serve --config FILE`
	// instead of `tallyd join` flags, as an administrator's unit file would.
	viaConfig bool
}

// Lease settings for tests: short, so that expiry and reclaim happen in
// seconds. The assertions compare server timestamps, never wall-clock
// durations.
var testSettings = []string{"--lease-ttl", "3s", "--heartbeat-interval", "500ms", "--max-skew", "1s", "--raft-timeout", "200ms", "--reap-interval", "100ms"}

func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), extra: extra}
	s.start()
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	verb := []string{"serve"}
	switch {
	case s.join != nil && s.viaConfig:
		tokenFile := filepath.Join(t.TempDir(), "join.token")
		if err := os.WriteFile(tokenFile, []byte(s.join.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(t.TempDir(), "tallyd.yaml")
		yaml := fmt.Sprintf("node_id: %s\njoin:\n  addr: %q\n  cacert: %q\n  token_file: %q\n", s.nodeID, s.join.adminAddr, s.join.caFile(), tokenFile)
		if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		verb = []string{"serve", "--config", config}
	case s.join != nil:
		verb = []string{"join", "--join", s.join.adminAddr, "--token", s.join.token, "--cacert", s.join.caFile(), "--node-id", s.nodeID}
	}
	// A node's first start binds port 0 and learns its ports from the
	// addr file; a restart binds the same ones again (its peers and agents
	// know them).
	addrFile := filepath.Join(s.dir, "addrs.json")
	os.Remove(addrFile)
	args := append(append([]string{bin("tallyd")}, verb...), "--data", s.dir,
		"--agent-addr", orAnyPort(s.agentAddr), "--admin-addr", orAnyPort(s.adminAddr), "--raft-addr", orAnyPort(s.raftAddr),
		"--addr-file", addrFile, "--log-level", "debug")
	args = append(append(args, testSettings...), s.extra...)
	name := "tallyd"
	if s.nodeID != "" {
		name += " " + s.nodeID
	}
	s.proc = startProc(t, name, nil, args...)
	addrs, err := e2eframework.WaitAddrs(context.Background(), s.proc.Proc, addrFile, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A restarted node comes back on the addresses it had: assign only
	// what changed, so that goroutines polling a restarting server (the
	// restart tests) do not race with a write of the same value.
	if s.agentAddr != addrs.Agent || s.adminAddr != addrs.Admin || s.raftAddr != addrs.Raft {
		s.agentAddr, s.adminAddr, s.raftAddr = addrs.Agent, addrs.Admin, addrs.Raft
	}
	if s.join != nil {
		s.token = s.join.token
		eventually(t, 30*time.Second, s.nodeID+" joins the cluster", func() error {
			if s.proc.exited() {
				t.Fatalf("%s exited:\n%s", name, s.proc.out.String())
			}
			var v adminapi.ClusterView
			if err := s.api(http.MethodGet, "/v1/cluster", nil, &v); err != nil {
				return err
			}
			for _, m := range v.Members {
				if m.ID == s.nodeID && m.Reachable && m.AppliedIndex > 0 && v.Leader != "" {
					return nil
				}
			}
			return fmt.Errorf("not a member yet: %+v", v)
		})
		return
	}
	eventually(t, 30*time.Second, "tallyd admin API answers", func() error {
		if s.proc.exited() {
			t.Fatalf("tallyd exited:\n%s", s.proc.out.String())
		}
		tok, err := os.ReadFile(filepath.Join(s.dir, "admin.token"))
		if err != nil {
			return err
		}
		if t := strings.TrimSpace(string(tok)); t != s.token {
			s.token = t
		}
		var st adminapi.StatusResponse
		if err := s.api(http.MethodGet, "/v1/status", nil, &st); err != nil {
			return err
		}
		if st.Node.State != "Leader" {
			return fmt.Errorf("node is %s", st.Node.State)
		}
		return nil
	})
}

func orAnyPort(addr string) string {
	if addr == "" {
		return e2eframework.AnyPort
	}
	return addr
}

func (s *server) caFile() string { return filepath.Join(s.dir, "ca.pem") }

// env points tallyctl at this server.
func (s *server) env() []string {
	return []string{"TALLY_ADDR=" + s.adminAddr, "TALLY_TOKEN=" + s.token, "TALLY_CACERT=" + s.caFile()}
}

// ctl runs tallyctl against the server.
func (s *server) ctl(args ...string) result {
	s.t.Helper()
	return run(s.t, s.env(), append([]string{bin("tallyctl")}, args...)...)
}

func (s *server) mustCtl(args ...string) string {
	s.t.Helper()
	r := s.ctl(args...)
	if r.code != 0 {
		s.t.Fatalf("tallyctl %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// api calls the admin API directly (for polling without forking).
func (s *server) api(method, path string, in, out any) error {
	pem, err := os.ReadFile(s.caFile())
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var body *bytes.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "https://"+s.adminAddr+path, body)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb adminapi.ErrorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, eb.Error.Code, eb.Error.Message)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (s *server) leases() []adminapi.LeaseView {
	s.t.Helper()
	var ls []adminapi.LeaseView
	if err := s.api(http.MethodGet, "/v1/leases", nil, &ls); err != nil {
		s.t.Fatal(err)
	}
	return ls
}

// setupAccount creates an account with one pool and returns an enrollment
// token, all through tallyctl.
func (s *server) setupAccount(account, feature string, seats int) string {
	s.t.Helper()
	s.mustCtl("accounts", "create", account)
	s.mustCtl("pools", "set-seats", account, feature, fmt.Sprint(seats))
	return strings.TrimSpace(s.mustCtl("enroll-tokens", "create", account, "--uses", "100"))
}

// agent is a tally-agent process with its own state dir.
type agent struct {
	t      *testing.T
	name   string
	dir    string
	socket string
	proc   *proc
	srv    *server
	token  string
	// extra are more `tally-agent run` flags (e.g. --device-code).
	extra []string
}

func startAgent(t *testing.T, s *server, name, enrollToken string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{t: t, name: name, dir: dir, socket: filepath.Join(dir, "agent.sock"), srv: s, token: enrollToken}
	a.start()
	return a
}

func (a *agent) start() {
	t := a.t
	t.Helper()
	args := append([]string{bin("tally-agent"), "run", "--state", a.dir, "--server", a.srv.agentAddr,
		"--ca", a.srv.caFile(), "--enroll-token", a.token, "--socket", a.socket, "--log-level", "debug"}, a.extra...)
	a.proc = startProc(t, "tally-agent "+a.name, nil, args...)
	eventually(t, 30*time.Second, a.name+" is up", func() error {
		if a.proc.exited() {
			t.Fatalf("%s exited:\n%s", a.name, a.proc.out.String())
		}
		r := a.cli("status", "--json")
		if r.code != 0 {
			return fmt.Errorf("status: %s", r.stderr)
		}
		var st struct {
			Enrolled bool `json:"enrolled"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			return err
		}
		if !st.Enrolled {
			return errors.New("not enrolled yet")
		}
		return nil
	})
}

// cli runs a tally-agent client subcommand against this agent's socket.
func (a *agent) cli(args ...string) result {
	a.t.Helper()
	return run(a.t, nil, append([]string{bin("tally-agent")}, append(args, "--socket", a.socket)...)...)
}

func (a *agent) checkout(feature string, extra ...string) result {
	a.t.Helper()
	return a.cli(append([]string{"checkout", feature}, extra...)...)
}

func (a *agent) mustCheckout(feature string) string {
	a.t.Helper()
	r := a.checkout(feature)
	if r.code != 0 {
		a.t.Fatalf("%s checkout %s: exit %d: %s", a.name, feature, r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}
