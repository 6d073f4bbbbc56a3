package ledger

import (
	"bytes"
	"reflect"
	"strings"
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

// TestSnapshotReadingIsStrict: a snapshot with a field this tallyd does
// not know is refused, naming the upgrade, instead of losing the field.
func TestSnapshotReadingIsStrict(t *testing.T) {
	f := newFixture(t, 2, 1)
	var buf bytes.Buffer
	if err := f.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := New().ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("this release's snapshot: %v", err)
	}
	newer := strings.Replace(buf.String(), `"cluster_id":`, `"quotas":{"cad":3},"cluster_id":`, 1)
	err := New().ReadSnapshot(strings.NewReader(newer))
	if err == nil || !strings.Contains(err.Error(), "newer tallyd") {
		t.Fatalf("a snapshot with an unknown field: %v", err)
	}
	nested := strings.Replace(buf.String(), `"seats":`, `"reserved_for_vendor":1,"seats":`, 1)
	if err := New().ReadSnapshot(strings.NewReader(nested)); err == nil {
		t.Fatal("a snapshot with an unknown field in a pool was read")
	}
}

// TestSnapshotRecordsCoverTheState: every field of the state's main
// records has its counterpart, with the same JSON name, in the snapshot's
// own records (snapshot_records.go), so no field is left out of snapshots
// by accident.
func TestSnapshotRecordsCoverTheState(t *testing.T) {
	for _, pair := range [][2]any{{Account{}, snapAccount{}}, {Pool{}, snapPool{}}, {Device{}, snapDevice{}}, {Lease{}, snapLease{}}} {
		state, snap := jsonFields(reflect.TypeOf(pair[0])), jsonFields(reflect.TypeOf(pair[1]))
		if !reflect.DeepEqual(state, snap) {
			t.Errorf("%T has JSON fields %v, its snapshot record %T %v", pair[0], state, pair[1], snap)
		}
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		out = append(out, t.Field(i).Name+":"+t.Field(i).Tag.Get("json"))
	}
	return out
}
