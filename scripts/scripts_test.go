// Package scripts holds the tests of the repository's shell scripts and
// Makefile targets: they run the real script or `make -n` and check what a
// user would see.
package scripts

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestMakeRunTakesItsPortsFromVariables: `make run` must bind the ports the
// RUN_* variables name, not the defaults.
func TestMakeRunTakesItsPortsFromVariables(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make here")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", repoRoot(t), "run",
		"RUN_AGENT_PORT=18443", "RUN_ADMIN_PORT=18444", "RUN_RAFT_PORT=18445", "RUN_HOST=127.0.0.2").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	cmd := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\\\n", " ")), " ")
	for _, want := range []string{"--agent-addr 127.0.0.2:18443", "--admin-addr 127.0.0.2:18444", "--raft-addr 127.0.0.2:18445"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("make run does not pass %q:\n%s", want, cmd)
		}
	}
	if strings.Contains(cmd, "7443") || strings.Contains(cmd, "7444") || strings.Contains(cmd, "7445") {
		t.Errorf("a default port is still hard-coded:\n%s", cmd)
	}
	readme, _ := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if !strings.Contains(string(readme), "RUN_ADMIN_PORT") {
		t.Error("README does not say how to change make run's ports")
	}
}

// TestClusterUpDocumentsEverySetting: every TALLY_* variable the script reads
// is in its --help output and in docs/operations.md.
func TestClusterUpDocumentsEverySetting(t *testing.T) {
	root := repoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, "scripts", "cluster-up.sh"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(TALLY_[A-Z_]+):-`).FindAllStringSubmatch(string(script), -1) {
		settings[m[1]] = true
	}
	if len(settings) < 4 {
		t.Fatalf("found only %v in the script: the test no longer understands it", settings)
	}
	help, err := exec.Command("bash", filepath.Join(root, "scripts", "cluster-up.sh"), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("cluster-up.sh --help: %v\n%s", err, help)
	}
	ops, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for s := range settings {
		if !bytes.Contains(help, []byte(s)) {
			t.Errorf("--help does not describe %s:\n%s", s, help)
		}
		if !bytes.Contains(ops, []byte(s)) {
			t.Errorf("docs/operations.md does not describe %s", s)
		}
	}
	if out, err := exec.Command("bash", filepath.Join(root, "scripts", "cluster-up.sh"), "three").CombinedOutput(); err == nil {
		t.Errorf("cluster-up.sh three: accepted a non-number:\n%s", out)
	}
}

// TestClusterUpKeepsSecretsOffCommandLines runs the real script: three real
// tallyd processes and one agent. While they run, no process's command line
// holds the admin or the enrollment token, and cluster.env lists every
// node's admin address, each of which answers.
func TestClusterUpKeepsSecretsOffCommandLines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	root := repoRoot(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./daemon/cmd/tallyd", "./daemon/cmd/tallyctl", "./agent/cmd/tally-agent")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	base := freeBasePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "cluster-up.sh"), "1")
	cmd.Env = append(os.Environ(), "TALLY_CLUSTER_DIR="+dir, fmt.Sprintf("TALLY_BASE_PORT=%d", base), "TALLY_BIN="+bin, "TALLY_SEATS=2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- cmd.Wait() }()
	defer func() {
		// SIGTERM: the script stops its agents and nodes and exits.
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-stopped:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-stopped
		}
	}()

	envFile := filepath.Join(dir, "cluster.env")
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(envFile); err == nil {
			break
		}
		select {
		case err := <-stopped:
			stopped <- err
			t.Fatalf("cluster-up.sh exited before writing cluster.env: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cluster.env after 150s:\n%s", out.String())
		}
	}
	info, err := os.Stat(envFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("cluster.env: %v, mode %v (it holds the admin token: want 0600)", err, info.Mode().Perm())
	}
	env := parseEnv(t, envFile)
	adminToken := strings.TrimSpace(readFile(t, filepath.Join(dir, "node1", "admin.token")))
	enrollToken := strings.TrimSpace(readFile(t, filepath.Join(dir, "enroll.token")))
	if adminToken == "" || enrollToken == "" || env["TALLY_TOKEN"] != adminToken {
		t.Fatalf("tokens: admin %q, enroll %q, cluster.env TALLY_TOKEN %q", adminToken, enrollToken, env["TALLY_TOKEN"])
	}

	want := []string{
		fmt.Sprintf("127.0.0.1:%d", base+14), fmt.Sprintf("127.0.0.1:%d", base+24), fmt.Sprintf("127.0.0.1:%d", base+34),
	}
	if got := env["TALLY_ADDR"]; got != strings.Join(want, ",") {
		t.Errorf("cluster.env TALLY_ADDR=%q, want every node's admin address %q", got, strings.Join(want, ","))
	}
	for _, addr := range want {
		st := exec.Command(filepath.Join(bin, "tallyctl"), "status", "--addr", addr)
		st.Env = append(os.Environ(), "TALLY_TOKEN="+adminToken, "TALLY_CACERT="+env["TALLY_CACERT"], "TALLY_ADDR=")
		if o, err := st.CombinedOutput(); err != nil {
			t.Errorf("tallyctl status --addr %s: %v\n%s", addr, err, o)
		}
	}

	// Every process the script started (and the script itself) is in its
	// process group.
	procs := processGroup(t, cmd.Process.Pid)
	if len(procs) < 5 { // bash, three tallyd, one agent
		t.Fatalf("only %d processes in the script's group: %v", len(procs), procs)
	}
	for pid, argv := range procs {
		if strings.Contains(argv, adminToken) {
			t.Errorf("process %d has the admin token on its command line: %s", pid, argv)
		}
		if strings.Contains(argv, enrollToken) {
			t.Errorf("process %d has the enrollment token on its command line: %s", pid, argv)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseEnv reads `export K=V` lines.
func parseEnv(t *testing.T, path string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(readFile(t, path), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	return env
}

// processGroup returns the command lines of the processes in group pgid.
func processGroup(t *testing.T, pgid int) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		out[pid] = strings.ReplaceAll(string(b), "\x00", " ")
	}
	return out
}

// freeBasePort finds a base port whose nine cluster ports (TCP and UDP) are
// free right now.
func freeBasePort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port - 14
		l.Close()
		if base < 1024 || base+40 > 65535 {
			continue
		}
		ok := true
		var ports []int
		for n := 1; n <= 3; n++ {
			ports = append(ports, base+10*n+3, base+10*n+4, base+10*n+5)
		}
		sort.Ints(ports)
		for _, p := range ports {
			tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			tl.Close()
			ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ul.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}
