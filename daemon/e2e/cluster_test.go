package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol/lease"
)

// clusterSettings give failover room: a lease outlives an election with
// margin, and the assertions still use the servers' own timestamps.
var clusterSettings = []string{"--lease-ttl", "6s", "--heartbeat-interval", "1s", "--max-skew", "2s", "--raft-timeout", "300ms"}

// startCluster starts a founding node and n-1 nodes joining it, each a
// real tallyd process; odd-numbered joiners use `tallyd serve --config`.
func startCluster(t *testing.T, n int) []*server {
	t.Helper()
	first := startServer(t, clusterSettings...)
	nodes := []*server{first}
	for i := 2; i <= n; i++ {
		s := &server{t: t, dir: t.TempDir(),
			extra: clusterSettings, join: first, nodeID: fmt.Sprintf("node%d", i),
			viaConfig: i%2 == 1} // some nodes join by flags, others by config file

		s.start()
		nodes = append(nodes, s)
	}
	return nodes
}

func clusterView(t *testing.T, s *server) (adminapi.ClusterView, error) {
	var v adminapi.ClusterView
	err := s.api(http.MethodGet, "/v1/cluster", nil, &v)
	return v, err
}

// TestClusterLeaderKill9 runs three tallyd processes and three agents, kills
// the leader with SIGKILL, and checks that checkouts resume under the new
// leader, no lease is lost, no seat is granted twice, and every token keeps
// verifying; then it replaces the dead node with a fresh one.
func TestClusterLeaderKill9(t *testing.T) {
	nodes := startCluster(t, 3)
	first := nodes[0]
	v, err := clusterView(t, nodes[2])
	if err != nil || len(v.Members) != 3 {
		t.Fatalf("cluster view from a follower: %+v %v", v, err)
	}
	// Administration works through any node: this goes through a follower.
	tok := nodes[2].setupAccount("acme", "cad", 2)
	a1, a2, a3 := startAgent(t, first, "a1", tok), startAgent(t, first, "a2", tok), startAgent(t, first, "a3", tok)
	t1, t2 := a1.mustCheckout("cad"), a2.mustCheckout("cad")
	for _, a := range []*agent{a1, a2, a3} {
		eventually(t, 20*time.Second, a.name+" learns every node", func() error {
			out := a.cli("status", "--json").stdout
			for _, s := range nodes {
				if !strings.Contains(out, s.agentAddr) {
					return fmt.Errorf("%s missing from %s", s.agentAddr, out)
				}
			}
			return nil
		})
	}
	_, ks := fetchJWKS(t, first)
	if ks.Len() != 3 {
		t.Fatalf("JWKS holds %d keys, want one per node", ks.Len())
	}
	before := first.leases()

	// Reads say how fresh they are: a follower answers from its own copy
	// and says so; --consistent gets the leader's current view.
	var follower *server
	for _, s := range nodes {
		if s.nodeID != "" && s.nodeID != v.Leader {
			follower = s
		}
	}
	if out := follower.mustCtl("leases"); !strings.Contains(out, "answered by "+follower.nodeID+" (Follower, applied index ") {
		t.Errorf("a follower's lease table does not say who answered:\n%s", out)
	}
	if out := follower.mustCtl("--consistent", "status"); !strings.Contains(out, "answered by "+v.Leader+" (Leader, applied index ") || !strings.Contains(out, "consistent read") {
		t.Errorf("a consistent read through a follower was not served by the leader %s:\n%s", v.Leader, out)
	}

	var leader, survivor *server
	for _, s := range nodes {
		if s.nodeID == v.Leader || (s.nodeID == "" && v.Leader == "node1") {
			leader = s
		} else if survivor == nil {
			survivor = s
		}
	}
	if leader == nil {
		t.Fatalf("leader %q not among the nodes", v.Leader)
	}
	leader.proc.kill9()

	waitNewLeader(t, survivor, leader)
	// No seat is granted twice: the third device keeps hearing no_seat (or
	// transient unavailability while it fails over), never a grant.
	eventually(t, 30*time.Second, "a3 gets a definite answer from the new leader", func() error {
		r := a3.checkout("cad")
		if r.code == 0 {
			t.Fatalf("a third seat was granted after the leader died: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "no_seat") {
			return fmt.Errorf("%s", r.stderr)
		}
		return nil
	})
	// Every lease survives with its ID and is renewed by its agent through
	// the new leader.
	eventually(t, 30*time.Second, "leases are renewed under the new leader", func() error {
		after := survivor.leases()
		if len(after) != len(before) {
			t.Fatalf("%d leases after failover, %d before: %+v", len(after), len(before), after)
		}
		for _, l := range before {
			got, ok := leaseByID(after, l.ID)
			if !ok || got.Device != l.Device {
				t.Fatalf("lease %d lost in failover", l.ID)
			}
			if !got.Expires.After(l.Expires) {
				return fmt.Errorf("lease %d not renewed yet", l.ID)
			}
		}
		return nil
	})
	// Checkouts resume: a release through the new leader frees a seat for a3.
	if r := a1.cli("release", "cad"); r.code != 0 {
		t.Fatalf("release after failover: %s", r.stderr)
	}
	t3 := a3.mustCheckout("cad")
	_, ks = fetchJWKS(t, survivor)
	for _, tok := range []string{t1, t2, t3} {
		if _, err := ks.Verify(tok, lease.Expect{Feature: "cad", Leeway: time.Minute}); err != nil && lease.ReasonOf(err) != lease.ReasonExpired {
			t.Fatalf("token does not verify after failover: %v", err)
		}
	}
	if _, err := ks.Verify(t3, lease.Expect{Feature: "cad"}); err != nil {
		t.Fatalf("token granted by the new leader: %v", err)
	}
	if got := claimsOf(t, a2.mustCheckout("cad")).LeaseID; got != claimsOf(t, t2).LeaseID {
		t.Fatalf("a2's lease changed across failover: %d -> %d", claimsOf(t, t2).LeaseID, got)
	}

	// Replace the dead node without downtime: remove it, join a fresh one
	// through a survivor; grants go on throughout.
	survivor.mustCtl("cluster", "remove", leaderID(leader))
	repl := &server{t: t, dir: t.TempDir(),
		extra: clusterSettings, join: survivor, nodeID: "node4"}
	repl.start()
	v, err = clusterView(t, repl)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range v.Members {
		ids = append(ids, m.ID)
		if m.ID == leaderID(leader) {
			t.Fatalf("the removed node is still a member: %+v", v)
		}
	}
	if len(v.Members) != 3 {
		t.Fatalf("members after replacement: %v", ids)
	}
	if r := a3.cli("release", "cad"); r.code != 0 {
		t.Fatalf("release after replacement: %s", r.stderr)
	}
	a1.mustCheckout("cad")
}

// waitNewLeader waits until survivor names a leader other than old (killed).
func waitNewLeader(t *testing.T, survivor, old *server) {
	t.Helper()
	eventually(t, 30*time.Second, "a new leader is elected", func() error {
		v, err := clusterView(t, survivor)
		if err != nil {
			return err
		}
		if v.Leader == "" || v.Leader == leaderID(old) {
			return fmt.Errorf("leader is %q", v.Leader)
		}
		return nil
	})
}

func leaderID(s *server) string {
	if s.nodeID == "" {
		return "node1"
	}
	return s.nodeID
}
