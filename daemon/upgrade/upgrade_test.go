// Package upgrade tests upgrading a running cluster of the previous Tally
// release to this one (docs/design.md#the-ledger-and-its-log): the
// previous release's binaries are built from git history, a three-node
// cluster of them takes a workload, and its nodes are replaced one by one
// by this release's tallyd on the same data directories.
package upgrade

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fw "github.com/tally-licensing/tally/internal/e2eframework"
)

// previousRelease is the commit of the release before log formats: its
// log entries and snapshots are format 1.
const previousRelease = "5df91bb"

// Settings of the cluster the old release founds: leases long enough that
// none expires while nodes restart, so a lease missing afterwards was lost,
// not reclaimed.
var settings = []string{"--lease-ttl", "10m", "--heartbeat-interval", "2s", "--max-skew", "5s", "--raft-timeout", "300ms"}

// buildPrevious builds the previous release's tallyd, tallyctl and
// tally-agent from git history into dir, or skips the test.
func buildPrevious(t *testing.T, dir string) {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): the previous release %s cannot be built", err, previousRelease)
	}
	top := strings.TrimSpace(string(root))
	if err := exec.Command("git", "-C", top, "cat-file", "-e", previousRelease+"^{commit}").Run(); err != nil {
		t.Skipf("git history does not hold the previous release %s (shallow clone?): %v", previousRelease, err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", top, previousRelease, src))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", previousRelease, err, out)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"./daemon/cmd/tallyd", "./daemon/cmd/tallyctl", "./agent/cmd/tally-agent")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous release %s: %v\n%s", previousRelease, err, out)
	}
}

// node is one tallyd of the cluster, on a data directory that outlives
// the processes run on it.
type node struct {
	id, dir                        string
	agentAddr, adminAddr, raftAddr string
	proc                           *fw.Proc
}

type cluster struct {
	t     *testing.T
	nodes []*node
	token string
	ca    string
	http  *http.Client
}

func (c *cluster) start(n *node, bin string, verb ...string) {
	t := c.t
	t.Helper()
	args := append([]string{bin}, verb...)
	args = append(args, "--data", n.dir, "--agent-addr", n.agentAddr, "--admin-addr", n.adminAddr, "--raft-addr", n.raftAddr)
	args = append(args, settings...)
	n.proc = fw.StartProc(t, filepath.Base(filepath.Dir(bin))+" "+n.id, nil, args...)
}

// api calls the admin API of node n.
func (c *cluster) api(n *node, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+n.adminAddr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s on %s: HTTP %d: %s", method, path, n.id, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (c *cluster) env(n *node) []string {
	return []string{"TALLY_ADDR=" + n.adminAddr, "TALLY_TOKEN=" + c.token, "TALLY_CACERT=" + c.ca}
}

