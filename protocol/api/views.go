package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// Durations in every JSON answer (and tallyctl --json, and tally-agent
// --json) are strings in Go's duration syntax: "30s", "5m0s", "1h30m0s"
// (protocol.Duration). Requests accept the same strings and, for clients
// written before this rule, whole numbers of nanoseconds. The ledger's own
// types keep their encoding because they are also the Raft log and
// snapshot format; the views below are what the admin API shows of them.
// See docs/api.md#durations.

// Settings are the cluster-wide parameters (ledger.Settings) as the admin
// API shows them.
type Settings struct {
	MaxSkew           protocol.Duration `json:"max_skew"`
	LeaseTTL          protocol.Duration `json:"lease_ttl"`
	HeartbeatInterval protocol.Duration `json:"heartbeat_interval"`
	AuditRetention    protocol.Duration `json:"audit_retention,omitempty"`
}

// SettingsOf is the view of s.
func SettingsOf(s ledger.Settings) Settings {
	return Settings{
		MaxSkew: protocol.Duration(s.MaxSkew), LeaseTTL: protocol.Duration(s.LeaseTTL),
		HeartbeatInterval: protocol.Duration(s.HeartbeatInterval), AuditRetention: protocol.Duration(s.AuditRetention),
	}
}

// Policy is a floating policy (ledger.Policy) as the admin API shows and
// takes it; see ledger.Policy for what each field does.
type Policy struct {
	LeaseTTL          protocol.Duration    `json:"lease_ttl,omitempty"`
	HeartbeatInterval protocol.Duration    `json:"heartbeat_interval,omitempty"`
	IdleTimeout       protocol.Duration    `json:"idle_timeout,omitempty"`
	MaxCheckout       protocol.Duration    `json:"max_checkout,omitempty"`
	Linger            protocol.Duration    `json:"linger,omitempty"`
	BorrowDays        int                  `json:"borrow_days,omitempty"`
	NodeLocked        int                  `json:"node_locked,omitempty"`
	Overage           int                  `json:"overage,omitempty"`
	Reserve           []ledger.Reservation `json:"reserve,omitempty"`
	TeamCaps          map[string]int       `json:"team_caps,omitempty"`
	Allow             []string             `json:"allow,omitempty"`
	Deny              []string             `json:"deny,omitempty"`
	// SeatBasis is what one seat covers (device, member, node-locked) and
	// MemberDevices the per-member device limit under the member basis.
	SeatBasis     string `json:"seat_basis,omitempty"`
	MemberDevices int    `json:"member_devices,omitempty"`
}

// PolicyOf is the view of p.
func PolicyOf(p ledger.Policy) Policy {
	return Policy{
		LeaseTTL: protocol.Duration(p.LeaseTTL), HeartbeatInterval: protocol.Duration(p.HeartbeatInterval),
		IdleTimeout: protocol.Duration(p.IdleTimeout), MaxCheckout: protocol.Duration(p.MaxCheckout), Linger: protocol.Duration(p.Linger),
		BorrowDays: p.BorrowDays, NodeLocked: p.NodeLocked, Overage: p.Overage,
		Reserve: p.Reserve, TeamCaps: p.TeamCaps, Allow: p.Allow, Deny: p.Deny,
		SeatBasis: p.SeatBasis, MemberDevices: p.MemberDevices,
	}
}

// Ledger is the ledger policy p describes.
func (p Policy) Ledger() ledger.Policy {
	return ledger.Policy{
		LeaseTTL: p.LeaseTTL.D(), HeartbeatInterval: p.HeartbeatInterval.D(),
		IdleTimeout: p.IdleTimeout.D(), MaxCheckout: p.MaxCheckout.D(), Linger: p.Linger.D(),
		BorrowDays: p.BorrowDays, NodeLocked: p.NodeLocked, Overage: p.Overage,
		Reserve: p.Reserve, TeamCaps: p.TeamCaps, Allow: p.Allow, Deny: p.Deny,
		SeatBasis: p.SeatBasis, MemberDevices: p.MemberDevices,
	}
}

// Account is an account (ledger.Account) as the admin API shows it.
type Account struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	AdminEmail      string           `json:"admin_email,omitempty"`
	Model           ledger.Model     `json:"model"`
	Created         time.Time        `json:"created"`
	SubscriptionEnd time.Time        `json:"subscription_end,omitempty"`
	Pools           map[string]*Pool `json:"pools"`
}

// Pool is a pool of an Account.
type Pool struct {
	Feature string `json:"feature"`
	Seats   int    `json:"seats"`
	// LeaseTTL is the pool's own lease TTL; absent: the cluster's.
	LeaseTTL     protocol.Duration `json:"lease_ttl,omitempty"`
	Created      time.Time         `json:"created"`
	OverSince    time.Time         `json:"over_since,omitempty"`
	LastReminder time.Time         `json:"last_reminder,omitempty"`
}

// AccountOf is the view of a.
func AccountOf(a ledger.Account) Account {
	v := Account{ID: a.ID, Name: a.Name, AdminEmail: a.AdminEmail, Model: a.Model, Created: a.Created,
		SubscriptionEnd: a.SubscriptionEnd, Pools: make(map[string]*Pool, len(a.Pools))}
	for k, p := range a.Pools {
		v.Pools[k] = &Pool{Feature: p.Feature, Seats: p.Seats, LeaseTTL: protocol.Duration(p.LeaseTTL), Created: p.Created,
			OverSince: p.OverSince, LastReminder: p.LastReminder}
	}
	return v
}
