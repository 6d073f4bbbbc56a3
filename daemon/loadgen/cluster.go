package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/adminclient"
)

// node is one real tallyd process of the benchmark cluster.
type node struct {
	id                           string
	dir                          string
	agentAddr, adminAddr, raftAd string
	cmd                          *exec.Cmd
	log                          *os.File
	dead                         bool
}

// cluster is a loopback tallyd cluster started by the harness.
type cluster struct {
	nodes  []*node
	token  string
	caFile string
}

// startCluster founds node1 and joins the others, as scripts/cluster-up.sh
// does, and waits until every node is a reachable voter.
func startCluster(ctx context.Context, cfg Config, dir string) (*cluster, error) {
	c := &cluster{}
	ports := cfg.ports()
	for i := range cfg.Nodes {
		c.nodes = append(c.nodes, &node{id: fmt.Sprintf("node%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			agentAddr: ports.agent(i), adminAddr: ports.admin(i), raftAd: ports.raft(i)})
	}
	common := func(n *node) []string {
		args := []string{"--node-id", n.id, "--data", n.dir, "--agent-addr", n.agentAddr, "--admin-addr", n.adminAddr, "--raft-addr", n.raftAd,
			"--addr-file", n.dir + ".addrs"}
		if cfg.Pprof {
			args = append(args, "--pprof-addr", ports.pprof(indexOf(c.nodes, n)))
		}
		if cfg.RaftTimeout > 0 {
			args = append(args, "--raft-timeout", cfg.RaftTimeout.String())
		}
		// Every simulated device connects from this one address, and the
		// storms open up to every device's connection at once: the agent
		// port's per-source and total limits (sized for real sites) and
		// its handshake rate would refuse the bench, not measure tallyd.
		conns := strconv.Itoa(cfg.Devices + 1000)
		args = append(args, "--agent-max-conns", conns, "--agent-max-conns-per-source", conns,
			"--agent-max-anonymous-per-source", strconv.Itoa(cfg.Concurrency+64),
			"--agent-handshakes-per-second", strconv.Itoa(max(100000, 10*cfg.Devices)))
		return args
	}
	n1 := c.nodes[0]
	args := append([]string{"serve"}, common(n1)...)
	args = append(args, "--lease-ttl", cfg.LeaseTTL.String(), "--heartbeat-interval", cfg.HeartbeatInterval.String(), "--log-level", "warn")
	if err := c.spawn(cfg, n1, args); err != nil {
		return c, err
	}
	if err := n1.readAddrs(ctx); err != nil {
		return c, err
	}
	if err := waitFor(ctx, 30*time.Second, "node1's admin token", func() error {
		b, err := os.ReadFile(filepath.Join(n1.dir, "admin.token"))
		if err == nil && len(strings.TrimSpace(string(b))) == 0 {
			err = errors.New("empty")
		}
		c.token = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		return c, err
	}
	c.caFile = filepath.Join(n1.dir, "ca.pem")
	adm, err := c.admin(n1)
	if err != nil {
		return c, err
	}
	if err := waitFor(ctx, 30*time.Second, "node1 to lead", func() error {
		var v adminapi.ClusterView
		if err := adm.Do(ctx, http.MethodGet, "/v1/cluster", nil, &v); err != nil {
			return err
		}
		if v.Leader == "" {
			return errors.New("no leader yet")
		}
		return nil
	}); err != nil {
		return c, err
	}
	for _, n := range c.nodes[1:] {
		args := append([]string{"join", "--join", n1.adminAddr, "--token", c.token, "--cacert", c.caFile}, common(n)...)
		args = append(args, "--log-level", "warn")
		if cfg.Nonvoters {
			args = append(args, "--nonvoter")
		}
		if err := c.spawn(cfg, n, args); err != nil {
			return c, err
		}
		if err := n.readAddrs(ctx); err != nil {
			return c, err
		}
	}
	if err := waitFor(ctx, 60*time.Second, fmt.Sprintf("%d reachable voters", cfg.Nodes), func() error {
		var v adminapi.ClusterView
		if err := adm.Do(ctx, http.MethodGet, "/v1/cluster", nil, &v); err != nil {
			return err
		}
		up := 0
		for _, m := range v.Members {
			if m.Reachable && (m.Suffrage == "Voter" || cfg.Nonvoters && m.Suffrage == "Nonvoter") {
				up++
			}
		}
		if up < cfg.Nodes {
			return fmt.Errorf("%d of %d voters reachable", up, cfg.Nodes)
		}
		return nil
	}); err != nil {
		return c, err
	}
	return c, nil
}

// readAddrs waits for the addresses tallyd --addr-file reports once it
// listens: the ports it was given, or the ones the kernel chose for port 0.
func (n *node) readAddrs(ctx context.Context) error {
	return waitFor(ctx, 60*time.Second, n.id+"'s bound addresses", func() error {
		b, err := os.ReadFile(n.dir + ".addrs")
		if err != nil {
			return err
		}
		var a struct{ Agent, Admin, Raft string }
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		if a.Agent == "" || a.Admin == "" || a.Raft == "" {
			return fmt.Errorf("incomplete %s", b)
		}
		n.agentAddr, n.adminAddr, n.raftAd = a.Agent, a.Admin, a.Raft
		return nil
	})
}

func indexOf(ns []*node, n *node) int {
	for i, m := range ns {
		if m == n {
			return i
		}
	}
	return -1
}

func (c *cluster) spawn(cfg Config, n *node, args []string) error {
	if err := os.MkdirAll(filepath.Dir(n.dir), 0o755); err != nil {
		return err
	}
	f, err := os.Create(n.dir + ".log")
	if err != nil {
		return err
	}
	cmd := exec.Command(cfg.Tallyd, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", cfg.Tallyd, err)
	}
	n.cmd, n.log = cmd, f
	return nil
}

// stop kills every node still running.
func (c *cluster) stop() {
	for _, n := range c.nodes {
		if n.cmd != nil && !n.dead {
			n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				n.cmd.Process.Kill()
				<-done
			}
			n.dead = true
		}
		if n.log != nil {
			n.log.Close()
		}
	}
}

// kill ends a node the hard way, as a crash would.
func (c *cluster) kill(n *node) {
	n.cmd.Process.Kill()
	n.cmd.Wait()
	n.dead = true
}

func (c *cluster) admin(n *node) (*adminclient.Client, error) {
	return adminclient.New(n.adminAddr, c.token, c.caFile)
}

// leader asks the live nodes who leads and returns that node.
func (c *cluster) leader(ctx context.Context) (*node, error) {
	for _, n := range c.nodes {
		if n.dead {
			continue
		}
		adm, err := c.admin(n)
		if err != nil {
			return nil, err
		}
		var v adminapi.ClusterView
		if err := adm.Do(ctx, http.MethodGet, "/v1/cluster", nil, &v); err != nil {
			continue
		}
		for _, m := range c.nodes {
			if m.id == v.Leader && !m.dead {
				return m, nil
			}
		}
	}
	return nil, errors.New("no live node knows a live leader")
}

// appliedIndex is the Raft index n has applied, from the admin API's
// freshness headers.
func (c *cluster) appliedIndex(ctx context.Context, n *node) (uint64, error) {
	adm, err := c.admin(n)
	if err != nil {
		return 0, err
	}
	if err := adm.Do(ctx, http.MethodGet, "/v1/status", nil, nil); err != nil {
		return 0, fmt.Errorf("status of %s: %w", n.id, err)
	}
	return adm.LastFreshness().AppliedIndex, nil
}

func (c *cluster) agentAddrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.agentAddr)
	}
	return out
}

