package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// addMembers makes emails members of account (raising its seats to fit),
// since named licenses go to members only.
func (s *server) addMembers(account string, emails ...string) {
	s.t.Helper()
	var u ledger.MemberUsage
	// The leader's view: s may be a follower that has not applied the account yet.
	if err := s.api(http.MethodGet, "/v1/accounts/"+account+"/usage?consistent=true", nil, &u); err != nil {
		s.t.Fatal(err)
	}
	n := u.Purchased + len(emails)
	if err := s.api(http.MethodPut, "/v1/accounts/"+account+"/seats", adminapi.MemberRequest{Seats: &n}, nil); err != nil {
		s.t.Fatal(err)
	}
	if err := s.api(http.MethodPost, "/v1/accounts/"+account+"/users/bulk", adminapi.MemberRequest{Emails: emails}, nil); err != nil {
		s.t.Fatal(err)
	}
}

func bigUsers() []string {
	out := make([]string, 10_000)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@big.test", i)
	}
	return out
}

func (s *server) usage(account string) ledger.MemberUsage {
	s.t.Helper()
	var u ledger.MemberUsage
	mustJSON(s.t, s.mustCtl("usage", account, "--json"), &u)
	return u
}

// ctlFails runs tallyctl, wants exit 1 and every want in stderr.
func (s *server) ctlFails(want []string, args ...string) {
	s.t.Helper()
	r := s.ctl(args...)
	if r.code != 1 {
		s.t.Fatalf("tallyctl %v: exit %d, want 1\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			s.t.Fatalf("tallyctl %v: stderr lacks %q:\n%s", args, w, r.stderr)
		}
	}
}

