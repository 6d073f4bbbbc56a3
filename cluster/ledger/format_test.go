package ledger

import (
	"testing"

	"github.com/tally-licensing/tally/protocol"
)

// TestFormat1EntriesKeepTheirMeaning: rules added in log format 2 (the
// holder of a seat comes from a sign-in; deleting a member or unassigning
// a license revokes leases) do not apply to format 1 entries, so a log
// written by the previous release replays to the ledger it built, while the
// same commands written in format 2 follow the new rules.
func TestFormat1EntriesKeepTheirMeaning(t *testing.T) {
	run := func(format int) (checkout Result, f *fixture) {
		f = memberFixture(t)
		at := func(c Command) Command { c.Format = format; return c }
		checkout = f.apply(at(Command{Type: CmdCheckout, Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", User: "ann@acme.test"}}))
		f.must(t, at(Command{Type: CmdDeleteUser, Payload: &DeleteUser{Account: "acme", Email: "ann@acme.test"}}))
		return checkout, f
	}
	// Format 1: the leader named the user; the lease stays when she goes.
	r, f := run(1)
	if r.Error != nil || r.Lease.User != "ann@acme.test" {
		t.Fatalf("format 1 checkout naming its user: %+v %v", r.Lease, r.Error)
	}
	if l, err := f.s.Lease(r.Lease.ID); err != nil || l.Revoked {
		t.Fatalf("a format 1 delete_user revoked the lease: %+v", l)
	}
	// Format 2: no sign-in, no seat.
	r, _ = run(2)
	wantCode(t, r, protocol.CodeNotSignedIn)
}

// TestClusterLogFormat: the leader writes what every registered node
// reads; a node of the previous release (no log_format) holds the cluster
// at format 1.
func TestClusterLogFormat(t *testing.T) {
	f := newFixture(t, 1, 1)
	if got := f.s.ClusterLogFormat(); got != LogFormat {
		t.Fatalf("no node registered: format %d", got)
	}
	f.must(t, Command{Type: CmdRegisterNode, Payload: &Node{ID: "n1", RaftAddr: "a:1", LogFormat: LogFormat}})
	f.must(t, Command{Type: CmdRegisterNode, Payload: &Node{ID: "n2", RaftAddr: "a:2"}})
	if got := f.s.ClusterLogFormat(); got != 1 {
		t.Fatalf("with a previous-release node: format %d", got)
	}
	f.must(t, Command{Type: CmdRegisterNode, Payload: &Node{ID: "n2", RaftAddr: "a:2", LogFormat: LogFormat}})
	if got := f.s.ClusterLogFormat(); got != LogFormat {
		t.Fatalf("all upgraded: format %d", got)
	}
}
