package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// seatUseByKeys is the definition seatUse implements without building keys:
// the distinct seatKeys of the pool's leases, and whether c's key is among
// the live ones.
func seatUseByKeys(s *State, now time.Time, p *Policy, c *Checkout, leases map[uint64]*Lease) (int, bool, bool) {
	seats, live := map[string]bool{}, map[string]bool{}
	for _, l := range leases {
		k := seatKey(p.SeatBasis, l)
		seats[k] = true
		if !l.Revoked && !l.Vacant && !l.Reusable(now, s.settings.MaxSkew) {
			live[k] = true
		}
	}
	mine := seatKey(p.SeatBasis, &Lease{Device: c.Device, User: c.User})
	devices := map[string]bool{}
	for _, l := range leases {
		if NormalizeEmail(l.User) == NormalizeEmail(c.User) {
			devices[l.Device] = true
		}
	}
	refused := p.SeatBasis == BasisMember && c.User != "" && seats[mine] && p.MemberDevices > 0 &&
		!devices[c.Device] && len(devices) >= p.MemberDevices
	return len(seats), live[mine], refused
}

// seatUse counts exactly what the keyed definition counts, for random pools
// under every basis: revoked, vacant and expired leases, members signed in
// on several devices, devices with several members, mixed-case e-mails.
func TestSeatUseMatchesTheSeatKeyDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	s := New()
	s.settings.MaxSkew = 2 * time.Second
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	users := []string{"", "", "ann@example.com", "ANN@example.com ", "bob@example.com", "cy@example.com"}
	for round := range 2000 {
		leases := map[uint64]*Lease{}
		for id := range uint64(rng.IntN(12)) {
			l := &Lease{ID: id + 1, Device: fmt.Sprintf("d%d", rng.IntN(5)), User: users[rng.IntN(len(users))],
				Horizon: now.Add(time.Duration(rng.IntN(20)-10) * time.Second)}
			l.Revoked = rng.IntN(6) == 0
			l.Vacant = rng.IntN(6) == 0
			leases[l.ID] = l
		}
		p := &Policy{SeatBasis: []string{BasisDevice, BasisMember, BasisNodeLocked, ""}[rng.IntN(4)], MemberDevices: rng.IntN(3)}
		c := &Checkout{Account: "acme", Feature: "cad", Device: fmt.Sprintf("d%d", rng.IntN(6)), User: users[rng.IntN(len(users))]}
		wantSeats, wantJoins, wantRefused := seatUseByKeys(s, now, p, c, leases)
		seats, joins, perr := s.seatUse(now, p, c, leases)
		if perr != nil != wantRefused || (perr == nil && (seats != wantSeats || joins != wantJoins)) {
			t.Fatalf("round %d, basis %q, checkout %+v: seatUse = %d seats, joins %v, refusal %v; the keyed definition says %d, %v, refused %v",
				round, p.SeatBasis, c, seats, joins, perr, wantSeats, wantJoins, wantRefused)
		}
	}
}

// admit skips counting seats when the pool's lease count, an upper bound of
// the seats in use, already admits: that is sound only if seatDecision never
// refuses a smaller count, or a checkout that joins a held seat, after
// admitting the bound.
func TestSeatDecisionAdmittingTheUpperBoundAdmitsEveryCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2))
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	acct := &Account{ID: "acme"}
	for range 20000 {
		pool := &Pool{Feature: "cad", Seats: rng.IntN(30)}
		if rng.IntN(2) == 0 {
			pool.OverSince = now.Add(-time.Duration(rng.IntN(60*24)) * time.Hour)
		}
		limit := capacity(pool, &Policy{Overage: rng.IntN(5)})
		upper, reserved := rng.IntN(40), rng.IntN(5)
		if seatDecision(now, acct, pool, upper, false, reserved, limit) != nil {
			continue
		}
		exact, joins := rng.IntN(upper+1), rng.IntN(2) == 0
		if perr := seatDecision(now, acct, pool, exact, joins, reserved, limit); perr != nil {
			t.Fatalf("pool %+v limit %d reserved %d: %d leases admitted, but %d seats (joins %v) refused: %v", pool, limit, reserved, upper, exact, joins, perr)
		}
	}
}
