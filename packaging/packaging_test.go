// Package packaging holds the files the .deb and .rpm packages install
// (`make packages`, nfpm) and the tests that keep them in step with the
// code: the agent's packaged unit is the unit `tally-agent install` writes,
// and tallyd's unit is hardened the same way.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/agent/svc"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lines(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}

// agentUnit is the unit `tally-agent install` would write for the
// package's paths.
func agentUnit() string {
	return svc.SystemdUnit("/usr/bin/tally-agent", []string{"run", "--config", "/etc/tally-agent/agent.yaml"}, "/var/lib/tally-agent")
}

func TestPackagedAgentUnitIsTheInstalledOne(t *testing.T) {
	packaged := lines(read(t, filepath.Join("tally-agent", "tally-agent.service")))
	for l := range lines(agentUnit()) {
		if !packaged[l] {
			t.Errorf("packaging/tally-agent/tally-agent.service lacks %q of svc.SystemdUnit", l)
		}
	}
	for _, l := range []string{"User=tally-agent", "SupplementaryGroups=tally", "ConditionPathExists=/etc/tally-agent/agent.yaml"} {
		if !packaged[l] {
			t.Errorf("packaged agent unit lacks %q", l)
		}
	}
}

// TestTallydUnitIsHardenedLikeTheAgents: every sandboxing directive of the
// agent's unit is in tallyd's, with the same value, except the paths it may
// write and the address families (tallyd may also read interfaces over
// netlink), and ProtectHome, which tallyd sets stricter.
func TestTallydUnitIsHardenedLikeTheAgents(t *testing.T) {
	unit := read(t, filepath.Join("tallyd", "tallyd.service"))
	tallyd := lines(unit)
	agent := agentUnit()
	hardening := agent[strings.Index(agent, "NoNewPrivileges"):strings.Index(agent, "[Install]")]
	differ := map[string]string{
		"ReadWritePaths":          "ReadWritePaths=/var/lib/tallyd",
		"RestrictAddressFamilies": "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"ProtectHome":             "ProtectHome=yes",
	}
	for l := range lines(hardening) {
		key, _, _ := strings.Cut(l, "=")
		want := l
		if d, ok := differ[key]; ok {
			want = d
		}
		if !tallyd[want] {
			t.Errorf("tallyd.service lacks %q (the agent's unit has %q)", want, l)
		}
	}
	for _, l := range []string{"User=tally", "ExecStart=/usr/bin/tallyd serve --config /etc/tally/tallyd.yaml", "Restart=always", "StateDirectory=tallyd"} {
		if !tallyd[l] {
			t.Errorf("tallyd.service lacks %q", l)
		}
	}
}

// TestUnitsVerify asks systemd-analyze to check both units, when it is
// installed; the binaries they start are replaced by /bin/true.
func TestUnitsVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: units not verified")
	}
	dir := t.TempDir()
	var paths []string
	for _, u := range []string{"tallyd/tallyd.service", "tally-agent/tally-agent.service"} {
		body := strings.NewReplacer("/usr/bin/tallyd", "/bin/true", "/usr/bin/tally-agent", "/bin/true").Replace(read(t, u))
		p := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, _ := exec.Command(tool, append([]string{"verify"}, paths...)...).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "tallyd.service") || strings.Contains(line, "tally-agent.service") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}
