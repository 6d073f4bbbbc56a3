package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/certs"
)

func writeCA(t *testing.T) string {
	t.Helper()
	ca, err := certs.NewCA("test-cluster", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const token = "tet_0123456789ab_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"

func TestWriteConfigRoundTrip(t *testing.T) {
	root := t.TempDir()
	caFile := writeCA(t)
	cfgPath := filepath.Join(root, "etc", "tally-agent", "agent.yaml")
	stateDir := filepath.Join(root, "var", "lib", "tally-agent")
	f, p, err := WriteConfig(InstallOptions{Config: cfgPath, Servers: []string{"tally1:7443", "tally2:7443"}, CAFile: caFile, EnrollToken: token + "\n", State: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if p.CA != filepath.Join(root, "etc", "tally-agent", "ca.pem") || f.CA != p.CA {
		t.Fatalf("CA copied to %s (config says %s)", p.CA, f.CA)
	}
	caWant, _ := os.ReadFile(caFile)
	if caGot, _ := os.ReadFile(p.CA); string(caGot) != string(caWant) {
		t.Fatal("the CA copy differs from the original")
	}
	info, err := os.Stat(p.Token)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v (want 0600)", err, info.Mode().Perm())
	}
	loaded, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(loaded.Servers, ",") != "tally1:7443,tally2:7443" || loaded.State != stateDir || loaded.LogLevel != "info" {
		t.Fatalf("loaded %+v", loaded)
	}
	tok, err := loaded.EnrollToken()
	if err != nil || tok != token {
		t.Fatalf("token %q, %v", tok, err)
	}
	// Once enrolled the token file may be deleted: no token, no error.
	os.Remove(p.Token)
	if tok, err := loaded.EnrollToken(); err != nil || tok != "" {
		t.Fatalf("after removal: %q, %v", tok, err)
	}
}

func TestWriteConfigRefusesBadInputAndWritesNothing(t *testing.T) {
	caFile := writeCA(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for name, tc := range map[string]struct {
		opts InstallOptions
		want string
	}{
		"no server":    {InstallOptions{CAFile: caFile, EnrollToken: token}, "--server"},
		"bad server":   {InstallOptions{Servers: []string{"tally1"}, CAFile: caFile, EnrollToken: token}, "host:port"},
		"no CA":        {InstallOptions{Servers: []string{"a:1"}, EnrollToken: token}, "--ca"},
		"missing CA":   {InstallOptions{Servers: []string{"a:1"}, CAFile: "/nonexistent/ca.pem", EnrollToken: token}, "--ca"},
		"CA not a PEM": {InstallOptions{Servers: []string{"a:1"}, CAFile: notPEM, EnrollToken: token}, "--ca"},
		"no token":     {InstallOptions{Servers: []string{"a:1"}, CAFile: caFile}, "enrollment token"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.opts.Config = filepath.Join(dir, "conf", "agent.yaml")
			tc.opts.State = filepath.Join(dir, "state")
			_, _, err := WriteConfig(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "conf")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a refused install wrote files")
			}
		})
	}
}

func TestLoadConfigRefusesUnknownKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(path, []byte("servers: [a:1]\nca: /x\nstate: /s\nserver: typo:1\n"), 0o644)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "server") {
		t.Fatalf("err = %v, want the unknown key named", err)
	}
}

func TestSystemdUnitIsHardened(t *testing.T) {
	unit := serviceConfig("/usr/bin/tally-agent", "/etc/tally-agent/agent.yaml", "/var/lib/tally-agent").Option["SystemdScript"].(string)
	for _, line := range []string{
		`ExecStart=/usr/bin/tally-agent "run" "--config" "/etc/tally-agent/agent.yaml"`,
		"ConditionFileIsExecutable=/usr/bin/tally-agent", "Description=" + serviceDescription,
		"Restart=always", "RestartSec=2", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/tally-agent", "After=network-online.target", "WantedBy=multi-user.target",
		"CapabilityBoundingSet=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("unit lacks %q", line)
		}
	}
	if strings.Contains(unit, "RestartSec=120") {
		t.Error("unit keeps the library's 120 s restart delay")
	}
	if strings.Contains(unit, "{{") {
		t.Errorf("unit has template markers left:\n%s", unit)
	}
	spaced := SystemdUnit("/opt/My Tally/tally-agent", []string{"run", "--config", `/opt/My Tally/a "b" $HOME%.yaml`}, "/opt/My Agent/state")
	if !strings.Contains(spaced, `ReadWritePaths="/opt/My Agent/state"`) {
		t.Errorf("a state dir with a space is not quoted:\n%s", spaced)
	}
	if !strings.Contains(spaced, `ExecStart=/opt/My\x20Tally/tally-agent "run" "--config" "/opt/My Tally/a \"b\" $$HOME%%.yaml"`+"\n") {
		t.Errorf("ExecStart not escaped for systemd:\n%s", spaced)
	}
	sc := ServiceConfig("/etc/tally-agent/agent.yaml", "/var/lib/tally-agent")
	if sc.Name != Name || strings.Join(sc.Arguments, " ") != "run --config /etc/tally-agent/agent.yaml" {
		t.Fatalf("service runs %v as %s", sc.Arguments, sc.Name)
	}
}