// TestMembersSeatsTeamsInvitations walks the members side with real tallyd
// and tallyctl processes: seats with a hard cap, users and roles, argon2id
// sign-in, teams (one seat per member, unassigned, delete returns the seat),
// invitations (pending, accept, cancel, expiry reaped by the leader), seat
// counts refused below use, licenses refused to assistants and unknown users
// in a CSV, and tallyctl usage.
func TestMembersSeatsTeamsInvitations(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "phone", 5)
	s.mustCtl("seats", "set", "acme", "3")
	s.mustCtl("users", "admin-email", "acme", "it-admins@acme.test")

	// Users: unique email ignoring case, argon2id password, roles.
	s.mustCtl("users", "add", "acme", "Ann@Acme.test", "--role", "owner", "--password", "correct horse")
	s.ctlFails([]string{"already_exists", "ann@acme.test already exists"}, "users", "add", "acme", "ANN@acme.test")
	var in adminapi.SignInResponse
	mustJSON(t, s.mustCtl("users", "signin", "acme", "ann@ACME.test", "--password", "correct horse", "--json"), &in)
	if in.User.Email != "ann@acme.test" || in.User.Role != ledger.RoleOwner {
		t.Fatalf("sign-in: %+v", in)
	}
	s.ctlFails([]string{"unauthorized", "wrong email or password"}, "users", "signin", "acme", "ann@acme.test", "--password", "wrong horse")
	s.mustCtl("users", "add", "acme", "asa@acme.test", "--role", "administrator_assistant")
	s.mustCtl("users", "add", "acme", "ast@acme.test", "--role", "assistant")

	// Teams: ann in two teams holds one seat.
	s.mustCtl("teams", "create", "acme", "sales")
	s.mustCtl("teams", "create", "acme", "support")
	s.mustCtl("teams", "add", "acme", "sales", "ann@acme.test")
	s.mustCtl("teams", "add", "acme", "support", "ann@acme.test")
	if u := s.usage("acme"); u.Active != 1 || u.NonConsuming != 2 || u.Unused != 2 || u.AdminHoldsSeat || len(u.Teams) != 2 || u.Teams[0].Seats != 1 || u.Teams[1].Seats != 1 {
		t.Fatalf("one seat for a member of two teams, none for assistants or the admin address: %+v", u)
	}

	// Invitations: a pending invitation holds a seat; the hard cap refuses
	// the fourth seat clearly.
	s.mustCtl("invitations", "send", "acme", "bob@acme.test", "--team", "sales")
	s.mustCtl("invitations", "send", "acme", "cid@acme.test", "--expires-in", "2s")
	s.ctlFails([]string{"no_seat", "account acme is full: 3 of 3 seats in use (1 active, 2 pending)"}, "invitations", "send", "acme", "dan@acme.test")
	s.ctlFails([]string{"seats_in_use", "cannot lower account acme to 2 seats: 3 in use (1 active, 2 pending)"}, "seats", "set", "acme", "2")
	var bob ledger.MembersResult
	mustJSON(t, s.mustCtl("invitations", "accept", "acme", "bob@acme.test", "--password", "bobs password", "--json"), &bob)
	if bob.User == nil || bob.User.Status != ledger.StatusActive || !bob.User.HasPassword {
		t.Fatalf("accepted: %+v", bob)
	}
	// cid's invitation expires; the leader reaps it and frees the seat.
	eventually(t, 15*time.Second, "the leader expires cid's invitation", func() error {
		if u := s.usage("acme"); u.Pending != 0 || u.Unused != 1 {
			return fmt.Errorf("usage %+v", u)
		}
		return nil
	})
	s.mustCtl("invitations", "send", "acme", "dan@acme.test")
	s.mustCtl("invitations", "cancel", "acme", "dan@acme.test")
	if u := s.usage("acme"); u.Pending != 0 || u.Active != 2 || u.Unused != 1 {
		t.Fatalf("cancel frees the seat: %+v", u)
	}

	// Removed from every team: unassigned, still holding the seat; deleting
	// the user returns it.
	s.mustCtl("teams", "remove", "acme", "sales", "bob@acme.test")
	var bv ledger.UserView
	mustJSON(t, s.mustCtl("users", "show", "acme", "bob@acme.test", "--json"), &bv)
	if bv.Status != ledger.StatusUnassigned {
		t.Fatalf("bob out of every team: %+v", bv)
	}
	if u := s.usage("acme"); u.Active != 2 || u.Unassigned != 1 {
		t.Fatalf("unassigned holds a seat: %+v", u)
	}
	s.mustCtl("users", "delete", "acme", "bob@acme.test")
	if u := s.usage("acme"); u.Active != 1 || u.Unused != 2 {
		t.Fatalf("deleted user returns the seat: %+v", u)
	}

	// Licenses: assistants cannot hold one; CSV rows naming unknown users fail.
	s.mustCtl("products", "set", "acme", "developer", "2")
	s.ctlFails([]string{"not_allowed", "cannot be a participating member"}, "licenses", "assign", "developer", "ast@acme.test", "--account", "acme")
	s.mustCtl("licenses", "assign", "developer", "ann@acme.test", "--account", "acme")
	s.ctlFails([]string{"not_allowed", "holds license"}, "users", "set-role", "acme", "ann@acme.test", "assistant")

	// Raising seats any time; a role change into a seat needs one.
	s.mustCtl("seats", "set", "acme", "5")
	s.mustCtl("users", "set-role", "acme", "ast@acme.test", "member")
	out := s.mustCtl("usage", "acme")
	for _, w := range []string{"acme: 5 seats purchased (hard cap)", "active 2 (unassigned 0)  pending 0  unused 3", "█", "░", "administrator address it-admins@acme.test (holds no seat)", "sales", "support"} {
		if !strings.Contains(out, w) {
			t.Fatalf("usage lacks %q:\n%s", w, out)
		}
	}
	var users []ledger.UserView
	mustJSON(t, s.mustCtl("users", "list", "acme", "--team", "support", "--json"), &users)
	if len(users) != 1 || users[0].Email != "ann@acme.test" {
		t.Fatalf("support team: %+v", users)
	}
}