func (c *cluster) ctl(bin string, n *node, args ...string) string {
	c.t.Helper()
	r, err := fw.Run(c.env(n), append([]string{bin}, args...)...)
	if err != nil || r.Code != 0 {
		c.t.Fatalf("tallyctl %v on %s: %v exit %d: %s%s", args, n.id, err, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// member is the part of the cluster view the test reads.
type clusterView struct {
	Leader  string `json:"leader"`
	Members []struct {
		ID           string `json:"id"`
		Reachable    bool   `json:"reachable"`
		AppliedIndex uint64 `json:"applied_index"`
	} `json:"members"`
}

// waitMember waits until n serves, sees a leader and has applied the log.
func (c *cluster) waitMember(n *node) {
	c.t.Helper()
	fw.Eventually(c.t, 60*time.Second, n.id+" serves as a cluster member", func() error {
		if n.proc.Exited() {
			return fmt.Errorf("%w: %s exited:\n%s", fw.ErrGiveUp, n.id, fw.Tail(n.proc.Out.String(), 30))
		}
		var v clusterView
		if err := c.api(n, http.MethodGet, "/v1/cluster", nil, &v); err != nil {
			return err
		}
		if v.Leader == "" || len(v.Members) != 3 {
			return fmt.Errorf("view: %+v", v)
		}
		for _, m := range v.Members {
			if m.ID == n.id && m.Reachable && m.AppliedIndex > 0 {
				return nil
			}
		}
		return fmt.Errorf("not applied yet: %+v", v)
	})
}

// ledgerView is what must survive the upgrade, as node n reports it.
type ledgerView struct {
	Accounts []string
	Pools    map[string]int
	Users    []string
	Leases   []uint64
}

func (c *cluster) read(n *node) (ledgerView, error) {
	v := ledgerView{Pools: map[string]int{}}
	var accounts []struct {
		ID string `json:"id"`
	}
	if err := c.api(n, http.MethodGet, "/v1/accounts", nil, &accounts); err != nil {
		return v, err
	}
	for _, a := range accounts {
		v.Accounts = append(v.Accounts, a.ID)
		var pools []struct {
			Feature string `json:"feature"`
			Seats   int    `json:"seats"`
		}
		if err := c.api(n, http.MethodGet, "/v1/accounts/"+a.ID+"/pools", nil, &pools); err != nil {
			return v, err
		}
		for _, p := range pools {
			v.Pools[a.ID+"/"+p.Feature] = p.Seats
		}
		var users []struct {
			Email string `json:"email"`
		}
		if err := c.api(n, http.MethodGet, "/v1/accounts/"+a.ID+"/users", nil, &users); err != nil {
			return v, err
		}
		for _, u := range users {
			v.Users = append(v.Users, a.ID+"/"+u.Email)
		}
	}
	var leases []struct {
		ID uint64 `json:"id"`
	}
	if err := c.api(n, http.MethodGet, "/v1/leases", nil, &leases); err != nil {
		return v, err
	}
	for _, l := range leases {
		v.Leases = append(v.Leases, l.ID)
	}
	return v, nil
}

// mustHold waits until node n reports at least what want holds.
func (c *cluster) mustHold(n *node, want ledgerView, when string) {
	c.t.Helper()
	fw.Eventually(c.t, 60*time.Second, n.id+" still holds the ledger "+when, func() error {
		got, err := c.read(n)
		if err != nil {
			return err
		}
		for _, a := range want.Accounts {
			if !contains(got.Accounts, a) {
				return fmt.Errorf("account %s missing: %+v", a, got)
			}
		}
		for p, seats := range want.Pools {
			if got.Pools[p] != seats {
				return fmt.Errorf("pool %s has %d seats, want %d: %+v", p, got.Pools[p], seats, got)
			}
		}
		for _, u := range want.Users {
			if !contains(got.Users, u) {
				return fmt.Errorf("user %s missing: %+v", u, got)
			}
		}
		for _, l := range want.Leases {
			if !contains(got.Leases, l) {
				return fmt.Errorf("lease %d missing: %+v", l, got)
			}
		}
		return nil
	})
}

func contains[T comparable](list []T, x T) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// TestRollingUpgradeFromPreviousRelease founds a three-node cluster with
// the previous release, gives it accounts, pools, members and leases (held
// by the previous release's agents), then replaces each node's tallyd by
// this release's on the same data directory, one at a time. After each
// step every node must hold everything; while a node of the previous
// release remains, a command of the new log format is refused instead of
// reaching a node that would skip it; at the end new writes succeed. A
// backup written by the previous release restores with this one.
func TestRollingUpgradeFromPreviousRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the previous release and runs six tallyd processes")
	}
	oldBin := t.TempDir()
	buildPrevious(t, oldBin)
	newBins, err := fw.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(newBins.Dir)
	oldTallyd, oldCtl, oldAgent := filepath.Join(oldBin, "tallyd"), filepath.Join(oldBin, "tallyctl"), filepath.Join(oldBin, "tally-agent")

	c := &cluster{t: t}
	for i := 1; i <= 3; i++ {
		c.nodes = append(c.nodes, &node{id: fmt.Sprintf("node%d", i), dir: t.TempDir(),
			agentAddr: fw.FreeAddr(t, "udp"), adminAddr: fw.FreeAddr(t, "tcp"), raftAddr: fw.FreeAddr(t, "tcp")})
	}
	first := c.nodes[0]
	c.start(first, oldTallyd, "serve", "--node-id", first.id)
	fw.Eventually(t, 60*time.Second, "the previous release founds a cluster", func() error {
		tok, err := os.ReadFile(filepath.Join(first.dir, "admin.token"))
		if err != nil {
			return err
		}
		c.token, c.ca = strings.TrimSpace(string(tok)), filepath.Join(first.dir, "ca.pem")
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		var st map[string]any
		return c.api(first, http.MethodGet, "/v1/status", nil, &st)
	})
	for _, n := range c.nodes[1:] {
		c.start(n, oldTallyd, "join", "--join", first.adminAddr, "--token", c.token, "--cacert", c.ca, "--node-id", n.id)
	}
	for _, n := range c.nodes {
		c.waitMember(n)
	}

	// The workload, through the previous release's own tallyctl and agents.
	c.ctl(oldCtl, c.nodes[1], "accounts", "create", "acme")
	c.ctl(oldCtl, c.nodes[2], "pools", "set-seats", "acme", "cad", "5")
	c.ctl(oldCtl, first, "seats", "set", "acme", "4")
	c.ctl(oldCtl, first, "teams", "create", "acme", "design")
	c.ctl(oldCtl, first, "users", "add", "acme", "ann@acme.test", "--password", "correct-horse-1", "--team", "design")
	c.ctl(oldCtl, c.nodes[1], "users", "add", "acme", "bob@acme.test", "cid@acme.test")
	c.ctl(oldCtl, first, "accounts", "create", "solo")
	c.ctl(oldCtl, first, "pools", "set-seats", "solo", "cad", "3")
	acmeTok := strings.TrimSpace(c.ctl(oldCtl, first, "enroll-tokens", "create", "acme"))
	soloTok := strings.TrimSpace(c.ctl(oldCtl, first, "enroll-tokens", "create", "solo"))
	agentA := startAgent(t, oldAgent, first, c.ca, acmeTok, "acme-agent")
	agentS := startAgent(t, oldAgent, c.nodes[1], c.ca, soloTok, "solo-agent")
	agentA.checkout(t, oldAgent, "cad", "--user", "ann@acme.test")
	agentS.checkout(t, oldAgent, "cad")
	backup := filepath.Join(t.TempDir(), "old.backup")
	c.ctl(oldCtl, first, "snapshot", "save", backup)

	want, err := c.read(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Leases) != 2 || len(want.Users) != 3 || len(want.Pools) != 2 {
		t.Fatalf("the previous release's ledger: %+v", want)
	}

	// Node by node: stop the previous release, start this one on its data.
	newTallyd := newBins.Path("tallyd")
	for i, n := range []*node{c.nodes[2], c.nodes[1], c.nodes[0]} {
		n.proc.Term(t)
		c.start(n, newTallyd, "serve")
		c.waitMember(n)
		for _, m := range c.nodes {
			c.mustHold(m, want, fmt.Sprintf("after upgrading %d node(s)", i+1))
		}
		if i < 2 {
			// A command of log format 2 would be skipped by the nodes of
			// the previous release: it is refused, through any node.
			err := c.api(n, http.MethodPost, "/v1/accounts/acme/users/bob@acme.test/sign-out", map[string]any{}, nil)
			if err == nil || !strings.Contains(err.Error(), "log format 2") {
				t.Fatalf("a format 2 command with previous-release nodes left: %v", err)
			}
		}
	}

	// New writes succeed, and format 2 commands reach the ledger once every
	// node has registered that it reads format 2 (this release's tallyctl
	// writes carry an Idempotency-Key, a format 2 command).
	newCtl := newBins.Path("tallyctl")
	fw.Eventually(t, 60*time.Second, "every upgraded node registers log format 2", func() error {
		r, err := fw.Run(c.env(c.nodes[2]), newCtl, "accounts", "create", "beta")
		if err != nil || r.Code != 0 {
			return fmt.Errorf("accounts create beta: %v exit %d: %s", err, r.Code, r.Stderr)
		}
		return nil
	})
	c.ctl(newCtl, c.nodes[1], "pools", "set-seats", "beta", "cad", "2")
	c.ctl(newCtl, first, "users", "add", "acme", "dan@acme.test")
	fw.Eventually(t, 30*time.Second, "a format 2 command reaches the ledger once every node is upgraded", func() error {
		err := c.api(first, http.MethodPost, "/v1/accounts/acme/users/bob@acme.test/sign-out", map[string]any{}, nil)
		if err == nil || !strings.Contains(err.Error(), "not signed in") {
			return fmt.Errorf("sign-out of a member signed in nowhere: %v", err)
		}
		return nil
	})
	agentS.checkout(t, oldAgent, "cad")
	want.Accounts = append(want.Accounts, "beta")
	want.Pools["beta/cad"] = 2
	want.Users = append(want.Users, "acme/dan@acme.test")
	for _, m := range c.nodes {
		c.mustHold(m, want, "after the upgrade")
	}

	// A backup the previous release wrote restores with this one: a new
	// single-node cluster serves its ledger.
	restored := &node{id: "restored", dir: t.TempDir(), agentAddr: fw.FreeAddr(t, "udp"), adminAddr: fw.FreeAddr(t, "tcp"), raftAddr: fw.FreeAddr(t, "tcp")}
	restored.proc = fw.StartProc(t, "tallyd restore", nil, newTallyd, "restore", "--data", restored.dir,
		"--agent-addr", restored.agentAddr, "--admin-addr", restored.adminAddr, "--raft-addr", restored.raftAddr, backup)
	before := ledgerView{Accounts: []string{"acme", "solo"}, Pools: map[string]int{"acme/cad": 5, "solo/cad": 3},
		Users: []string{"acme/ann@acme.test", "acme/bob@acme.test", "acme/cid@acme.test"}, Leases: want.Leases[:2]}
	c.mustHold(restored, before, "restored from the previous release's backup")
}

// agent is a tally-agent of the previous release.
type agent struct {
	name, dir, socket string
	proc              *fw.Proc
}

func startAgent(t *testing.T, bin string, n *node, ca, enrollToken, name string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{name: name, dir: dir, socket: filepath.Join(dir, "agent.sock")}
	a.proc = fw.StartProc(t, name, nil, bin, "run", "--state", dir, "--server", n.agentAddr, "--ca", ca,
		"--enroll-token", enrollToken, "--socket", a.socket)
	fw.Eventually(t, 60*time.Second, name+" enrolls", func() error {
		if a.proc.Exited() {
			return fmt.Errorf("%w: %s exited:\n%s", fw.ErrGiveUp, name, fw.Tail(a.proc.Out.String(), 30))
		}
		r, err := fw.Run(nil, bin, "status", "--json", "--socket", a.socket)
		if err != nil || r.Code != 0 {
			return fmt.Errorf("status: %v %s", err, r.Stderr)
		}
		if !strings.Contains(r.Stdout, `"enrolled": true`) && !strings.Contains(r.Stdout, `"enrolled":true`) {
			return fmt.Errorf("not enrolled: %s", r.Stdout)
		}
		return nil
	})
	return a
}

func (a *agent) checkout(t *testing.T, bin, feature string, extra ...string) {
	t.Helper()
	fw.Eventually(t, 60*time.Second, a.name+" checks out "+feature, func() error {
		r, err := fw.Run(nil, append([]string{bin, "checkout", feature, "--socket", a.socket}, extra...)...)
		if err != nil || r.Code != 0 {
			return fmt.Errorf("checkout: %v exit %d: %s", err, r.Code, r.Stderr)
		}
		return nil
	})
}
