package e2e

import (
	"strings"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// TestTerminateAssignedNeedsForce: through tallyctl and a real node,
// terminating a license someone holds is refused without --force, naming
// who would lose it, and changes nothing; a free license needs no --force.
func TestTerminateAssignedNeedsForce(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "phone", 5)
	s.addMembers("acme", "ann@acme.test")
	s.mustCtl("products", "set", "acme", "phone_system", "2", "--extension")
	var v ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "assign", "phone_system", "ann@acme.test", "--account", "acme", "--ext", "101", "--json"), &v)

	r := s.ctl("licenses", "terminate", v.ID)
	if r.code == 0 {
		t.Fatalf("terminate of an assigned license without --force succeeded:\n%s", r.stdout)
	}
	for _, want := range []string{"confirmation_required", "assigned to ann@acme.test", "extension 101", "--force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	var still ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "show", v.ID, "--json"), &still)
	if still.User != "ann@acme.test" {
		t.Fatalf("a refused terminate changed the license: %+v", still)
	}
	if out := s.mustCtl("licenses", "terminate", v.ID, "--force"); !strings.Contains(out, "terminated phone_system license "+v.ID) {
		t.Fatalf("terminate --force: %s", out)
	}
	var free []ledger.LicenseView
	mustJSON(t, s.mustCtl("licenses", "list", "--account", "acme", "--type", "phone_system", "--json"), &free)
	if len(free) != 1 || free[0].User != "" {
		t.Fatalf("licenses left: %+v", free)
	}
	if out := s.mustCtl("licenses", "terminate", free[0].ID); !strings.Contains(out, "terminated") {
		t.Fatalf("terminate of a free license: %s", out)
	}
}

// TestOverageRefusedUnderTenSeats: `policy set --overage` on a pool of
// fewer than 10 seats is refused with the rule instead of being stored and
// ignored; on a pool of 10 it is accepted.
func TestOverageRefusedUnderTenSeats(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "small", 5)
	s.mustCtl("pools", "set-seats", "acme", "big", "10")
	r := s.ctl("policy", "set", "acme", "--pool", "small", "--overage", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "under 10 seats has a hard cap") || !strings.Contains(r.stderr, "acme/small has 5 seats") {
		t.Fatalf("overage on a 5-seat pool: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := s.mustCtl("policy", "show", "acme", "--pool", "small"); strings.Contains(out, "overage\t2") || strings.Contains(out, "overage 2") {
		t.Fatalf("the refused overage was stored:\n%s", out)
	}
	s.mustCtl("policy", "set", "acme", "--pool", "big", "--overage", "2")
}
