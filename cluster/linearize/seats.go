package linearize

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// MaxDevices is the most devices a SeatModel tracks.
const MaxDevices = 32

// Kind is the operation a simulated device performed on the pool.
type Kind uint8

const (
	Checkout Kind = iota + 1
	Renew
	Release
)

func (k Kind) String() string {
	switch k {
	case Checkout:
		return "checkout"
	case Renew:
		return "renew"
	case Release:
		return "release"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Input is one operation: Device (0..MaxDevices-1) acting on Lease (unused
// by Checkout).
type Input struct {
	Kind   Kind
	Device int
	Lease  uint64
}

// Outcome is what the device learned.
type Outcome uint8

const (
	// OK: checkout granted Lease, renew moved its horizon, release ended it.
	OK Outcome = iota + 1
	// Refused: the ledger said no (no_seat, not_holder, lease gone, …) and
	// changed nothing.
	Refused
	// Unknown: the client gave up without an answer (leadership lost,
	// timeout). The operation may or may not have taken effect.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Refused:
		return "refused"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Output is the result of an Input.
type Output struct {
	Outcome Outcome
	// Lease is the lease a successful checkout returned.
	Lease uint64
	// Code is the ledger's error code of a refusal, for the visualisation.
	Code string
}

// unknownLease marks a device that holds a lease whose ID the history has
// not revealed yet (granted by a checkout whose answer was lost).
const unknownLease = math.MaxUint64

// seatState is a model state. It is a comparable value so that porcupine's
// default equality works and states can be hashed cheaply.
type seatState struct {
	held  [MaxDevices]uint64 // 0: holds nothing
	maxID uint64             // the highest lease ID granted so far
}

func (s seatState) inUse() int {
	n := 0
	for _, id := range s.held {
		if id != 0 {
			n++
		}
	}
	return n
}

// heldByOther reports whether a device other than dev holds id.
func (s seatState) heldByOther(dev int, id uint64) bool {
	for d, h := range s.held {
		if d != dev && h == id {
			return true
		}
	}
	return false
}

// SeatModel is the specification of one pool of seats shared by devices
// 0..devices-1, as the ledger promises it when leases never expire during
// the test (choose a TTL much longer than the run):
//
//   - checkout by a device holding a lease returns that same lease;
//   - checkout by a device holding none grants a new lease, whose ID is
//     higher than every ID granted before, if fewer than seats leases are
//     held, and is refused (no_seat) otherwise;
//   - renew and release succeed exactly when the device holds that lease
//     (S5: a stale or foreign fencing ID is refused and changes nothing);
//     release frees the seat.
//
// An Unknown outcome may have taken effect or not.
func SeatModel(seats, devices int) porcupine.Model {
	if devices > MaxDevices {
		panic(fmt.Sprintf("linearize: at most %d devices, got %d", MaxDevices, devices))
	}
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{seatState{}} },
		Step: func(state, input, output any) []any {
			return step(seats, state.(seatState), input.(Input), output.(Output))
		},
		Hash: func(state any) uint64 {
			s := state.(seatState)
			h := fnv.New64a()
			var b [8]byte
			for _, v := range append(s.held[:devices:devices], s.maxID) {
				for i := range b {
					b[i] = byte(v >> (8 * i))
				}
				h.Write(b[:])
			}
			return h.Sum64()
		},
		DescribeOperation: func(input, output any) string {
			return describeOp(input.(Input), output.(Output))
		},
		DescribeState: func(state any) string { return describeState(state.(seatState), devices) },
	}
	return nm.ToModel()
}

func step(seats int, s seatState, in Input, out Output) []any {
	d := in.Device
	if d < 0 || d >= MaxDevices {
		return nil
	}
	cur := s.held[d]
	switch in.Kind {
	case Checkout:
		switch out.Outcome {
		case OK:
			id := out.Lease
			switch {
			case id == 0 || id == unknownLease:
				return nil
			case cur == id:
				return []any{s}
			case cur == unknownLease:
				// The lost grant is revealed.
				if s.heldByOther(d, id) {
					return nil
				}
				s.held[d] = id
				s.maxID = max(s.maxID, id)
				return []any{s}
			case cur != 0:
				// A device asking again must get the lease it holds.
				return nil
			case s.inUse() >= seats || id <= s.maxID:
				return nil
			}
			s.held[d] = id
			s.maxID = id
			return []any{s}
		case Refused:
			if cur == 0 && s.inUse() >= seats {
				return []any{s}
			}
			return nil
		case Unknown:
			next := []any{s}
			if cur == 0 && s.inUse() < seats {
				g := s
				g.held[d] = unknownLease
				next = append(next, g)
			}
			return next
		}
	case Renew:
		switch out.Outcome {
		case OK:
			switch {
			case cur == in.Lease:
				return []any{s}
			case cur == unknownLease && !s.heldByOther(d, in.Lease):
				s.held[d] = in.Lease
				s.maxID = max(s.maxID, in.Lease)
				return []any{s}
			}
			return nil
		case Refused:
			if cur != in.Lease {
				return []any{s}
			}
			return nil
		case Unknown:
			return []any{s}
		}
	case Release:
		switch out.Outcome {
		case OK:
			switch {
			case cur == in.Lease:
				s.held[d] = 0
				return []any{s}
			case cur == unknownLease && !s.heldByOther(d, in.Lease):
				s.held[d] = 0
				s.maxID = max(s.maxID, in.Lease)
				return []any{s}
			}
			return nil
		case Refused:
			if cur != in.Lease {
				return []any{s}
			}
			return nil
		case Unknown:
			next := []any{s}
			if cur == in.Lease || (cur == unknownLease && !s.heldByOther(d, in.Lease)) {
				r := s
				r.held[d] = 0
				next = append(next, r)
			}
			return next
		}
	}
	return nil
}

func describeOp(in Input, out Output) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(d%d", in.Kind, in.Device)
	if in.Kind != Checkout {
		fmt.Fprintf(&b, ", %d", in.Lease)
	}
	b.WriteString(") → ")
	switch {
	case out.Outcome == OK && in.Kind == Checkout:
		fmt.Fprintf(&b, "lease %d", out.Lease)
	case out.Outcome == Refused && out.Code != "":
		b.WriteString(out.Code)
	default:
		b.WriteString(out.Outcome.String())
	}
	return b.String()
}

func describeState(s seatState, devices int) string {
	var parts []string
	for d := 0; d < devices; d++ {
		switch s.held[d] {
		case 0:
		case unknownLease:
			parts = append(parts, fmt.Sprintf("d%d:?", d))
		default:
			parts = append(parts, fmt.Sprintf("d%d:%d", d, s.held[d]))
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("[%s] max=%d", strings.Join(parts, " "), s.maxID)
}