// TestProgramStartDoesNotBlockAndStopStops drives the Program as the service
// manager does: Start returns at once even though no server answers (the
// agent keeps retrying enrollment in the background), the local API comes
// up, and Stop ends the agent and removes its socket.
func TestProgramStartDoesNotBlockAndStopStops(t *testing.T) {
	dir := t.TempDir()
	p := NewProgram(agent.Config{
		StateDir: dir, Servers: []string{"127.0.0.1:1"}, CAFile: writeCA(t), EnrollToken: token,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	start := make(chan error, 1)
	go func() { start <- p.Start(nil) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start blocked")
	}
	if err := p.Start(nil); err == nil {
		t.Fatal("a second Start while running succeeded")
	}
	c := sdk.New(filepath.Join(dir, "agent.sock"))
	var st *sdk.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if st, err = c.Status(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's local API never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Enrolled || st.DeviceCode == "" {
		t.Fatalf("status while enrolling: %+v", st)
	}
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the agent did")
	}
	if p.Err() != nil {
		t.Fatalf("a stopped agent reports %v", p.Err())
	}
	if _, err := os.Stat(filepath.Join(dir, "agent.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after Stop: %v", err)
	}
	// The service manager may start it again.
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	p.Stop(nil)
}

// TestRunReturnsTheAgentsFailure: an agent that cannot start (not enrolled,
// no token) makes Run return its error, so the process exits non-zero and
// the service manager restarts it.
func TestRunReturnsTheAgentsFailure(t *testing.T) {
	p := NewProgram(agent.Config{StateDir: t.TempDir(), Servers: []string{"127.0.0.1:1"}, CAFile: writeCA(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := Run(context.Background(), p, ServiceConfig("/x/agent.yaml", "/x"))
	if !errors.Is(err, agent.ErrNotEnrolled) {
		t.Fatalf("Run = %v, want %v", err, agent.ErrNotEnrolled)
	}
}

type recLogger struct{ lines []string }

func (r *recLogger) Error(v ...any) error {
	r.lines = append(r.lines, "E "+fmt.Sprint(v...))
	return nil
}
func (r *recLogger) Warning(v ...any) error {
	r.lines = append(r.lines, "W "+fmt.Sprint(v...))
	return nil
}
func (r *recLogger) Info(v ...any) error {
	r.lines = append(r.lines, "I "+fmt.Sprint(v...))
	return nil
}
func (r *recLogger) Errorf(f string, a ...any) error {
	return r.Error(fmt.Sprintf(f, a...))
}
func (r *recLogger) Warningf(f string, a ...any) error {
	return r.Warning(fmt.Sprintf(f, a...))
}
func (r *recLogger) Infof(f string, a ...any) error { return r.Info(fmt.Sprintf(f, a...)) }

func TestLogHandlerMapsLevels(t *testing.T) {
	rec := &recLogger{}
	l := slog.New(NewLogHandler(rec, slog.LevelInfo)).With("device_code", "7KQ2-M9XD-4TPA")
	l.Debug("hidden")
	l.Info("lease checked out", "feature", "cad")
	l.Warn("heartbeat failed")
	l.Error("cannot save")
	want := []string{
		`I level=INFO msg="lease checked out" device_code=7KQ2-M9XD-4TPA feature=cad`,
		`W level=WARN msg="heartbeat failed" device_code=7KQ2-M9XD-4TPA`,
		`E level=ERROR msg="cannot save" device_code=7KQ2-M9XD-4TPA`,
	}
	if strings.Join(rec.lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(rec.lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestSystemdUnitVerifies renders the unit and asks systemd-analyze to check it, when that tool is installed.
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit := SystemdUnit("/bin/sh", []string{"run", "--config", "/etc/tally-agent/agent.yaml"}, "/var/lib/tally-agent")
	path := filepath.Join(t.TempDir(), Name+".service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(tool, "verify", path).CombinedOutput()
	// Outside a booted systemd the tool also complains about the host's own
	// units; only lines about ours count.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, Name+".service") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}