// procStat is a process's CPU time so far and its resident memory: all of
// it (VmRSS), and split into private memory (RssAnon: heap, stacks, written
// data) and pages mapped from files (RssFile: mostly the binary's code and
// read-only data, which the kernel maps in whole folios around each fault).
type procStat struct {
	CPU     time.Duration
	RSSKiB  int64
	AnonKiB int64
	FileKiB int64
}

// readProc reads /proc/PID/stat (utime+stime, in clock ticks of 1/100 s on
// Linux) and /proc/PID/status (VmRSS, RssAnon, RssFile).
func readProc(pid int) (procStat, error) {
	var ps procStat
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name may hold spaces; fields start after the last ')'.
	s := string(raw)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fs) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	ps.CPU = time.Duration(ut+st) * 10 * time.Millisecond
	raw, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		for _, f := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &ps.RSSKiB}, {"RssAnon:", &ps.AnonKiB}, {"RssFile:", &ps.FileKiB}} {
			if rest, ok := strings.CutPrefix(line, f.name); ok {
				*f.dst, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			}
		}
	}
	return ps, nil
}

func waitFor(ctx context.Context, limit time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// term is n's current Raft term: a term that moves on a healthy cluster
// is an election nobody asked for.
func (c *cluster) term(ctx context.Context, n *node) (uint64, error) {
	adm, err := c.admin(n)
	if err != nil {
		return 0, err
	}
	var st struct {
		Node struct {
			Term uint64 `json:"term"`
		} `json:"node"`
	}
	if err := adm.Do(ctx, http.MethodGet, "/v1/status", nil, &st); err != nil {
		return 0, fmt.Errorf("status of %s: %w", n.id, err)
	}
	return st.Node.Term, nil
}

// waitApplied waits until every live node has applied what the leader has.
func (c *cluster) waitApplied(ctx context.Context, leader *node) error {
	want, err := c.appliedIndex(ctx, leader)
	if err != nil {
		return err
	}
	for _, n := range c.nodes {
		if n.dead || n == leader {
			continue
		}
		if err := waitFor(ctx, 30*time.Second, n.id+" to catch up", func() error {
			got, err := c.appliedIndex(ctx, n)
			if err == nil && got < want {
				err = fmt.Errorf("applied %d of %d", got, want)
			}
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}
