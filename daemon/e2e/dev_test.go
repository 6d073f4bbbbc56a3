package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevQuickstart runs `tallyd dev` the way `make run` does and follows the
// three commands it prints, with the environment from tally.env.
func TestDevQuickstart(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "tallyd dev", nil, bin("tallyd"), "dev", "--data", dir,
		"--agent-addr", anyPort(t, "udp"), "--admin-addr", anyPort(t, "tcp"), "--raft-addr", anyPort(t, "tcp"),
		"--raft-timeout", "200ms")
	var env []string
	eventually(t, 60*time.Second, "tallyd dev prints its next steps", func() error {
		if p.exited() {
			t.Fatalf("tallyd dev exited:\n%s", p.out.String())
		}
		if !strings.Contains(p.out.String(), "tally-agent checkout countthings") {
			return os.ErrNotExist
		}
		var err error
		env, err = readEnvFile(filepath.Join(dir, "tally.env"))
		return err
	})
	for _, f := range []string{"ca.pem", "jwks.json", "admin.token", "enroll.token", "tally.env", "owner.password"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("tallyd dev did not write %s: %v", f, err)
		}
	}
	var token string
	eventually(t, 30*time.Second, "the local agent hands out a countthings seat", func() error {
		r := run(t, env, bin("tally-agent"), "checkout", "countthings")
		if r.code != 0 {
			return &exitErr{r}
		}
		token = strings.TrimSpace(r.stdout)
		return nil
	})
	r := run(t, env, bin("tallyctl"), "leases")
	if r.code != 0 || !strings.Contains(r.stdout, "countthings") || !strings.Contains(r.stdout, "demo") {
		t.Fatalf("tallyctl leases: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, bin("tallyctl"), "verify", "--jwks", filepath.Join(dir, "jwks.json"), token)
	if r.code != 0 || !strings.Contains(r.stdout, "countthings") {
		t.Fatalf("tallyctl verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, bin("tallyctl"), "status")
	if r.code != 0 || !strings.Contains(r.stdout, "countthings") || !strings.Contains(r.stdout, "5") {
		t.Fatalf("tallyctl status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The demo owner signs in to the console with the generated password.
	pw, err := os.ReadFile(filepath.Join(dir, "owner.password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "owner.password")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("owner.password is %v, want 0600", fi.Mode().Perm())
	}
	adminAddr := strings.Trim(envValue(env, "TALLY_ADDR"), "'")
	s := &server{t: t, dir: dir, adminAddr: adminAddr}
	if code, _, resp := s.signIn("demo", "owner@demo.example", strings.TrimSpace(string(pw))); code != 201 || !strings.Contains(resp, `"access": "account-owner"`) {
		t.Fatalf("the demo owner's console sign-in: %d %s", code, resp)
	}
	// Ctrl-C stops everything cleanly, and the agent gives its seat back.
	p.term(t)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("tallyd dev exited %d after SIGTERM:\n%s", code, tail(p.out.String(), 30))
	}
}

type exitErr struct{ r result }

func (e *exitErr) Error() string { return e.r.stderr }

// readEnvFile turns tally.env's export lines into an environment.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "PATH" {
			continue
		}
		env = append(env, k+"="+strings.Trim(v, "'"))
	}
	return env, sc.Err()
}

// envValue is the value of name in env (KEY=VALUE lines).
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
