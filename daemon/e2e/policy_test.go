package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// accountLeases lists the server's leases of one account.
func accountLeases(s *server, account string) []adminapi.LeaseView {
	var out []adminapi.LeaseView
	for _, l := range s.leases() {
		if l.Account == account {
			out = append(out, l)
		}
	}
	return out
}

func startAgentWith(t *testing.T, s *server, name, tok string, extra ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{t: t, name: name, dir: dir, socket: dir + "/agent.sock", srv: s, token: tok, extra: extra}
	a.start()
	return a
}

// wantFail checks a CLI checkout fails with code.
func wantFail(t *testing.T, r result, code string) {
	t.Helper()
	if r.code == 0 || !strings.Contains(r.stderr, code) {
		t.Fatalf("want a refusal with %s, got exit %d: %s%s", code, r.code, r.stdout, r.stderr)
	}
}

// TestPolicies runs every floating policy and licensing model against one
// tallyd and real agents; each subtest has its own account, so they do not
// interfere. Short TTLs come from testSettings (3s TTL, 500ms heartbeats).
func TestPolicies(t *testing.T) {
	mb := startMailbox(t)
	s := startServer(t, mb.flags(t)...)

	t.Run("PushedWithoutRestartIdleRelease", func(t *testing.T) {
		tok := s.setupAccount("push", "cad", 1)
		a := startAgent(t, s, "push1", tok)
		a.mustCheckout("cad")
		// The agent learns the idle timeout only from a heartbeat answer:
		// it releases the idle lease without any restart.
		out := s.mustCtl("policy", "set", "push", "--idle", "1s", "--heartbeat", "300ms", "--json")
		var v adminapi.PolicyView
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if v.Effective.IdleTimeout.D() != time.Second || v.Effective.HeartbeatInterval.D() != 300*time.Millisecond || v.Effective.LeaseTTL.D() != 3*time.Second {
			t.Fatalf("effective policy %+v", v.Effective)
		}
		eventually(t, 10*time.Second, "the connected agent applies the pushed interval and policy", func() error {
			var st struct {
				Interval protocol.Duration     `json:"heartbeat_interval"`
				Policy   *protocol.AgentPolicy `json:"policy"`
			}
			json.Unmarshal([]byte(a.cli("status", "--json").stdout), &st)
			if st.Interval.D() != 300*time.Millisecond || st.Policy == nil || st.Policy.IdleTimeout.D() != time.Second {
				return fmt.Errorf("agent status %+v", st)
			}
			return nil
		})
		eventually(t, 20*time.Second, "the idle lease is released by the agent", func() error {
			if n := len(accountLeases(s, "push")); n != 0 {
				return fmt.Errorf("%d leases still held", n)
			}
			return nil
		})
		if !strings.Contains(a.proc.out.String(), "releasing lease by policy") {
			t.Fatalf("agent log does not show the idle trigger:\n%s", tail(a.proc.out.String(), 20))
		}
		// Invalid values are refused and change nothing.
		r := s.ctl("policy", "set", "push", "--heartbeat", "1ms")
		if r.code == 0 || !strings.Contains(r.stderr, "invalid_argument") {
			t.Fatalf("a heartbeat of 1ms was accepted: %d %s", r.code, r.stderr)
		}
	})

	t.Run("ReleaseOnProcessExit", func(t *testing.T) {
		tok := s.setupAccount("exit", "cad", 1)
		a := startAgent(t, s, "exit1", tok)
		// The checkout command's process exits at once: the agent releases.
		if r := a.checkout("cad", "--release-on-exit"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		eventually(t, 20*time.Second, "the lease of an exited process is released", func() error {
			if n := len(accountLeases(s, "exit")); n != 0 {
				return fmt.Errorf("%d leases still held", n)
			}
			return nil
		})
		// Without the flag the lease stays.
		a.mustCheckout("cad")
		// Poll ledger time, not the wall clock: once the lease's horizon
		// has moved a second and a half past its first one, the agent has
		// renewed it over several heartbeats and so has kept it.
		ls := accountLeases(s, "exit")
		if len(ls) != 1 {
			t.Fatalf("%d leases after a plain checkout, want 1", len(ls))
		}
		first := ls[0].Expires
		eventually(t, 20*time.Second, "the agent renews the plain checkout's lease", func() error {
			ls := accountLeases(s, "exit")
			if len(ls) != 1 {
				return fmt.Errorf("%d leases after a plain checkout, want 1", len(ls))
			}
			if !ls[0].Expires.After(first.Add(1500 * time.Millisecond)) {
				return fmt.Errorf("horizon %s, first %s", ls[0].Expires, first)
			}
			return nil
		})
		if n := len(accountLeases(s, "exit")); n != 1 {
			t.Fatalf("%d leases after a plain checkout, want 1", n)
		}
	})

	t.Run("AgentStopReleases", func(t *testing.T) {
		tok := s.setupAccount("stop", "cad", 1)
		a := startAgent(t, s, "stop1", tok)
		a.mustCheckout("cad")
		a.proc.term(t)
		if n := len(accountLeases(s, "stop")); n != 0 {
			t.Fatalf("%d leases after the agent stopped", n)
		}
	})

	t.Run("MaxCheckout", func(t *testing.T) {
		tok := s.setupAccount("maxco", "cad", 1)
		s.mustCtl("policy", "set", "maxco", "--pool", "cad", "--max-checkout", "2s")
		a := startAgent(t, s, "maxco1", tok)
		c := claimsOf(t, a.mustCheckout("cad"))
		if d := c.Expires.Sub(c.IssuedAt); d > 2*time.Second+time.Second {
			t.Fatalf("token lives %v past a 2s maximum checkout", d)
		}
		eventually(t, 20*time.Second, "the lease ends at its maximum checkout", func() error {
			if n := len(accountLeases(s, "maxco")); n != 0 {
				return fmt.Errorf("%d leases", n)
			}
			return nil
		})
	})

	t.Run("Linger", func(t *testing.T) {
		tok := s.setupAccount("linger", "cad", 1)
		s.mustCtl("policy", "set", "linger", "--linger", "1m")
		a, b := startAgent(t, s, "linger1", tok), startAgent(t, s, "linger2", tok)
		first := claimsOf(t, a.mustCheckout("cad")).LeaseID
		if r := a.cli("release", "cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		wantFail(t, b.checkout("cad"), "no_seat")
		if again := claimsOf(t, a.mustCheckout("cad")).LeaseID; again != first {
			t.Fatalf("the restarting application got lease %d, not its lingering %d", again, first)
		}
	})

	t.Run("QueueIgnoresClientPriority", func(t *testing.T) {
		tok := s.setupAccount("queue", "cad", 1)
		a, lo, hi := startAgent(t, s, "q1", tok), startAgent(t, s, "q2", tok), startAgent(t, s, "q3", tok)
		a.mustCheckout("cad")
		done := make(chan string, 2)
		wait := func(ag *agent, prio string) {
			r, _ := runE(nil, bin("tally-agent"), "checkout", "cad", "--wait", "30s", "--priority", prio, "--socket", ag.socket)
			done <- ag.name + ":" + fmt.Sprint(r.code)
		}
		go wait(lo, "0")
		eventually(t, 10*time.Second, "q2 waits", func() error {
			if out := s.mustCtl("queue", "--json"); !strings.Contains(out, `"queue"`) {
				return fmt.Errorf("queue: %s", out)
			}
			return nil
		})
		go wait(hi, "5")
		var ws []struct {
			Device   string `json:"device"`
			Position int    `json:"position"`
			Priority int    `json:"priority"`
		}
		// Issue 13 finding 9: the priority a device asks for is not
		// trusted (it would let one jump its account's queue): first come,
		// first served.
		eventually(t, 10*time.Second, "two waiters, in arrival order", func() error {
			if err := json.Unmarshal([]byte(s.mustCtl("queue", "--json")), &ws); err != nil {
				return err
			}
			if len(ws) != 2 || ws[0].Priority != 0 || ws[1].Priority != 0 || ws[0].Position != 1 {
				return fmt.Errorf("queue %+v", ws)
			}
			return nil
		})
		if r := a.cli("release", "cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		select {
		case got := <-done:
			if got != "q2:0" {
				t.Fatalf("first served %s, want q2 (first in line; q3's asked-for priority does not count)", got)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no waiter was served")
		}
		if r := lo.cli("release", "cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		if got := <-done; got != "q3:0" {
			t.Fatalf("second served %s", got)
		}
	})

	t.Run("SoftCapOverageEvent", func(t *testing.T) {
		tok := s.setupAccount("soft", "cad", 10)
		s.mustCtl("policy", "set", "soft", "--pool", "cad", "--overage", "1")
		for i := 1; i <= 11; i++ {
			startAgent(t, s, fmt.Sprintf("soft%d", i), tok).mustCheckout("cad")
		}
		var v adminapi.PolicyView
		json.Unmarshal([]byte(s.mustCtl("policy", "show", "soft", "--pool", "cad", "--json")), &v)
		if v.OverSince.IsZero() {
			t.Fatalf("11 of 10 seats in use, no overage start recorded: %+v", v)
		}
		var ev adminapi.EventsView
		json.Unmarshal([]byte(s.mustCtl("events", "--account", "soft", "--json")), &ev)
		if len(ev.Events) != 1 || ev.Events[0].Kind != "overage_started" || !ev.Events[0].At.Equal(v.OverSince) {
			t.Fatalf("events %+v", ev)
		}
		a12 := startAgent(t, s, "soft12", tok)
		wantFail(t, a12.checkout("cad"), "no_seat") // seats + overage reached

		// The administrator hears about it by mail, with the day grants stop.
		s.mustCtl("users", "admin-email", "soft", "it@soft.test")
		eventually(t, 20*time.Second, "the soft-cap reminder is mailed", func() error {
			if n := len(mb.to("it@soft.test")); n != 1 {
				return fmt.Errorf("%d mails", n)
			}
			return nil
		})
		m := mb.to("it@soft.test")[0].data
		stop := v.OverSince.Add(30 * 24 * time.Hour).UTC().Format("Monday 2 January 2006 at 15:04 UTC")
		if !strings.Contains(m, "Subject: Tally: soft is over its purchased seats") || !strings.Contains(m, "cad: 11 in use of 10 purchased") ||
			!strings.Contains(m, "the 30-day grace ends on "+stop) || !strings.Contains(m, "no new seat of cad is granted while 10 or more are in use") {
			t.Fatalf("soft-cap reminder:\n%s", m)
		}
	})

	t.Run("ReservationsTeamCapsAndLists", func(t *testing.T) {
		// The rules apply to the member signed in on the device and the
		// teams they are in, never to a name the checkout carries.
		members := []string{"mallory@resv.test", "ann@resv.test", "bob@resv.test", "carl@resv.test", "vip@resv.test"}
		tok := memberAccount(s, "resv", "cad", 4, members...)
		s.mustCtl("teams", "create", "resv", "ops")
		s.mustCtl("teams", "add", "resv", "ops", "ann@resv.test")
		s.mustCtl("teams", "add", "resv", "ops", "bob@resv.test")
		s.mustCtl("policy", "set", "resv", "--pool", "cad", "--reserve", "user:vip@resv.test=1", "--team-cap", "ops=1", "--deny", "user:mallory@resv.test")
		a, b, c := startAgent(t, s, "r1", tok), startAgent(t, s, "r2", tok), startAgent(t, s, "r3", tok)
		a.mustLogin(nil, "mallory@resv.test", passwordOf("mallory@resv.test"))
		wantFail(t, a.checkout("cad"), "policy_denied")
		a.mustLogin(nil, "ann@resv.test", passwordOf("ann@resv.test"))
		if r := a.checkout("cad", "--team", "ops"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		// bob is in ops too: leaving out --team does not dodge its cap.
		b.mustLogin(nil, "bob@resv.test", passwordOf("bob@resv.test"))
		wantFail(t, b.checkout("cad", "--team", "ops"), "team_cap_reached")
		wantFail(t, b.checkout("cad"), "team_cap_reached")
		b.mustLogin(nil, "carl@resv.test", passwordOf("carl@resv.test"))
		if r := b.checkout("cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		// Two seats left (mallory's refusal took none), one reserved for vip:
		// carl on another device takes the last free one; then only vip,
		// signed in, gets a seat, and naming vip takes nothing.
		c.mustLogin(nil, "carl@resv.test", passwordOf("carl@resv.test"))
		if r := c.checkout("cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		wantFail(t, c.checkout("cad", "--user", "vip@resv.test"), "invalid_argument")
		d := startAgent(t, s, "r4", tok)
		d.mustLogin(nil, "carl@resv.test", passwordOf("carl@resv.test"))
		wantFail(t, d.checkout("cad"), "no_seat")
		d.mustLogin(nil, "vip@resv.test", passwordOf("vip@resv.test"))
		if r := d.checkout("cad"); r.code != 0 {
			t.Fatalf("the reserved member was refused: %s", r.stderr)
		}
	})

	t.Run("Borrowing", func(t *testing.T) {
		tok := s.setupAccount("borrow", "cad", 1)
		a, b := startAgent(t, s, "b1", tok), startAgent(t, s, "b2", tok)
		wantFail(t, a.checkout("cad", "--borrow", "24h"), "policy_denied")
		s.mustCtl("policy", "set", "borrow", "--pool", "cad", "--borrow-days", "2")
		wantFail(t, a.checkout("cad", "--borrow", "72h"), "invalid_argument")
		c := claimsOf(t, a.mustCheckoutArgs("cad", "--borrow", "36h"))
		if c.Kind != lease.KindBorrowed || c.Expires.Sub(c.IssuedAt) < 35*time.Hour {
			t.Fatalf("borrowed token: kind %s, lives %v", c.Kind, c.Expires.Sub(c.IssuedAt))
		}
		wantFail(t, b.checkout("cad"), "no_seat") // a borrowed seat counts
		if r := a.cli("release", "cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		b.mustCheckout("cad") // early return freed it
	})

	t.Run("StandardModelNodeLocked", func(t *testing.T) {
		s.mustCtl("accounts", "create", "std", "--model", "standard")
		s.mustCtl("pools", "set-seats", "std", "cad", "1")
		tok := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "std", "--uses", "100"))
		a, b := startAgent(t, s, "std1", tok), startAgent(t, s, "std2", tok)
		c := claimsOf(t, a.mustCheckout("cad"))
		if c.Kind != lease.KindNodeLocked {
			t.Fatalf("kind %s in a standard account", c.Kind)
		}
		if r := a.cli("release", "cad"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		wantFail(t, b.checkout("cad"), "no_seat") // the seat stays with a's device
		var bs struct {
			DeviceCode string `json:"device_code"`
		}
		json.Unmarshal([]byte(b.cli("status", "--json").stdout), &bs)
		s.mustCtl("devices", "move", "std", c.Device, bs.DeviceCode)
		if got := claimsOf(t, b.mustCheckout("cad")); got.LeaseID != c.LeaseID || got.Device != bs.DeviceCode {
			t.Fatalf("after the move b got %+v", got)
		}
	})

	t.Run("MixedModel", func(t *testing.T) {
		s.mustCtl("accounts", "create", "mix", "--model", "mixed")
		s.mustCtl("pools", "set-seats", "mix", "cad", "2")
		s.mustCtl("policy", "set", "mix", "--pool", "cad", "--node-locked", "1")
		tok := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "mix", "--uses", "100"))
		a, b := startAgent(t, s, "mix1", tok), startAgent(t, s, "mix2", tok)
		if k := claimsOf(t, a.mustCheckout("cad")).Kind; k != lease.KindNodeLocked {
			t.Fatalf("first seat %s, want node-locked", k)
		}
		if k := claimsOf(t, b.mustCheckout("cad")).Kind; k != lease.KindFloating {
			t.Fatalf("second seat %s, want floating", k)
		}
	})

	t.Run("SubscriptionEnd", func(t *testing.T) {
		tok := s.setupAccount("subs", "cad", 2)
		end := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second)
		s.mustCtl("policy", "set", "subs", "--subscription-end", end.Format(time.RFC3339))
		s.mustCtl("policy", "set", "subs", "--pool", "cad", "--lease-ttl", "1h")
		a := startAgent(t, s, "subs1", tok)
		if c := claimsOf(t, a.mustCheckout("cad")); c.Expires.After(end) {
			t.Fatalf("token expires %v after the subscription end %v", c.Expires, end)
		}
		// Wait on the server's clock, which stamps every ledger command,
		// not on this process's.
		eventually(t, 30*time.Second, "the server's clock passes the subscription end", func() error {
			var st adminapi.StatusResponse
			if err := s.api(http.MethodGet, "/v1/status", nil, &st); err != nil {
				return err
			}
			if !st.ServerTime.After(end) {
				return fmt.Errorf("server time %s, subscription ends %s", st.ServerTime, end)
			}
			return nil
		})
		b := startAgent(t, s, "subs2", tok)
		wantFail(t, b.checkout("cad"), "subscription_expired")
	})

	t.Run("SameDeviceCodeInTwoAccounts", func(t *testing.T) {
		tokA := s.setupAccount("twoa", "cad", 1)
		tokB := s.setupAccount("twob", "cad", 1)
		a := startAgentWith(t, s, "same-a", tokA, "--device-code", "ABCD-EFGH-JK12")
		b := startAgentWith(t, s, "same-b", tokB, "--device-code", "ABCD-EFGH-JK12")
		ca, cb := claimsOf(t, a.mustCheckout("cad")), claimsOf(t, b.mustCheckout("cad"))
		if ca.Device != "ABCD-EFGH-JK12" || cb.Device != "ABCD-EFGH-JK12" || ca.Account == cb.Account || ca.LeaseID == cb.LeaseID {
			t.Fatalf("claims %+v / %+v", ca, cb)
		}
		var ds []struct {
			Account string `json:"account"`
			Code    string `json:"code"`
		}
		if err := s.api(http.MethodGet, "/v1/devices", nil, &ds); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if d.Code == "ABCD-EFGH-JK12" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d devices with code ABCD-EFGH-JK12, want 2 (one per account)", n)
		}
	})
}

func (a *agent) mustCheckoutArgs(feature string, extra ...string) string {
	a.t.Helper()
	r := a.checkout(feature, extra...)
	if r.code != 0 {
		a.t.Fatalf("%s checkout %s %v: exit %d: %s", a.name, feature, extra, r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}
