// Package chaos runs real tallyd processes under real faults: SIGKILL in
// the middle of writes, SIGSTOP of the leader for longer than the lease TTL,
// and clock offsets and jumps per process (through the test-only offset file
// of internal/clock). Devices are real QUIC clients (agent/client) with
// enrolled certificates; every token they receive goes into a token ledger.
// The in-process fault schedules (partitions, lossy links, disk faults) are
// in cluster/store.
package chaos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/adminclient"
	"github.com/tally-licensing/tally/internal/clock"
	"github.com/tally-licensing/tally/internal/e2eframework"
)

var binaries e2eframework.Binaries

func TestMain(m *testing.M) { os.Exit(e2eframework.Main(m, &binaries)) }

// Lease settings of the chaos cluster: short, so that a pause outlives a
// lease and expiry happens within a schedule.
const (
	leaseTTL  = 2 * time.Second
	heartbeat = 500 * time.Millisecond
	maxSkew   = time.Second
)

var settings = []string{"--lease-ttl", leaseTTL.String(), "--heartbeat-interval", heartbeat.String(), "--max-skew", maxSkew.String(),
	"--raft-timeout", "200ms", "--reap-interval", "100ms", "--log-level", "debug"}

// procNode is one tallyd process of the cluster, restartable on its data
// directory and addresses.
type procNode struct {
	id       string
	dir      string
	clock    string // the offset file its clock reads
	addrFile string
	addrs    e2eframework.Addrs
	proc     *e2eframework.Proc
	logs     []string // output of earlier incarnations
}

type procCluster struct {
	t      *testing.T
	nodes  []*procNode
	token  string
	caFile string
	start  time.Time
	events []string
}

func (c *procCluster) note(format string, args ...any) {
	c.events = append(c.events, fmt.Sprintf("%8.3fs ", time.Since(c.start).Seconds())+fmt.Sprintf(format, args...))
	c.t.Logf(format, args...)
}

func startProcCluster(t *testing.T, ctx context.Context, n int) *procCluster {
	t.Helper()
	c := &procCluster{t: t, start: time.Now()}
	base := t.TempDir()
	for i := 1; i <= n; i++ {
		dir := filepath.Join(base, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, &procNode{id: fmt.Sprintf("node%d", i), dir: filepath.Join(dir, "data"),
			clock: filepath.Join(dir, "clock.offset"), addrFile: filepath.Join(dir, "addrs.json")})
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.proc != nil {
				nd.proc.Kill9()
			}
		}
		if t.Failed() {
			t.Logf("events:\n%s", strings.Join(c.events, "\n"))
			for _, nd := range c.nodes {
				if nd.proc != nil {
					t.Logf("--- %s ---\n%s", nd.id, e2eframework.Tail(nd.proc.Out.String(), 40))
				}
			}
		}
	})
	c.launch(ctx, 0)
	if err := e2eframework.Poll(ctx, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(c.nodes[0].dir, "admin.token"))
		c.token = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.caFile = filepath.Join(c.nodes[0].dir, "ca.pem")
	for i := 1; i < n; i++ {
		c.launch(ctx, i)
	}
	if err := e2eframework.Poll(ctx, 60*time.Second, func() error { return c.allCaughtUp(ctx) }); err != nil {
		t.Fatalf("cluster of %d: %v", n, err)
	}
	return c
}

