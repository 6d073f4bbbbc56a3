package ledger

import (
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// An administrator's operations on an enrolled device's seats. Format 1
// wrote all three as one "device_op" command told apart by its Remove and
// To fields, and they are still written that way (log.go).

const (
	CmdFreeSeats    CommandType = "free_seats"
	CmdMoveSeats    CommandType = "move_seats"
	CmdRemoveDevice CommandType = "remove_device"
)

// FreeSeats frees a device's node-locked seats (of Feature, or every pool
// when empty). The seats stay counted until the last token's horizon (S3).
type FreeSeats struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	Feature string `json:"feature,omitempty"`
}

// MoveSeats moves a device's node-locked seats (of Feature, or every pool
// when empty) to device To of the same account.
type MoveSeats struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	Feature string `json:"feature,omitempty"`
	To      string `json:"to,omitempty"`
}

// RemoveDevice deletes a device's enrollment and revokes every lease it
// holds, so that the same Device Code may enroll again with a new key (a
// reinstalled machine, or after a suspected clone was dealt with).
type RemoveDevice struct {
	Account string `json:"account"`
	Device  string `json:"device"`
}

// deviceCode is the Device Code an operation names, in the form the
// ledger stores (log format 2 on; format 1 took codes as written).
func (s *State) deviceCode(code string) string {
	if !s.since(2) {
		return code
	}
	return protocol.CanonicalDeviceCode(code)
}

// nodeLocked lists the node-locked leases of device ref (of feature, or
// all), sorted by ID.
func (s *State) nodeLocked(ref DeviceRef, feature string) ([]*Lease, *protocol.Error) {
	if _, ok := s.devices[ref]; !ok {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no device %s in account %s", ref.Code, ref.Account)
	}
	var pick []*Lease
	for _, l := range s.byDevice[ref] {
		if l.Kind == KindNodeLocked && (feature == "" || l.Feature == feature) {
			pick = append(pick, l)
		}
	}
	sort.Slice(pick, func(i, j int) bool { return pick[i].ID < pick[j].ID })
	return pick, nil
}

func noNodeLocked(ref DeviceRef, feature string) Result {
	of := ""
	if feature != "" {
		of = " of " + feature
	}
	return fail(protocol.CodeNotFound, "device %s of account %s holds no node-locked seat%s", ref.Code, ref.Account, of)
}

func (s *State) freeSeats(now time.Time, op *FreeSeats) Result {
	ref := DeviceRef{op.Account, s.deviceCode(op.Device)}
	pick, e := s.nodeLocked(ref, op.Feature)
	if e != nil {
		return Result{Error: e}
	}
	if len(pick) == 0 {
		return noNodeLocked(ref, op.Feature)
	}
	for _, l := range pick {
		// Freed seats stay counted until the last token's horizon (S3):
		// the lease becomes an ordinary expiring one.
		l.Kind = KindFloating
		l.Revoked, l.RevokedAt = true, now
	}
	return Result{Lease: ptr(*pick[0])}
}

func (s *State) moveSeats(_ time.Time, op *MoveSeats) Result {
	from := DeviceRef{op.Account, s.deviceCode(op.Device)}
	if _, ok := s.devices[from]; !ok {
		return fail(protocol.CodeNotFound, "no device %s in account %s", from.Code, op.Account)
	}
	to := DeviceRef{op.Account, s.deviceCode(op.To)}
	if _, ok := s.devices[to]; !ok || op.To == "" {
		return fail(protocol.CodeNotFound, "no device %s in account %s to move to", to.Code, op.Account)
	}
	pick, _ := s.nodeLocked(from, op.Feature)
	if len(pick) == 0 {
		return noNodeLocked(from, op.Feature)
	}
	for _, l := range pick {
		delete(s.byDevice[from], l.ID)
		if len(s.byDevice[from]) == 0 {
			delete(s.byDevice, from)
		}
		l.Device = to.Code
		if l.SignIn != "" {
			vacate(l) // the seat moves to a device, not with its member
		}
		if s.byDevice[to] == nil {
			s.byDevice[to] = map[uint64]*Lease{}
		}
		s.byDevice[to][l.ID] = l
	}
	return Result{Lease: ptr(*pick[0])}
}

// removeDevice forgets an enrolled device. Its leases are revoked, not
// ended: their seats stay counted until the last token issued for them
// has expired plus the skew allowance (S3), and a device enrolling later
// under the same code cannot renew or take them back.
// The result carries the removed device.
func (s *State) removeDevice(now time.Time, op *RemoveDevice) Result {
	ref := DeviceRef{op.Account, s.deviceCode(op.Device)}
	if _, ok := s.devices[ref]; !ok {
		return fail(protocol.CodeNotFound, "no device %s in account %s", ref.Code, op.Account)
	}
	for _, l := range s.byDevice[ref] {
		if !l.Revoked {
			l.Revoked, l.RevokedAt = true, now
		}
		if l.Kind == KindNodeLocked {
			l.Kind = KindFloating // a revoked seat expires like any other
		}
	}
	s.forgetDeviceSignIns(ref)
	d := *s.devices[ref]
	delete(s.devices, ref)
	return Result{Device: &d}
}

func (op *FreeSeats) describe() (string, string) {
	return op.Account, "free node-locked seats of " + protocol.CanonicalDeviceCode(op.Device)
}

func (op *MoveSeats) describe() (string, string) {
	return op.Account, "move node-locked seats of " + protocol.CanonicalDeviceCode(op.Device) + " to " + protocol.CanonicalDeviceCode(op.To)
}

func (op *RemoveDevice) describe() (string, string) {
	return op.Account, "remove device " + protocol.CanonicalDeviceCode(op.Device) + " and revoke its leases"
}
