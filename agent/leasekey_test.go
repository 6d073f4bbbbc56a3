package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/protocol"
)

// TestCacheKeyedByWhatMakesALeaseDifferent: a checkout is answered from the
// cache only when it asks for the same thing (feature, member, team, kind,
// borrow); asking for a team or a borrow the cached lease was not taken
// for is a new request to the cluster, never the cached answer.
func TestCacheKeyedByWhatMakesALeaseDifferent(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 5)
	a := startAgent(t, srv, t.TempDir())
	c := sdk.New(a.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := c.Checkout(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Checkout(ctx, "cad")
	if err != nil || again.ID != first.ID || srv.count(protocol.TypeCheckout) != 1 {
		t.Fatalf("the same request should be the cached lease: %+v %v (%d checkouts)", again, err, srv.count(protocol.TypeCheckout))
	}
	team, err := c.Checkout(ctx, "cad", sdk.WithTeam("ops"))
	if err != nil || team.ID == first.ID || srv.count(protocol.TypeCheckout) != 2 {
		t.Fatalf("a checkout for a team is a new request: %+v %v", team, err)
	}
	borrow, err := c.Checkout(ctx, "cad", sdk.WithBorrow(48*time.Hour))
	if err != nil || borrow.ID == first.ID || borrow.ID == team.ID || srv.count(protocol.TypeCheckout) != 3 {
		t.Fatalf("a borrow is a new request: %+v %v", borrow, err)
	}
	if l, err := c.Checkout(ctx, "cad", sdk.WithBorrow(48*time.Hour)); err != nil || l.ID != borrow.ID || srv.count(protocol.TypeCheckout) != 3 {
		t.Fatalf("the same borrow again is the cached one: %+v %v", l, err)
	}
	if st := a.status(); len(st.Leases) != 3 {
		t.Fatalf("status lists %d leases, want the 3 different ones", len(st.Leases))
	}
}
