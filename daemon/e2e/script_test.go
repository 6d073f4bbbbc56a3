package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
)

// freeBlock finds a base port whose cluster-up.sh ports (base+13…base+35,
// TCP and UDP) were all free a moment ago.
func freeBlock(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + (os.Getpid()*7+try*97)%30000
		ok := true
		for node := 1; node <= 3 && ok; node++ {
			for off := 3; off <= 5 && ok; off++ {
				addr := fmt.Sprintf("127.0.0.1:%d", base+10*node+off)
				l, err := net.Listen("tcp", addr)
				if err != nil {
					ok = false
					break
				}
				l.Close()
				u, err := net.ListenPacket("udp", addr)
				if err != nil {
					ok = false
					break
				}
				u.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free block of ports for cluster-up.sh")
	return 0
}

// TestClusterUpScript runs scripts/cluster-up.sh as a user would, uses the
// cluster it starts, and stops it with SIGTERM; then runs it again on the
// same directory, which restarts the existing cluster (all three nodes at
// once: node1 alone has no majority to lead with).
func TestClusterUpScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes and two agents")
	}
	dir := t.TempDir()
	base := freeBlock(t)
	for round := 1; round <= 2; round++ {
		clusterUpRound(t, dir, base, round)
	}
}

func clusterUpRound(t *testing.T, dir string, base, round int) {
	out := &syncBuffer{}
	cmd := exec.Command("bash", "../../scripts/cluster-up.sh", "2")
	cmd.Env = append(os.Environ(), "TALLY_CLUSTER_DIR="+dir, fmt.Sprintf("TALLY_BASE_PORT=%d", base), "TALLY_BIN="+binaries.Dir, "TALLY_SEATS=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the script and everything it started
		if t.Failed() {
			t.Logf("--- cluster-up.sh (run %d) ---\n%s", round, out.String())
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("--- %s ---\n%s", filepath.Base(l), tail(string(b), 30))
			}
		}
	})
	eventually(t, 90*time.Second, fmt.Sprintf("cluster-up.sh (run %d) says the cluster is up", round), func() error {
		select {
		case err := <-done:
			t.Fatalf("cluster-up.sh (run %d) exited early: %v", round, err)
		default:
		}
		if !strings.Contains(out.String(), "cluster is up: 3 nodes, 2 agents") {
			return fmt.Errorf("not up yet")
		}
		return nil
	})

	env, err := readEnvFile(filepath.Join(dir, "cluster.env"))
	if err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) result { return run(t, env, append([]string{bin("tallyctl")}, args...)...) }
	agentCLI := func(socket string, args ...string) result {
		return run(t, append(env, "TALLY_AGENT_SOCKET="+socket), append([]string{bin("tally-agent")}, args...)...)
	}
	var v adminapi.ClusterView
	if r := ctl("cluster", "list", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil {
		t.Fatalf("cluster list: %+v", r)
	}
	reachable := 0
	for _, m := range v.Members {
		if m.Reachable && m.Suffrage == "Voter" {
			reachable++
		}
	}
	if reachable != 3 || v.Leader == "" {
		t.Fatalf("want three reachable voters and a leader: %+v", v)
	}
	// One seat, two agents: the first gets it, the second is refused.
	if r := agentCLI(filepath.Join(dir, "agent1", "agent.sock"), "checkout", "countthings"); r.code != 0 || !strings.HasPrefix(r.stdout, "eyJ") {
		t.Fatalf("agent1 checkout: %+v", r)
	}
	if r := agentCLI(filepath.Join(dir, "agent2", "agent.sock"), "checkout", "countthings"); r.code == 0 || !strings.Contains(r.stderr, "no_seat") {
		t.Fatalf("agent2 checkout of the only seat held by agent1: %+v", r)
	}

	// SIGTERM stops everything it started.
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("cluster-up.sh did not stop on SIGTERM")
	}
	eventually(t, 10*time.Second, "every process the script started is gone", func() error {
		if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
			return fmt.Errorf("process group %d still has members", cmd.Process.Pid)
		}
		return nil
	})
}
