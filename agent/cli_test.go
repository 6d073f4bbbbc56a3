package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/cli"
	"github.com/tally-licensing/tally/internal/buildinfo"
	"github.com/tally-licensing/tally/protocol"
)

// runCLI runs the tally-agent command line in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), cli.ExitCode(err)
}

func TestCLICheckoutReleaseStatus(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	srv.setSeats("full", 0)
	a := startAgent(t, srv, t.TempDir())

	out, errOut, code := runCLI(t, "checkout", "cad", "--socket", a.socket)
	if code != 0 || errOut != "" {
		t.Fatalf("checkout: exit %d, stderr %q", code, errOut)
	}
	lease := a.status().Leases[0]
	if out != lease.Token+"\n" {
		t.Fatalf("checkout printed %q, want just the token %q", out, lease.Token)
	}

	out, errOut, code = runCLI(t, "checkout", "full", "--socket", a.socket, "--wait", "0s")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "tally-agent: no_seat: ") || !strings.HasSuffix(errOut, "\n") {
		t.Fatalf("checkout with no seat: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// --json: the lease, or the error, as JSON on stdout.
	out, _, code = runCLI(t, "checkout", "cad", "--socket", a.socket, "--json")
	var lr api.LeaseResponse
	if code != 0 || json.Unmarshal([]byte(out), &lr) != nil || lr.Lease.ID != lease.ID || lr.Lease.Token != lease.Token {
		t.Fatalf("checkout --json: exit %d, %q", code, out)
	}
	out, errOut, code = runCLI(t, "checkout", "nope", "--socket", a.socket, "--json")
	var er api.ErrorResponse
	if code != 1 || errOut != "" || json.Unmarshal([]byte(out), &er) != nil || er.Error.Code != protocol.CodeUnknownFeature {
		t.Fatalf("failed checkout --json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// The socket is found through $TALLY_AGENT_SOCKET, then --state.
	t.Setenv(api.SocketEnv, a.socket)
	out, _, code = runCLI(t, "status")
	st := a.status()
	for _, want := range []string{st.DeviceCode, "acme", srv.addr + " (last answered ", "FEATURE", "cad"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	t.Setenv(api.SocketEnv, "")
	if out, _, code = runCLI(t, "status", "--json", "--state", a.dir); code != 0 || !strings.Contains(out, `"device_code": "`+st.DeviceCode) {
		t.Fatalf("status --json via --state: exit %d\n%s", code, out)
	}

	if out, _, code = runCLI(t, "release", "cad", "--socket", a.socket); code != 0 || out != "released cad\n" {
		t.Fatalf("release: exit %d, %q", code, out)
	}
	if _, errOut, code = runCLI(t, "release", "cad", "--socket", a.socket); code != 1 || !strings.HasPrefix(errOut, "tally-agent: lease_not_found: ") {
		t.Fatalf("second release: exit %d, %q", code, errOut)
	}
	if got := srv.releasedIDs(); len(got) != 1 || got[0] != lease.ID {
		t.Fatalf("server released %v", got)
	}
}

func TestCLIAgentNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	out, errOut, code := runCLI(t, "checkout", "cad", "--socket", sock)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "tally-agent: unavailable: cannot reach tally-agent at "+sock) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCLIRunNotEnrolled(t *testing.T) {
	srv := newFakeServer(t)
	var out, errb bytes.Buffer
	code := cli.Execute(context.Background(), []string{"run", "--state", t.TempDir(), "--server", srv.addr, "--ca", srv.caFile}, &out, &errb)
	if code != 1 || errb.String() != "tally-agent: this device is not enrolled: pass --enroll-token\n" {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	code = cli.Execute(context.Background(), []string{"checkout"}, &out, &errb)
	if code != 1 {
		t.Fatalf("checkout without a feature: exit %d", code)
	}
}

func TestCLIRunNeedsServerAndCAOrConfig(t *testing.T) {
	_, _, code := runCLI(t, "run", "--state", t.TempDir(), "--ca", "x.pem")
	if code == 0 {
		t.Fatal("run without --server succeeded")
	}
	cmd := cli.NewRootCommand()
	cmd.SetArgs([]string{"run", "--state", t.TempDir(), "--ca", "x.pem"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "--server") || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("run without --server: %v", err)
	}
}

// TestCLIInstallDryRunThenRunConfig: `install --dry-run` writes nothing and
// prints every file and the rendered service definition of the service
// manager it names; `install --no-service` writes agent.yaml, and
// `run --config` on it starts an agent that enrolls with the token from the
// file and serves checkouts.
func TestCLIInstallDryRunThenRunConfig(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	root := t.TempDir()
	cfg := filepath.Join(root, "etc", "agent.yaml")
	stateDir := filepath.Join(root, "state")
	args := []string{"--config", cfg, "--state", stateDir, "--server", srv.addr, "--ca", srv.caFile, "--enroll-token", srv.token}
	out, errOut, code := runCLI(t, append([]string{"install", "--dry-run"}, args...)...)
	if code != 0 {
		t.Fatalf("install --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("install --dry-run wrote into %s", filepath.Join(root, "etc"))
	}
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("install --dry-run created the state directory")
	}
	if strings.Contains(out, "{{") || strings.Contains(out, srv.token) {
		t.Fatalf("install --dry-run shows a template marker or the token:\n%s", out)
	}
	exe, _ := os.Executable()
	platform := service.Platform()
	for _, want := range []string{
		"write " + cfg + " (0644)", "servers:\n    - " + srv.addr, "state: " + stateDir,
		"write " + filepath.Join(root, "etc", "ca.pem") + " (0644)", "write " + filepath.Join(root, "etc", "enroll.token") + " (0600)",
		"with " + platform + ", as ", exe + " run --config " + cfg,
	} {
		if strings.Contains(platform, "systemd") && strings.HasPrefix(want, exe) {
			want = "ExecStart=" + exe + ` "run" "--config" "` + cfg + `"`
		}
		if !strings.Contains(out, want) {
			t.Errorf("install --dry-run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(platform, "systemd") {
		for _, want := range []string{"ReadWritePaths=" + stateDir, "RestartSec=2", "Description=Tally device agent"} {
			if !strings.Contains(out, want) {
				t.Errorf("the systemd unit lacks %q:\n%s", want, out)
			}
		}
	} else if strings.Contains(out, "[Service]") {
		t.Errorf("prints a systemd unit although the service manager is %s:\n%s", platform, out)
	}

	if out, errOut, code := runCLI(t, append([]string{"install", "--no-service"}, args...)...); code != 0 {
		t.Fatalf("install --no-service: exit %d\n%s%s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logs := &syncBuf{}
	go func() {
		cmd := cli.NewRootCommand()
		cmd.SetArgs([]string{"run", "--config", cfg, "--log-level", "warn"})
		cmd.SetOut(logs)
		cmd.SetErr(logs)
		done <- cli.ExitCode(cmd.ExecuteContext(ctx))
	}()
	socket := filepath.Join(stateDir, api.SocketName)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, errOut, code := runCLI(t, "checkout", "cad", "--socket", socket)
		if code == 0 && strings.TrimSpace(out) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the configured agent never checked out: %s\nagent output:\n%s", errOut, logs.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run --config exited %d after cancel", code)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCLIVersion: -v/--version print the build line (buildinfo.String) and
// exit 0, --help still wins over --version, and subcommands do not take it.
func TestCLIVersion(t *testing.T) {
	want := buildinfo.String("tally-agent") + "\n"
	for _, flag := range []string{"--version", "-v"} {
		out, errOut, code := runCLI(t, flag)
		if code != 0 || out != want || errOut != "" {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %q", flag, code, out, errOut, want)
		}
	}
	out, _, code := runCLI(t, "--version", "--help")
	if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "-v, --version         version for tally-agent") {
		t.Fatalf("--version --help: exit %d, %q; want the help, listing the flag", code, out)
	}
	var so, se bytes.Buffer
	if code := cli.Execute(context.Background(), []string{"status", "--version"}, &so, &se); code == 0 || !strings.Contains(se.String(), "unknown flag: --version") {
		t.Fatalf("status --version: exit %d, stderr %q; want unknown flag", code, se.String())
	}
}
