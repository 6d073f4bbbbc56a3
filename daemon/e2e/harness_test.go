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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tally-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/tally-licensing/tally/daemon/cmd/tallyd",
		"github.com/tally-licensing/tally/daemon/cmd/tallyctl",
		"github.com/tally-licensing/tally/agent/cmd/tally-agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a long-running child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", p.name, tail(p.out.String(), 60))
		}
	})
	return p
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// kill9 is kill -9: no cleanup, no releases.
func (p *proc) kill9() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// term is a polite stop (SIGTERM) that waits for the process to exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop within 20s of SIGTERM", p.name)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("run %v: %w", args, err)
	}
	return r, nil
}

// eventually polls f until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
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
	s := &server{t: t, dir: t.TempDir(), agentAddr: freePort(t, "udp"), adminAddr: freePort(t, "tcp"), raftAddr: freePort(t, "tcp"), extra: extra}
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
	args := append(append([]string{bin("tallyd")}, verb...), "--data", s.dir, "--agent-addr", s.agentAddr, "--admin-addr", s.adminAddr, "--raft-addr", s.raftAddr, "--log-level", "debug")
	args = append(append(args, testSettings...), s.extra...)
	name := "tallyd"
	if s.nodeID != "" {
		name += " " + s.nodeID
	}
	s.proc = startProc(t, name, nil, args...)
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
		s.token = strings.TrimSpace(string(tok))
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