// launch starts node i: the founder serves, the others join the founder
// (again, on a restart: joining is idempotent). The first start binds port
// 0 and learns the ports from the addr file; restarts bind the same ones.
func (c *procCluster) launch(ctx context.Context, i int) {
	c.t.Helper()
	nd := c.nodes[i]
	addr := func(a string) string {
		if a == "" {
			return e2eframework.AnyPort
		}
		return a
	}
	os.Remove(nd.addrFile)
	args := []string{binaries.Path("tallyd"), "serve", "--node-id", nd.id}
	if i > 0 {
		args = []string{binaries.Path("tallyd"), "join", "--join", c.nodes[0].addrs.Admin, "--token", c.token, "--cacert", c.caFile, "--node-id", nd.id}
	}
	args = append(args, "--data", nd.dir, "--agent-addr", addr(nd.addrs.Agent), "--admin-addr", addr(nd.addrs.Admin),
		"--raft-addr", addr(nd.addrs.Raft), "--addr-file", nd.addrFile)
	args = append(args, settings...)
	if nd.proc != nil {
		nd.logs = append(nd.logs, nd.proc.Out.String())
	}
	p, err := e2eframework.Spawn(nd.id, []string{clock.EnvOffsetFile + "=" + nd.clock}, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	nd.proc = p
	a, err := e2eframework.WaitAddrs(ctx, p, nd.addrFile, 60*time.Second)
	if err != nil {
		c.t.Fatalf("%s: %v", nd.id, err)
	}
	nd.addrs = a
}

func (c *procCluster) admin(i int) (*adminclient.Client, error) {
	return adminclient.New(c.nodes[i].addrs.Admin, c.token, c.caFile)
}

// view asks node i for the cluster view.
func (c *procCluster) view(ctx context.Context, i int) (adminapi.ClusterView, error) {
	var v adminapi.ClusterView
	a, err := c.admin(i)
	if err != nil {
		return v, err
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = a.Do(actx, http.MethodGet, "/v1/cluster", nil, &v)
	return v, err
}

// leader is the index of the node the cluster names leader, or -1.
func (c *procCluster) leader(ctx context.Context) int {
	for i, nd := range c.nodes {
		if nd.proc == nil || nd.proc.Exited() {
			continue
		}
		v, err := c.view(ctx, i)
		if err != nil || v.Leader == "" {
			continue
		}
		for j, o := range c.nodes {
			if o.id == v.Leader {
				return j
			}
		}
	}
	return -1
}

// allCaughtUp is nil once every node is a reachable voter and all have
// applied the same index.
func (c *procCluster) allCaughtUp(ctx context.Context) error {
	li := c.leader(ctx)
	if li < 0 {
		return errors.New("no leader")
	}
	v, err := c.view(ctx, li)
	if err != nil {
		return err
	}
	if len(v.Members) != len(c.nodes) {
		return fmt.Errorf("%d members", len(v.Members))
	}
	var idx uint64
	for k, m := range v.Members {
		if !m.Reachable || m.Suffrage != "Voter" {
			return fmt.Errorf("%s: reachable=%v suffrage=%s", m.ID, m.Reachable, m.Suffrage)
		}
		if k > 0 && m.AppliedIndex != idx {
			return fmt.Errorf("applied indexes differ: %+v", v.Members)
		}
		idx = m.AppliedIndex
	}
	return nil
}

// setOffset moves node i's clock to the system clock plus d.
func (c *procCluster) setOffset(i int, d time.Duration) {
	c.t.Helper()
	if err := os.WriteFile(c.nodes[i].clock, []byte(d.String()+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.note("clock of %s: %+v", c.nodes[i].id, d)
}

func (c *procCluster) agentAddrs() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.addrs.Agent)
	}
	return out
}

// setup creates the account and pool and returns an enrollment token.
func (c *procCluster) setup(ctx context.Context, account, feature string, seats int) string {
	c.t.Helper()
	li := c.leader(ctx)
	if li < 0 {
		c.t.Fatal("no leader")
	}
	a, err := c.admin(li)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := a.Do(ctx, http.MethodPost, "/v1/accounts", adminapi.CreateAccountRequest{ID: account}, nil); err != nil {
		c.t.Fatal(err)
	}
	if err := a.Do(ctx, http.MethodPut, "/v1/accounts/"+account+"/pools/"+feature, adminapi.SetPoolRequest{Seats: seats}, nil); err != nil {
		c.t.Fatal(err)
	}
	var tok adminapi.TokenResponse
	if err := a.Do(ctx, http.MethodPost, "/v1/accounts/"+account+"/enroll-tokens", adminapi.CreateTokenRequest{Name: "chaos", Uses: 1000}, &tok); err != nil {
		c.t.Fatal(err)
	}
	return tok.Token
}

// tlsBase is the agents' TLS configuration before enrollment.
func (c *procCluster) tlsBase() *tls.Config {
	c.t.Helper()
	conf, err := clientTLS(c.caFile)
	if err != nil {
		c.t.Fatal(err)
	}
	return conf
}
