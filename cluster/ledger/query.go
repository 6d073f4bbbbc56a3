package ledger

import (
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Read-side accessors. They return copies, so a caller holding one after the
// store's read lock is released cannot race with Apply.

// ClusterID is the cluster's identity, the iss of every token.
func (s *State) ClusterID() string { return s.clusterID }

// Settings returns the cluster-wide lease settings.
func (s *State) Settings() Settings { return s.settings }

// AppliedIndex is the Raft index of the last applied entry.
func (s *State) AppliedIndex() uint64 { return s.appliedIndex }

// LastCommandTime is the latest leader time the ledger has applied.
func (s *State) LastCommandTime() time.Time { return s.lastNow }

// Account returns a copy of an account, pools included.
func (s *State) Account(id string) (Account, bool) {
	a, ok := s.accounts[id]
	if !ok {
		return Account{}, false
	}
	return copyAccount(a), true
}

func copyAccount(a *Account) Account {
	c := *a
	c.Pools = make(map[string]*Pool, len(a.Pools))
	for k, p := range a.Pools {
		pc := *p
		c.Pools[k] = &pc
	}
	return c
}

// Accounts lists every account sorted by ID.
func (s *State) Accounts() []Account {
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, copyAccount(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PoolUsage is a pool's seat count as an administrator reads it.
type PoolUsage struct {
	Account  string            `json:"account"`
	Feature  string            `json:"feature"`
	Seats    int               `json:"seats"`
	Active   int               `json:"active"`
	Unused   int               `json:"unused"`
	LeaseTTL protocol.Duration `json:"lease_ttl"`
}

// Usage reports every pool (of one account, or all when account is ""),
// counting as active the leases whose seat is not yet reusable at now.
func (s *State) Usage(account string, now time.Time) []PoolUsage {
	var out []PoolUsage
	for _, a := range s.accounts {
		if account != "" && a.ID != account {
			continue
		}
		for _, p := range a.Pools {
			active := 0
			for _, l := range s.byPool[poolKey{a.ID, p.Feature}] {
				if !l.Reusable(now, s.settings.MaxSkew) {
					active++
				}
			}
			unused := p.Seats - active
			if unused < 0 {
				unused = 0
			}
			out = append(out, PoolUsage{Account: a.ID, Feature: p.Feature, Seats: p.Seats, Active: active, Unused: unused, LeaseTTL: protocol.Duration(s.ttlFor(a.ID, p, 0))})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Feature < out[j].Feature
	})
	return out
}

// LeaseFilter selects leases; empty fields match everything.
type LeaseFilter struct {
	Account string
	Feature string
	Device  string
}

// Leases lists leases sorted by ID.
func (s *State) Leases(f LeaseFilter) []Lease {
	out := make([]Lease, 0, len(s.leases))
	for _, l := range s.leases {
		if (f.Account == "" || l.Account == f.Account) && (f.Feature == "" || l.Feature == f.Feature) && (f.Device == "" || l.Device == f.Device) {
			out = append(out, *l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lease returns one lease, or the reason it is gone.
func (s *State) Lease(id uint64) (Lease, *protocol.Error) {
	if l, ok := s.leases[id]; ok {
		return *l, nil
	}
	return Lease{}, s.goneError(id)
}

// DeviceLeases lists a device's leases sorted by ID.
func (s *State) DeviceLeases(ref DeviceRef) []Lease {
	out := make([]Lease, 0, len(s.byDevice[ref]))
	for _, l := range s.byDevice[ref] {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Device returns an enrolled device.
func (s *State) Device(ref DeviceRef) (Device, bool) {
	d, ok := s.devices[ref]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Devices lists the devices of an account (all when account is "").
func (s *State) Devices(account string) []Device {
	var out []Device
	for _, d := range s.devices {
		if account == "" || d.Account == account {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// AdminToken returns an admin token by ID.
func (s *State) AdminToken(id string) (AdminToken, bool) {
	t, ok := s.adminTokens[id]
	if !ok {
		return AdminToken{}, false
	}
	return *t, true
}

// EnrollToken returns an enrollment token by ID.
func (s *State) EnrollToken(id string) (EnrollToken, bool) {
	t, ok := s.enrollTok[id]
	if !ok {
		return EnrollToken{}, false
	}
	return *t, true
}

// EnrollTokens lists an account's enrollment tokens (all when account is "").
func (s *State) EnrollTokens(account string) []EnrollToken {
	var out []EnrollToken
	for _, t := range s.enrollTok {
		if account == "" || t.Account == account {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Nodes lists the registered nodes sorted by ID.
func (s *State) Nodes() []Node {
	out := make([]Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// HasSigningKey reports whether a key ID is registered.
func (s *State) HasSigningKey(kid string) bool {
	_, ok := s.keys[kid]
	return ok
}

// SigningKeys lists the registered public signing keys sorted by key ID.
func (s *State) SigningKeys() []SigningKey {
	out := make([]SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out
}

// ReclaimDue lists the leases whose seat is reusable at now, for the reaper.
func (s *State) ReclaimDue(now time.Time) []uint64 {
	var out []uint64
	for id, l := range s.leases {
		if l.Reusable(now, s.settings.MaxSkew) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// PoolSeats returns a pool's seat count and whether it exists.
func (s *State) PoolSeats(account, feature string) (int, bool) {
	if a := s.accounts[account]; a != nil {
		if p := a.Pools[feature]; p != nil {
			return p.Seats, true
		}
	}
	return 0, false
}

// LeaseTTL returns the horizon extension for a pool (the cluster default when
// the pool sets none or does not exist).
func (s *State) LeaseTTL(account, feature string) time.Duration {
	if a := s.accounts[account]; a != nil {
		if p := a.Pools[feature]; p != nil {
			return s.ttlFor(account, p, 0)
		}
	}
	return s.settings.LeaseTTL
}
