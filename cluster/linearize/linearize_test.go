package linearize

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// op builds a history element; ret < 0 means pending.
func op(client int, in Input, call, ret int64, out Output) porcupine.Operation {
	if ret < 0 {
		ret = math.MaxInt64
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func co(dev int) Input                  { return Input{Kind: Checkout, Device: dev} }
func rel(dev int, id uint64) Input      { return Input{Kind: Release, Device: dev, Lease: id} }
func ren(dev int, id uint64) Input      { return Input{Kind: Renew, Device: dev, Lease: id} }
func granted(id uint64) Output          { return Output{Outcome: OK, Lease: id} }
func refused(code protocol.Code) Output { return Output{Outcome: Refused, Code: string(code)} }

var (
	ok      = Output{Outcome: OK}
	unknown = Output{Outcome: Unknown}
)

func TestSeatModel(t *testing.T) {
	cases := []struct {
		name  string
		seats int
		ops   []porcupine.Operation
		want  bool
	}{
		{"sequential grant, refuse, release, grant", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(1, co(1), 2, 3, refused(protocol.CodeNoSeat)),
			op(0, ren(0, 1), 4, 5, ok),
			op(0, rel(0, 1), 6, 7, ok),
			op(1, co(1), 8, 9, granted(2)),
		}, true},
		{"over-grant", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(1, co(1), 2, 3, granted(2)),
		}, false},
		{"concurrent race for the last seat", 1, []porcupine.Operation{
			op(0, co(0), 0, 10, granted(1)),
			op(1, co(1), 1, 9, refused(protocol.CodeNoSeat)),
		}, true},
		{"refusal with a free seat", 2, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(1, co(1), 2, 3, refused(protocol.CodeNoSeat)),
		}, false},
		{"release twice", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, rel(0, 1), 2, 3, ok),
			op(0, rel(0, 1), 4, 5, ok),
		}, false},
		{"S5: release of another device's lease succeeds", 2, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(1, rel(1, 1), 2, 3, ok),
		}, false},
		{"S5: stale release refused", 2, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(1, rel(1, 1), 2, 3, refused(protocol.CodeNotHolder)),
			op(0, rel(0, 1), 4, 5, ok),
			op(0, rel(0, 1), 6, 7, refused(protocol.CodeLeaseNotFound)),
		}, true},
		{"fencing ID reused", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(5)),
			op(0, rel(0, 5), 2, 3, ok),
			op(1, co(1), 4, 5, granted(5)),
		}, false},
		{"asking again returns the held lease", 2, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, co(0), 2, 3, granted(1)),
		}, true},
		{"asking again must not grant a second lease", 2, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, co(0), 2, 3, granted(2)),
		}, false},
		{"lost grant revealed by asking again", 1, []porcupine.Operation{
			op(0, co(0), 0, -1, unknown),
			op(0, co(0), 5, 6, granted(1)),
			op(1, co(1), 7, 8, refused(protocol.CodeNoSeat)),
		}, true},
		{"lost grant that never happened", 1, []porcupine.Operation{
			op(0, co(0), 0, -1, unknown),
			op(1, co(1), 5, 6, granted(1)),
		}, true},
		{"lost release that happened", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, rel(0, 1), 2, -1, unknown),
			op(1, co(1), 5, 6, granted(2)),
		}, true},
		{"lost release cannot free a seat twice", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, rel(0, 1), 2, -1, unknown),
			op(1, co(1), 5, 6, granted(2)),
			op(0, ren(0, 1), 7, 8, ok),
		}, false},
		{"renew refused while held", 1, []porcupine.Operation{
			op(0, co(0), 0, 1, granted(1)),
			op(0, ren(0, 1), 2, 3, refused(protocol.CodeLeaseNotFound)),
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := SeatModel(tc.seats, 4)
			if got := porcupine.CheckOperations(m, tc.ops); got != tc.want {
				t.Fatalf("linearizable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckWritesVisualization(t *testing.T) {
	dir := t.TempDir()
	m := SeatModel(1, 2)
	res, err := Check(m, []porcupine.Operation{
		op(0, co(0), 0, 1, granted(1)),
		op(1, co(1), 2, 3, granted(2)),
	}, 10*time.Second, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != porcupine.Illegal || res.Visualization == "" {
		t.Fatalf("got %+v, want Illegal with a visualization", res)
	}
}

func TestRecorderPending(t *testing.T) {
	r := NewRecorder()
	c := r.Now()
	r.Record(0, co(0), c, granted(1))
	r.Record(1, co(1), r.Now(), unknown)
	ops := r.Operations()
	if len(ops) != 2 || ops[0].Return < ops[0].Call || ops[1].Return != math.MaxInt64 {
		t.Fatalf("ops %+v", ops)
	}
	if !porcupine.CheckOperations(SeatModel(1, 2), ops) {
		t.Fatal("a pending checkout after a grant must be linearizable (as never happened)")
	}
}

func TestMaxHeld(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ivs := []Interval{
		{Lease: 1, Start: at(0), End: at(10)},
		{Lease: 2, Start: at(10), End: at(20)}, // starts as 1 ends: not concurrent
		{Lease: 3, Start: at(5), End: at(12)},
		{Lease: 4, Start: at(11)}, // open
	}
	n, when, leases := MaxHeld(ivs)
	if n != 3 || !when.Equal(at(11)) || len(leases) != 3 || leases[0] != 2 || leases[1] != 3 || leases[2] != 4 {
		t.Fatalf("MaxHeld = %d at %v %v", n, when, leases)
	}
}

// TestAudit feeds the auditor a hand-made log with each kind of violation.
func TestAudit(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	settings := ledger.Settings{LeaseTTL: 10 * time.Second, HeartbeatInterval: time.Second, MaxSkew: 2 * time.Second}
	prelude := func() []ledger.Command {
		return []ledger.Command{
			{Type: ledger.CmdBootstrap, Payload: &ledger.Bootstrap{ClusterID: "c", Settings: settings}},
			{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "a"}},
			{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: "a", Feature: "f", Seats: 1}},
			{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{ID: "et", Account: "a", Hash: "h", Expires: sec(3600)}},
			{Type: ledger.CmdEnrollDevice, Payload: &ledger.EnrollDevice{Account: "a", TokenID: "et", Code: "d0", KeyFingerprint: "k"}},
			{Type: ledger.CmdEnrollDevice, Payload: &ledger.EnrollDevice{Account: "a", TokenID: "et", Code: "d1", KeyFingerprint: "k"}},
		}
	}
	checkout := func(dev string, s int) ledger.Command {
		return ledger.Command{Type: ledger.CmdCheckout, Now: sec(s), Payload: &ledger.Checkout{Account: "a", Device: dev, Feature: "f"}}
	}
	// run applies cmds to a real ledger, so the results are genuine, then
	// lets tamper change them before the audit.
	run := func(cmds []ledger.Command, tamper func([]Entry)) Report {
		st := ledger.New()
		var es []Entry
		for i, c := range cmds {
			if c.Now.IsZero() {
				c.Now = t0
			}
			es = append(es, Entry{Index: uint64(i + 1), Cmd: c, Res: st.Apply(uint64(i+1), &c)})
		}
		if tamper != nil {
			tamper(es)
		}
		return Audit(es)
	}

	// A clean history: grant, refuse, expire and reclaim, release.
	clean := append(prelude(),
		checkout("d0", 1),
		checkout("d1", 5),  // no_seat: d0's horizon is 11, +2 skew
		checkout("d1", 13), // reclaims d0's lease, grants d1
		ledger.Command{Type: ledger.CmdRelease, Now: sec(14), Payload: &ledger.Release{Account: "a", Device: "d0", LeaseID: 1}}, // stale
		ledger.Command{Type: ledger.CmdRelease, Now: sec(15), Payload: &ledger.Release{Account: "a", Device: "d1", LeaseID: 2}},
	)
	r := run(clean, nil)
	if len(r.Violations) != 0 {
		t.Fatalf("clean log: %v", r.Violations)
	}
	if r.Grants != 2 || r.NoSeat != 1 || r.Reclaims != 1 || r.Releases != 1 || len(r.Live) != 0 {
		t.Fatalf("clean log counts: %+v", r)
	}
	if n, _, _ := MaxHeld(r.Intervals[PoolKey{"a", "f"}]); n != 1 {
		t.Fatalf("clean log MaxHeld %d", n)
	}

	// Over-grant: the second grant's result is forged into a success.
	r = run(append(prelude(), checkout("d0", 1), checkout("d1", 2)), func(es []Entry) {
		last := &es[len(es)-1]
		last.Res = ledger.Result{Lease: &ledger.Lease{ID: 2, Account: "a", Feature: "f", Device: "d1", Since: sec(2), Horizon: sec(12)}}
	})
	if !hasViolation(r, "S1") {
		t.Fatalf("over-grant not reported: %v", r.Violations)
	}
	if n, _, _ := MaxHeld(r.Intervals[PoolKey{"a", "f"}]); n != 2 {
		t.Fatalf("over-grant MaxHeld %d", n)
	}

	// Early reclaim: the checkout at 5 is forged to reclaim d0's lease.
	r = run(append(prelude(), checkout("d0", 1), checkout("d1", 5)), func(es []Entry) {
		last := &es[len(es)-1]
		last.Res = ledger.Result{
			Lease: &ledger.Lease{ID: 2, Account: "a", Feature: "f", Device: "d1", Since: sec(5), Horizon: sec(15)},
			Ended: []ledger.EndedLease{{ID: 1, Account: "a", Feature: "f", Device: "d0", Reason: ledger.EndExpired, At: sec(5)}},
		}
	})
	if !hasViolation(r, "S3") {
		t.Fatalf("early reclaim not reported: %v", r.Violations)
	}

	// Stale release forged into a success.
	r = run(append(prelude(), checkout("d0", 1),
		ledger.Command{Type: ledger.CmdRelease, Now: sec(2), Payload: &ledger.Release{Account: "a", Device: "d1", LeaseID: 1}}), func(es []Entry) {
		last := &es[len(es)-1]
		last.Res = ledger.Result{Ended: []ledger.EndedLease{{ID: 1, Account: "a", Feature: "f", Device: "d0", Reason: ledger.EndReleased, At: sec(2)}}}
	})
	if !hasViolation(r, "S5") {
		t.Fatalf("stale release not reported: %v", r.Violations)
	}

	// Time running backwards along the log is counted, not a violation.
	r = run(append(prelude(), checkout("d0", 10), checkout("d1", 9)), nil)
	if r.NowInversions != 1 || len(r.Violations) != 0 {
		t.Fatalf("inversions %d violations %v", r.NowInversions, r.Violations)
	}
}

func hasViolation(r Report, prefix string) bool {
	for _, v := range r.Violations {
		if strings.Contains(v, prefix) {
			return true
		}
	}
	return false
}
