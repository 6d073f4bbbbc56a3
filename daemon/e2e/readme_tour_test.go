package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/internal/e2eframework"
)

// tourStep is what one command of the README's tour must do.
type tourStep struct {
	cmd string
	// fail: the command is meant to be refused (exit 1).
	fail bool
	// out and errOut are patterns stdout and stderr must match.
	out, errOut []string
	// check, when set, looks further at the output.
	check func(t *testing.T, stdout string)
}

var tokenRE = `^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$`

// readmeTour is the tour as the README writes it, in order, with what each
// command must answer. TestReadmeTour refuses to run when the README's
// commands differ from these, so the README cannot change without its
// test.
var readmeTour = []tourStep{
	{cmd: `source .tally-dev/tally.env`},
	{cmd: `tally-agent checkout countthings`, out: []string{tokenRE}},
	{cmd: `tallyctl leases`, out: []string{`(?m)^1\s+demo\s+countthings\s+\S+.*\bheld$`}},
	{cmd: `tallyctl verify --jwks "$TALLY_JWKS" "$(tally-agent checkout countthings)"`,
		out: []string{`(?m)^valid\s+yes`, `(?m)^lease\s+1 \(floating\)$`, `(?m)^feature\s+countthings$`}},
	{cmd: `tallyctl status`, out: []string{`(?m)^demo\s+countthings\s+5\s+1\s+4\s`}},
	{cmd: `tally-agent status`, out: []string{`(?m)^Account:\s+demo$`, `(?m)^Server:\s+\S+ \(last answered \d+s ago\)$`, `(?m)^countthings\s+1\s+floating\s`}},
	{cmd: `tallyctl pools set-seats demo countthings 0`, fail: true, errOut: []string{`seats_in_use: .*1 seat is in use`}},
	{cmd: `tally-agent release countthings`, out: []string{`^released countthings\n$`}},
	{cmd: `tallyctl pools set-seats demo countthings 0`, out: []string{`demo/countthings: 0 seats purchased, 0 active, 0 unused`}},
	{cmd: `tally-agent checkout countthings`, fail: true, errOut: []string{`^tally-agent: no_seat: `}},
	{cmd: `tallyctl pools set-seats demo countthings 5`, out: []string{`demo/countthings: 5 seats purchased, 0 active, 5 unused`}},
	{cmd: `tally-agent checkout countthings`, out: []string{tokenRE}, check: func(t *testing.T, out string) {
		if c := claimsOf(t, strings.TrimSpace(out)); c.LeaseID != 2 {
			t.Errorf("the checkout after the seats came back got lease %d; the README says 2", c.LeaseID)
		}
	}},
	{cmd: `tallyctl revoke 2`, out: []string{`^revoked lease 2 \(countthings on \S+\); the device stops renewing it and the seat frees at \S+\n$`}},
	{cmd: `tallyctl leases`, out: []string{`(?m)^2\s+demo\s+countthings\s.*revoked, seat frees `}},
	{cmd: `tallyctl enroll-tokens create demo --ttl 24h`, out: []string{`^tet_\S+\n$`}, errOut: []string{`enrollment token \S+ for account demo`}},
	{cmd: `tallyctl status --json`, check: func(t *testing.T, out string) {
		var st struct {
			Settings struct {
				LeaseTTL string `json:"lease_ttl"`
			} `json:"settings"`
			Pools []struct {
				Feature  string
				Seats    int
				Active   int
				LeaseTTL string `json:"lease_ttl"`
			} `json:"pools"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json is not JSON: %v\n%s", err, out)
		}
		if st.Settings.LeaseTTL != "1m0s" || len(st.Pools) != 1 || st.Pools[0].Seats != 5 || st.Pools[0].Active != 1 || st.Pools[0].LeaseTTL != "1m0s" {
			t.Errorf("status --json: %+v", st)
		}
	}},
}

// TestReadmeTour runs the README's tour as written: it takes the shell
// commands from the tour section of README.md itself, starts `tallyd dev`
// as `make run` does (on ports and a data directory of its own), and runs
// them one after the other from the directory `make run` would run in,
// each in a shell that has sourced what the tour sourced so far, checking
// every answer (issue 15).
func TestReadmeTour(t *testing.T) {
	cmds, err := tourCommands(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range readmeTour {
		want = append(want, s.cmd)
	}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the README's tour is not the one this test checks: update readmeTour to the README\nREADME:\n  %s\ntest:\n  %s",
			strings.Join(cmds, "\n  "), strings.Join(want, "\n  "))
	}

	work := t.TempDir()
	data := filepath.Join(work, ".tally-dev")
	p := startProc(t, "tallyd dev", nil, bin("tallyd"), "dev", "--data", data,
		"--agent-addr", e2eframework.FreeAddr(t, "udp"), "--admin-addr", e2eframework.FreeAddr(t, "tcp"), "--raft-addr", e2eframework.FreeAddr(t, "tcp"))
	env := hermeticEnv()
	// What a reader waits for before typing: the printed next steps, and
	// the local agent enrolled.
	eventually(t, 60*time.Second, "tallyd dev is ready", func() error {
		if p.exited() {
			t.Fatalf("tallyd dev exited:\n%s", p.out.String())
		}
		if !strings.Contains(p.out.String(), "tally-agent checkout countthings") {
			return errors.New("no next steps printed yet")
		}
		r, err := shell(work, env, "source .tally-dev/tally.env && tally-agent status --json")
		if err != nil || !strings.Contains(r.stdout, `"enrolled": true`) {
			return errors.New("the local agent is not enrolled yet: " + r.stdout + r.stderr)
		}
		return nil
	})

	var sourced []string
	for i, step := range readmeTour {
		script := strings.Join(append(append([]string{}, sourced...), step.cmd), "\n")
		r, err := shell(work, env, script)
		if err != nil {
			t.Fatalf("step %d %q: %v", i+1, step.cmd, err)
		}
		wantCode := 0
		if step.fail {
			wantCode = 1
		}
		if r.code != wantCode {
			t.Fatalf("step %d %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", i+1, step.cmd, r.code, wantCode, r.stdout, r.stderr)
		}
		for _, pat := range step.out {
			if !regexp.MustCompile(pat).MatchString(r.stdout) {
				t.Errorf("step %d %q: stdout does not match %s:\n%s", i+1, step.cmd, pat, r.stdout)
			}
		}
		for _, pat := range step.errOut {
			if !regexp.MustCompile(pat).MatchString(r.stderr) {
				t.Errorf("step %d %q: stderr does not match %s:\n%s", i+1, step.cmd, pat, r.stderr)
			}
		}
		if step.check != nil {
			step.check(t, r.stdout)
		}
		if strings.HasPrefix(step.cmd, "source ") {
			sourced = append(sourced, step.cmd)
		}
	}
	p.term(t)
}

// tourCommands returns the commands of the ```sh blocks in the README's
// tour section, without their trailing comments.
func tourCommands(readme string) ([]string, error) {
	b, err := os.ReadFile(readme)
	if err != nil {
		return nil, err
	}
	_, section, ok := strings.Cut(string(b), "\n## A five-minute tour\n")
	if !ok {
		return nil, errors.New("README.md has no \"## A five-minute tour\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var cmds []string
	inSh := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case line == "```sh":
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh && strings.TrimSpace(line) != "":
			if i := strings.Index(line, "  #"); i >= 0 {
				line = line[:i]
			}
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	if len(cmds) == 0 {
		return nil, errors.New("the tour section has no sh code blocks")
	}
	return cmds, nil
}

// hermeticEnv is the test's environment without TALLY_* settings, which
// would point the tour at another cluster.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TALLY_") {
			env = append(env, kv)
		}
	}
	return env
}

// shell runs script with bash in dir, for at most a minute and a half.
func shell(dir string, env []string, script string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, err
	}
	return r, nil
}
