package ledger

import "time"

// The snapshot's own records for the ledger's main state (snapshot format
// 1). They are not the state's types, so that a field added to Account,
// Pool, Device or Lease changes the snapshot only when it is added here
// too, deliberately, with the JSON name every release reads;
// TestSnapshotRecordsCoverTheState fails until it is.

type snapAccount struct {
	ID              string               `json:"id"`
	Name            string               `json:"name"`
	AdminEmail      string               `json:"admin_email,omitempty"`
	Model           Model                `json:"model"`
	Created         time.Time            `json:"created"`
	SubscriptionEnd time.Time            `json:"subscription_end,omitempty"`
	Pools           map[string]*snapPool `json:"pools"`
}

type snapPool struct {
	Feature      string        `json:"feature"`
	Seats        int           `json:"seats"`
	LeaseTTL     time.Duration `json:"lease_ttl,omitempty"`
	Created      time.Time     `json:"created"`
	OverSince    time.Time     `json:"over_since,omitempty"`
	LastReminder time.Time     `json:"last_reminder,omitempty"`
}

type snapDevice struct {
	Account        string    `json:"account"`
	Code           string    `json:"code"`
	KeyFingerprint string    `json:"key_fingerprint"`
	Hostname       string    `json:"hostname,omitempty"`
	Enrolled       time.Time `json:"enrolled"`
	EnrollTokenID  string    `json:"enroll_token_id,omitempty"`
	LastSeen       time.Time `json:"last_seen,omitempty"`
	AgentVersion   string    `json:"agent_version,omitempty"`
}

type snapLease struct {
	ID          uint64    `json:"id"`
	Account     string    `json:"account"`
	Feature     string    `json:"feature"`
	Device      string    `json:"device"`
	User        string    `json:"user,omitempty"`
	Kind        LeaseKind `json:"kind"`
	Since       time.Time `json:"since"`
	Horizon     time.Time `json:"horizon"`
	Revoked     bool      `json:"revoked,omitempty"`
	RevokedAt   time.Time `json:"revoked_at,omitempty"`
	License     string    `json:"license,omitempty"`
	AddOns      []string  `json:"addons,omitempty"`
	Team        string    `json:"team,omitempty"`
	SignIn      string    `json:"sign_in,omitempty"`
	Vacant      bool      `json:"vacant,omitempty"`
	LingerUntil time.Time `json:"linger_until,omitempty"`
	Entitlement string    `json:"entitlement,omitempty"`
}

func snapOfAccount(a *Account) *snapAccount {
	r := &snapAccount{ID: a.ID, Name: a.Name, AdminEmail: a.AdminEmail, Model: a.Model, Created: a.Created,
		SubscriptionEnd: a.SubscriptionEnd, Pools: make(map[string]*snapPool, len(a.Pools))}
	for k, p := range a.Pools {
		r.Pools[k] = &snapPool{Feature: p.Feature, Seats: p.Seats, LeaseTTL: p.LeaseTTL, Created: p.Created,
			OverSince: p.OverSince, LastReminder: p.LastReminder}
	}
	return r
}

func (r *snapAccount) account() *Account {
	a := &Account{ID: r.ID, Name: r.Name, AdminEmail: r.AdminEmail, Model: r.Model, Created: r.Created,
		SubscriptionEnd: r.SubscriptionEnd, Pools: make(map[string]*Pool, len(r.Pools))}
	for k, p := range r.Pools {
		a.Pools[k] = &Pool{Feature: p.Feature, Seats: p.Seats, LeaseTTL: p.LeaseTTL, Created: p.Created,
			OverSince: p.OverSince, LastReminder: p.LastReminder}
	}
	return a
}

func snapOfDevice(d *Device) *snapDevice {
	return &snapDevice{Account: d.Account, Code: d.Code, KeyFingerprint: d.KeyFingerprint, Hostname: d.Hostname,
		Enrolled: d.Enrolled, EnrollTokenID: d.EnrollTokenID, LastSeen: d.LastSeen, AgentVersion: d.AgentVersion}
}

func (r *snapDevice) device() *Device {
	return &Device{Account: r.Account, Code: r.Code, KeyFingerprint: r.KeyFingerprint, Hostname: r.Hostname,
		Enrolled: r.Enrolled, EnrollTokenID: r.EnrollTokenID, LastSeen: r.LastSeen, AgentVersion: r.AgentVersion}
}

func snapOfLease(l *Lease) *snapLease {
	return &snapLease{ID: l.ID, Account: l.Account, Feature: l.Feature, Device: l.Device, User: l.User, Kind: l.Kind,
		Since: l.Since, Horizon: l.Horizon, Revoked: l.Revoked, RevokedAt: l.RevokedAt, License: l.License,
		AddOns: l.AddOns, Team: l.Team, SignIn: l.SignIn, Vacant: l.Vacant, LingerUntil: l.LingerUntil, Entitlement: l.Entitlement}
}

func (r *snapLease) lease() *Lease {
	return &Lease{ID: r.ID, Account: r.Account, Feature: r.Feature, Device: r.Device, User: r.User, Kind: r.Kind,
		Since: r.Since, Horizon: r.Horizon, Revoked: r.Revoked, RevokedAt: r.RevokedAt, License: r.License,
		AddOns: r.AddOns, Team: r.Team, SignIn: r.SignIn, Vacant: r.Vacant, LingerUntil: r.LingerUntil, Entitlement: r.Entitlement}
}
