package ledger

import (
	"fmt"
	"testing"
	"time"
)

// TestSignInBrakeDelaysAndForgets: failures beyond the free ones give an
// increasing delay (never a lock-out longer than the cap), a reset clears
// the member, and the brake's memory stays bounded however many names are
// tried.
func TestSignInBrakeDelaysAndForgets(t *testing.T) {
	s := New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := BrakeMember("acme", "Pat@Acme.example")
	fail := func(at time.Time, keys ...string) {
		t.Helper()
		if r := s.Apply(1, &Command{Type: CmdSignInBrake, Now: at, Payload: &SignInBrake{Fail: keys}}); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	for i := 0; i < memberFreeFailures; i++ {
		if d := s.SignInDelay(t0, m); d != 0 {
			t.Fatalf("delay %v after %d failures", d, i)
		}
		fail(t0, m)
	}
	if d := s.SignInDelay(t0, m); d != time.Second {
		t.Fatalf("delay after the free failures: %v, want 1s", d)
	}
	for i := 0; i < 30; i++ {
		fail(t0, m)
	}
	if d := s.SignInDelay(t0, m); d != memberMaxDelay {
		t.Fatalf("delay after many failures: %v, want the cap %v", d, memberMaxDelay)
	}
	if d := s.SignInDelay(t0.Add(memberMaxDelay), m); d != 0 {
		t.Fatalf("the real member is still held back after the cap: %v", d)
	}
	s.Apply(2, &Command{Type: CmdSignInBrake, Now: t0, Payload: &SignInBrake{Reset: []string{m}}})
	if s.BrakeFailures(m) != 0 {
		t.Fatal("reset kept the failures")
	}
	for i := 0; i < maxBrakeEntries+500; i += 8 {
		var keys []string
		for j := 0; j < 8; j++ {
			keys = append(keys, BrakeMember("acme", fmt.Sprintf("u%d@x", i+j)))
		}
		fail(t0.Add(time.Duration(i)*time.Millisecond), keys...)
	}
	if len(s.brake) > maxBrakeEntries {
		t.Fatalf("brake holds %d keys, bound %d", len(s.brake), maxBrakeEntries)
	}
	// A key with no failure for brakeMemory counts as none, and starts over.
	later := t0.Add(2 * brakeMemory)
	old := BrakeMember("acme", "u8@x")
	if d := s.SignInDelay(later, old); d != 0 {
		t.Fatalf("stale key still braked: %v", d)
	}
	fail(later, old)
	if n := s.BrakeFailures(old); n != 1 {
		t.Fatalf("a stale key failing again counts %d, want 1", n)
	}
}