// TestMembersActivationPolicyAndSoftCap: a real agent activates users over
// QUIC under a domain policy and a list policy; a full hard-capped account
// refuses, a removed user re-joins; from 10 seats members may go over and
// usage shows the overage.
func TestMembersActivationPolicyAndSoftCap(t *testing.T) {
	s := startServer(t)
	enroll := s.setupAccount("acme", "phone", 5)
	ag := startAgent(t, s, "a1", enroll)
	s.mustCtl("seats", "set", "acme", "2")
	if r := ag.cli("activate", "--email", "ann@acme.test"); r.code != 1 || !strings.Contains(r.stderr, "not_allowed") || !strings.Contains(r.stderr, "no seat assignment policy") {
		t.Fatalf("activation without a policy: exit %d %s", r.code, r.stderr)
	}
	s.mustCtl("seats", "policy", "acme", "--domain", "acme.test")
	r := ag.cli("activate", "--email", "ann@acme.test", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"joined": true`) {
		t.Fatalf("domain activation: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := ag.cli("activate", "--email", "eve@evil.test"); r.code != 1 || !strings.Contains(r.stderr, "not in domain acme.test") {
		t.Fatalf("other domain: exit %d %s", r.code, r.stderr)
	}
	if r := ag.cli("activate", "--email", "bob@acme.test"); r.code != 0 || !strings.Contains(r.stdout, "bob@acme.test joined acme") {
		t.Fatalf("bob: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := ag.cli("activate", "--email", "cid@acme.test"); r.code != 1 || !strings.Contains(r.stderr, "no_seat") || !strings.Contains(r.stderr, "2 of 2 seats") {
		t.Fatalf("full account: exit %d %s", r.code, r.stderr)
	}
	// A removed user re-joins by activating again.
	s.mustCtl("users", "delete", "acme", "bob@acme.test")
	if r := ag.cli("activate", "--email", "bob@acme.test"); r.code != 0 || !strings.Contains(r.stdout, "joined") {
		t.Fatalf("re-join: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	// A list admits only listed users.
	s.mustCtl("seats", "set", "acme", "10")
	s.mustCtl("seats", "policy", "acme", "--emails", "dan@acme.test")
	if r := ag.cli("activate", "--email", "cid@acme.test"); r.code != 1 || !strings.Contains(r.stderr, "not on the seat list") {
		t.Fatalf("unlisted: exit %d %s", r.code, r.stderr)
	}
	if r := ag.cli("activate", "--email", "dan@acme.test"); r.code != 0 {
		t.Fatalf("listed: exit %d %s", r.code, r.stderr)
	}
	// Soft cap from 10 seats: an 11th member is admitted and the overage recorded.
	var more []string
	for i := 0; i < 8; i++ {
		more = append(more, fmt.Sprintf("m%d@acme.test", i))
	}
	s.mustCtl(append([]string{"users", "add", "acme"}, more...)...)
	u := s.usage("acme")
	if u.Active != 11 || u.Over != 1 || u.OverSince.IsZero() || u.HardCap {
		t.Fatalf("soft cap overage: %+v", u)
	}
	if out := s.mustCtl("usage", "acme"); !strings.Contains(out, "OVER by 1 since") || !strings.Contains(out, "!") {
		t.Fatalf("usage does not show the overage:\n%s", out)
	}
}

// TestSubscriptionPlansAndRenewal: team members share one plan (a split is
// refused), and the leader renews at the period end: shrink-to-allocated
// lowers the seats to active + pending, visible in tallyctl usage.
func TestSubscriptionPlansAndRenewal(t *testing.T) {
	s := startServer(t)
	s.setupAccount("acme", "phone", 5)
	s.mustCtl("seats", "set", "acme", "6")
	s.mustCtl("subscription", "set", "acme", "--plan", "pro", "--end", "720h", "--renewal", "keep-seats")
	s.mustCtl("teams", "create", "acme", "sales")
	s.mustCtl("users", "add", "acme", "ann@acme.test", "--team", "sales")
	s.mustCtl("users", "add", "acme", "bob@acme.test", "--team", "sales")
	s.mustCtl("invitations", "send", "acme", "cid@acme.test")
	s.ctlFails([]string{"not_allowed", "team sales would be split"}, "users", "set-plan", "acme", "ann@acme.test", "enterprise")
	s.mustCtl("teams", "set-plan", "acme", "sales", "enterprise")
	var users []ledger.UserView
	mustJSON(t, s.mustCtl("users", "list", "acme", "--team", "sales", "--json"), &users)
	if len(users) != 2 || users[0].Plan != "enterprise" || users[1].Plan != "enterprise" {
		t.Fatalf("team plan: %+v", users)
	}
	s.ctlFails([]string{"not due"}, "subscription", "renew", "acme")

	// A period ending in 2s with shrink-to-allocated: the leader renews it.
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	s.mustCtl("subscription", "set", "acme", "--start", start.Format(time.RFC3339), "--end", "2s", "--renewal", "shrink-to-allocated")
	eventually(t, 20*time.Second, "the leader renews the subscription", func() error {
		if u := s.usage("acme"); u.LastRenewal == nil {
			return fmt.Errorf("not renewed yet: %+v", u.Subscription)
		}
		return nil
	})
	u := s.usage("acme")
	if u.Purchased != 3 || u.Active != 2 || u.Pending != 1 || u.Unused != 0 || u.LastRenewal.SeatsBefore != 6 || u.LastRenewal.SeatsAfter != 3 || !u.Subscription.End.After(time.Now()) {
		t.Fatalf("after renewal: %+v %+v", u, u.LastRenewal)
	}
	if out := s.mustCtl("usage", "acme"); !strings.Contains(out, "last renewal") || !strings.Contains(out, "shrink-to-allocated): seats 6 -> 3") {
		t.Fatalf("usage after renewal:\n%s", out)
	}
}
