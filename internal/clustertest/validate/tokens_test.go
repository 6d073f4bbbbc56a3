package validate

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

// TestTokenLedgerCatchesOverlap proves the token ledger can fail: two
// leases of a one-seat pool whose tokens are valid at the same instant are
// a violation; the same two with the first given up (or expired) before
// the second arrives are not.
func TestTokenLedgerCatchesOverlap(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := lease.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	tok := func(id uint64, exp time.Time) string {
		s, err := signer.Sign(lease.Claims{Issuer: "test", Device: "d", Account: "acme", Feature: "cad", LeaseID: id, Kind: lease.KindFloating, IssuedAt: t0, Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	limit := map[string]int{PoolOf("acme", "cad"): 1}

	l := NewTokenLedger()
	l.Received(tok(1, t0.Add(10*time.Second)), t0, "n0")
	l.Received(tok(2, t0.Add(20*time.Second)), t0.Add(5*time.Second), "n1")
	if v := l.Check(limit); len(v) != 1 || !strings.Contains(v[0], "2 leases [1 2]") {
		t.Fatalf("overlapping tokens: %v", v)
	}

	l = NewTokenLedger()
	l.Received(tok(1, t0.Add(10*time.Second)), t0, "n0")
	l.Received(tok(1, t0.Add(15*time.Second)), t0.Add(3*time.Second), "n0") // a renewal
	l.Discarded(1, t0.Add(4*time.Second))
	l.Received(tok(2, t0.Add(20*time.Second)), t0.Add(5*time.Second), "n1")
	l.Received(tok(3, t0.Add(30*time.Second)), t0.Add(20*time.Second), "n2") // after 2 expired
	if v := l.Check(limit); len(v) != 0 {
		t.Fatalf("a clean history: %v", v)
	}
}
