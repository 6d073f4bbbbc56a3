// Package e2eframework runs Tally's real binaries in tests: it builds
// tallyd, tallyctl and tally-agent once, starts them as child processes,
// collects their output, signals them (SIGKILL, SIGTERM, SIGSTOP, SIGCONT),
// learns the addresses a tallyd bound from its --addr-file instead of
// guessing free ports, and polls for conditions. daemon/e2e and the
// real-process chaos tests are built on it.
//
// Design: docs/design.md#parts.
package e2eframework

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries is a directory holding freshly built tallyd, tallyctl,
// tally-agent and tally-vendor.
type Binaries struct{ Dir string }

// AgentTags are the build tags tally-agent ships with (the Makefile's
// AGENT_TAGS): its local API is HTTP/1 on a socket, so net/http's HTTP/2 is
// left out.
const AgentTags = "nethttpomithttp2"

// AgentGCFlags are the Makefile's AGENT_GCFLAGS: no inlining outside the
// runtime and crypto, for a smaller binary (docs/performance.md, agent
// footprint).
var AgentGCFlags = []string{"all=-l", "runtime/...=", "internal/...=", "crypto/...=", "vendor/golang.org/x/crypto/...=", "golang.org/x/crypto/...="}

// AgentBuildArgs are the go build flags of tally-agent as make build, make
// dist and make packages build it (with CGO_ENABLED=0), so that tests and
// the footprint benchmark (daemon/e2e BenchmarkAgentFootprint) run the
// binary users get.
func AgentBuildArgs() []string {
	args := []string{"-tags", AgentTags}
	for _, f := range AgentGCFlags {
		args = append(args, "-gcflags="+f)
	}
	return args
}

// Build compiles the binaries into a new temporary directory; the
// caller removes it (os.RemoveAll(b.Dir)) when done, typically in TestMain.
func Build() (Binaries, error) {
	dir, err := os.MkdirTemp("", "tally-e2e-bin-")
	if err != nil {
		return Binaries{}, err
	}
	out := dir + string(os.PathSeparator)
	build := exec.Command("go", "build", "-o", out,
		"github.com/tally-licensing/tally/daemon/cmd/tallyd",
		"github.com/tally-licensing/tally/daemon/cmd/tallyctl",
		"github.com/tally-licensing/tally/daemon/cmd/tally-vendor")
	agent := exec.Command("go", append(append([]string{"build"}, AgentBuildArgs()...), "-o", out, "github.com/tally-licensing/tally/agent/cmd/tally-agent")...)
	agent.Env = append(os.Environ(), "CGO_ENABLED=0")
	for _, cmd := range []*exec.Cmd{build, agent} {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return Binaries{}, fmt.Errorf("build binaries: %w", err)
		}
	}
	return Binaries{Dir: dir}, nil
}

// Path is the path of one built binary.
func (b Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

// SyncBuffer collects a process's output safely across goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a long-running child process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *SyncBuffer
	done chan struct{}
}

// StartProc starts args[0] with args[1:], the test's environment plus env.
// The test's cleanup kills it (SIGCONT first, in case it was stopped) and,
// if the test failed, logs the tail of its output.
func StartProc(t testing.TB, name string, env []string, args ...string) *Proc {
	t.Helper()
	p, err := Spawn(name, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill9()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", p.Name, Tail(p.Out.String(), 60))
		}
	})
	return p
}

// Spawn starts a process without a test to clean up after it; the caller
// must Kill9 it.
func Spawn(name string, env []string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Out: &SyncBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(args[0], args[1:]...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.Cmd.Wait(); close(p.done) }()
	return p, nil
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// Kill9 is kill -9: no cleanup, no releases. It waits for the exit.
func (p *Proc) Kill9() {
	if p.Cmd.Process != nil {
		p.Cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies only once resumed on some systems
		p.Cmd.Process.Kill()
	}
	<-p.done
}

// Term is a polite stop (SIGTERM) that waits up to 20s for the exit.
func (p *Proc) Term(t testing.TB) {
	t.Helper()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop within 20s of SIGTERM", p.Name)
	}
}

// Stop freezes the process (SIGSTOP): its clock runs on, it runs nothing.
func (p *Proc) Stop() error { return p.Cmd.Process.Signal(syscall.SIGSTOP) }

// Cont resumes a stopped process (SIGCONT).
func (p *Proc) Cont() error { return p.Cmd.Process.Signal(syscall.SIGCONT) }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Result is a finished command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs a command to completion (at most 90s); a non-zero exit is a
// Result, failing to run at all an error.
func Run(env []string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := Result{Stdout: so.String(), Stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("run %v: %w", args, err)
	}
	return r, nil
}

// Eventually polls f every 50ms until it succeeds, and fails the test with
// f's last error once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := Poll(context.Background(), timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ErrGiveUp, wrapped in f's error, stops Poll at once (the condition can no
// longer come true, e.g. the process exited).
var ErrGiveUp = errors.New("giving up")

// Poll is Eventually for code that has no test: it returns f's last error
// once timeout has passed or ctx ends.
func Poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return nil
		}
		if errors.Is(err, ErrGiveUp) {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("still failing after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addrs is what `tallyd --addr-file` writes (tallydcli.Addrs).
type Addrs struct {
	Agent string `json:"agent"`
	Admin string `json:"admin"`
	Raft  string `json:"raft"`
	PID   int    `json:"pid"`
}

// FreeAddr returns a loopback address ("udp" or "tcp") whose port was free
// a moment ago. Prefer AnyPort and --addr-file; this is for processes that
// must come back on the ports they had (a node restarted on its data) or
// cannot report the ports they chose (a previous release).
func FreeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Main is a TestMain body: it builds the binaries into *b, runs the tests
// and removes them again, and returns the exit code.
func Main(m *testing.M, b *Binaries) int {
	built, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*b = built
	defer os.RemoveAll(built.Dir)
	return m.Run()
}

// AnyPort is the bind address that lets the kernel choose a loopback port;
// tallyd reports the one it got in its --addr-file.
const AnyPort = "127.0.0.1:0"

// WaitAddrs waits until the tallyd process p (started with --addr-file
// path) has written its addresses, and returns them. It fails if p exits
// first. Remove a stale file before restarting a node on it.
func WaitAddrs(ctx context.Context, p *Proc, path string, timeout time.Duration) (Addrs, error) {
	var a Addrs
	err := Poll(ctx, timeout, func() error {
		b, err := os.ReadFile(path)
		if err == nil {
			if err = json.Unmarshal(b, &a); err == nil && a.PID != p.Cmd.Process.Pid {
				err = fmt.Errorf("%s is from process %d, not %d", path, a.PID, p.Cmd.Process.Pid)
			}
		}
		if err != nil && p.Exited() {
			return fmt.Errorf("%s exited before listening: %w\n%s", p.Name, ErrGiveUp, Tail(p.Out.String(), 30))
		}
		return err
	})
	return a, err
}
