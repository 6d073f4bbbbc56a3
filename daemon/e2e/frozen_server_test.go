package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/client"
)

// TestReleaseOutlastsAFrozenServer freezes the only tallyd (SIGSTOP) while
// an agent releases its seat, for longer than the agent's liveness window,
// then lets it run again (SIGCONT): the release succeeds once the server
// answers, the seat is free, and another device gets it. A frozen or
// starved server is not a dead one to give up on when there is nowhere
// else to go (issue 16: 40,088 of 50,000 releases failed against a busy
// tallyd).
func TestReleaseOutlastsAFrozenServer(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	a, b := startAgent(t, s, "a", tok), startAgent(t, s, "b", tok)
	a.mustCheckout("cad")
	if len(s.leases()) != 1 {
		t.Fatalf("leases before the freeze: %+v", s.leases())
	}

	if err := s.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := s.proc.Cont(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(thaw)
	done := make(chan result, 1)
	go func() {
		r, err := runE(nil, bin("tally-agent"), "release", "cad", "--socket", a.socket)
		if err != nil {
			r = result{code: -1, stderr: err.Error()}
		}
		done <- r
	}()
	// Frozen for longer than a liveness probe's window after the
	// request: the condition, not a measurement.
	time.Sleep(client.ProbeAfter + 3*client.ProbeTimeout)
	thaw()
	if r := <-done; r.code != 0 {
		t.Fatalf("release across a frozen server: exit %d: %s", r.code, r.stderr)
	}
	eventually(t, 30*time.Second, "the released seat is free", func() error {
		if l := s.leases(); len(l) != 0 {
			return fmt.Errorf("leases: %+v", l)
		}
		return nil
	})
	b.mustCheckout("cad")
}
