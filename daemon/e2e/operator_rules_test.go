package e2e

import (
	"net/http"
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

// TestCreateAccountWithAdminMember: `accounts create --admin-member` makes
// the administrator address an Owner member holding one of the account's
// seats, in one command; without a usable address nothing is created.
func TestCreateAccountWithAdminMember(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme", "--admin-email", "Boss@Acme.test", "--admin-member", "--member-seats", "3")
	var boss ledger.UserView
	mustJSON(t, s.mustCtl("users", "show", "acme", "boss@acme.test", "--json"), &boss)
	if boss.Role != ledger.RoleOwner || boss.Status != "active" || !boss.ConsumesSeat {
		t.Fatalf("the administrator as a member: %+v", boss)
	}
	if u := s.usage("acme"); u.Purchased != 3 || u.Active != 1 || !u.AdminHoldsSeat {
		t.Fatalf("usage: %+v", u)
	}
	r := s.ctl("accounts", "create", "beta", "--admin-member")
	if r.code == 0 || !strings.Contains(r.stderr, "not an email address") {
		t.Fatalf("--admin-member without an address: exit %d %s", r.code, r.stderr)
	}
	if err := s.api(http.MethodGet, "/v1/accounts/beta", nil, nil); err == nil || !strings.Contains(err.Error(), "unknown_account") {
		t.Fatalf("a refused creation left account beta: %v", err)
	}
	if r := s.ctl("accounts", "create", "gamma", "--member-seats", "2"); r.code == 0 || !strings.Contains(r.stderr, "admin_member") {
		t.Fatalf("--member-seats alone: exit %d %s", r.code, r.stderr)
	}
}
