package store

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// A non-voter receives the log and applies it (so it can serve agents from
// its own state), and commits do not wait for it: with the non-voter gone,
// the one voter still commits on its own, where a second voter would have
// held every commit up.
func TestNonvoterReplicatesButNeverHoldsCommitsUp(t *testing.T) {
	a1, t1 := raft.NewInmemTransport("n1-addr")
	a2, t2 := raft.NewInmemTransport("n2-addr")
	t1.Connect(a2, t2)
	t2.Connect(a1, t1)
	open := func(id string, tr raft.Transport, bootstrap bool) *Store {
		s, err := Open(Config{
			NodeID: id, Dir: t.TempDir(), Transport: tr, Bootstrap: bootstrap, Logger: quietLogger(),
			HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := open("n1", t1, true)
	defer s1.Close()
	s2 := open("n2", t2, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s1.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s1.AddNonvoter(ctx, "n2", string(a2)); err != nil {
		t.Fatal(err)
	}
	seed(t, s1, 3, 2)
	var want, got uint64
	s1.Read(func(st *ledger.State) { want = st.AppliedIndex() })
	for got < want {
		if ctx.Err() != nil {
			t.Fatalf("the non-voter applied %d of %d", got, want)
		}
		time.Sleep(20 * time.Millisecond)
		s2.Read(func(st *ledger.State) { got = st.AppliedIndex() })
	}
	s2.Read(func(st *ledger.State) {
		if _, ok := st.Account("acme"); !ok {
			t.Error("the non-voter's state has no account acme")
		}
	})
	members, err := s1.Members()
	if err != nil {
		t.Fatal(err)
	}
	suffrage := map[string]string{}
	for _, m := range members {
		suffrage[m.ID] = m.Suffrage
	}
	if suffrage["n1"] != "Voter" || suffrage["n2"] != "Nonvoter" {
		t.Fatalf("members %v; want n1 Voter, n2 Nonvoter", suffrage)
	}

	s2.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	r, err := s1.Propose(pctx, ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "beta"}})
	if err != nil || r.Error != nil {
		t.Fatalf("commit with the non-voter down: %v %v; a non-voter must not be needed for a quorum", err, r.Error)
	}
}
