package ledger

import (
	"bytes"
	"testing"
	"time"
)

// TestResultDoesNotAliasRecord is the regression test for a bug the cluster
// fault tests found: Apply returned the same *Lease it kept in the
// idempotency record, so a caller that changed the lease it got back
// rewrote the record. On the leader (where Raft hands Apply's value straight
// to the proposer) the ledger then differed from the followers', byte for
// byte, and a later replay of the request answered with the changed lease.
func TestResultDoesNotAliasRecord(t *testing.T) {
	f := newFixture(t, 2, 2)
	twin := newFixture(t, 2, 2)
	co := Command{Type: CmdCheckout, RequestID: "co-1", Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad"}}
	ren := Command{Type: CmdRenew, RequestID: "ren-1", Payload: &Renew{Account: "acme", Device: "d1", Leases: []uint64{1}}}

	got := f.must(t, co)
	twin.must(t, co)
	// The caller scribbles over everything it was handed.
	got.Lease.Horizon = got.Lease.Horizon.Add(time.Hour)
	got.Lease.Device = "someone-else"
	got.Lease.AddOns = append(got.Lease.AddOns, "forged")

	f.now, twin.now = f.now.Add(time.Second), twin.now.Add(time.Second)
	rr := f.must(t, ren)
	twin.must(t, ren)
	rr.Renewed[0].Lease.Horizon = time.Time{}

	if a, b := snapshotBytes(t, f.s), snapshotBytes(t, twin.s); !bytes.Equal(a, b) {
		t.Fatalf("mutating returned results changed the ledger:\n%s\nvs untouched\n%s", a, b)
	}

	// A replay hands out its own copy too, of the lease as it is now
	// (renewed since the grant: issue 13 finding 2).
	rep := f.apply(co)
	cur, _ := f.s.Lease(1)
	if !rep.Replayed || rep.Lease == nil || rep.Lease.Device != "d1" || !rep.Lease.Horizon.Equal(cur.Horizon) || !cur.Horizon.After(t0.Add(10*time.Second)) {
		t.Fatalf("replay: %+v", rep.Lease)
	}
	rep.Lease.Device = "x"
	if again := f.apply(co); again.Lease.Device != "d1" {
		t.Fatalf("a replayed result aliases the record: %+v", again.Lease)
	}
}
