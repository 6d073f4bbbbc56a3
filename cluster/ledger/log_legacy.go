package ledger

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Format 1's group commands. Up to release 5df91bb a member, license or
// device seat operation was one catch-all payload told apart by an op
// field (or, for device_op, by its Remove and To fields). Entries of those
// operations are still written that way (registry: log.group), and these
// structs say exactly which fields such an entry may carry: decoding is
// strict against them, then the operation's own typed payload takes the
// fields it uses. They are the log's types, not the ledger's: nothing but
// this file uses them.

// legacyMembersOp is format 1's "members" payload.
type legacyMembersOp struct {
	Op           string      `json:"op"`
	Account      string      `json:"account"`
	Email        string      `json:"email,omitempty"`
	Emails       []string    `json:"emails,omitempty"`
	Role         Role        `json:"role,omitempty"`
	PasswordHash string      `json:"password_hash,omitempty"`
	Team         string      `json:"team,omitempty"`
	Teams        []string    `json:"teams,omitempty"`
	Expires      time.Time   `json:"expires,omitempty"`
	Seats        int         `json:"seats,omitempty"`
	Policy       *SeatPolicy `json:"policy,omitempty"`
	Plan         string      `json:"plan,omitempty"`
	PeriodStart  time.Time   `json:"period_start,omitempty"`
	PeriodEnd    time.Time   `json:"period_end,omitempty"`
	Renewal      string      `json:"renewal,omitempty"`
	TeamAdmin    bool        `json:"team_admin,omitempty"`
	Device       string      `json:"device,omitempty"`
	By           string      `json:"by,omitempty"`
}

// legacyLicenseOp is format 1's "license" payload.
type legacyLicenseOp struct {
	Op        string   `json:"op"`
	Account   string   `json:"account"`
	LicenseID string   `json:"license_id,omitempty"`
	Product   string   `json:"product,omitempty"`
	User      string   `json:"user,omitempty"`
	ExtKey    string   `json:"ext_key,omitempty"`
	Number    string   `json:"number,omitempty"`
	AddOn     string   `json:"addon,omitempty"`
	AddOns    []string `json:"addons,omitempty"`
	By        string   `json:"by,omitempty"`
}

// legacyDeviceOp is format 1's "device_op" payload.
type legacyDeviceOp struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	Feature string `json:"feature,omitempty"`
	To      string `json:"to,omitempty"`
	Remove  bool   `json:"remove,omitempty"`
}

// legacyGroup reads one group command's payload.
type legacyGroup struct {
	// operation validates raw strictly and says which command it is.
	operation func(raw []byte) (CommandType, error)
}

var legacyGroups = map[CommandType]legacyGroup{
	CmdMembers: {operation: func(raw []byte) (CommandType, error) {
		var m legacyMembersOp
		if err := strictDecode(raw, &m); err != nil {
			return "", err
		}
		return groupCommand(CmdMembers, m.Op)
	}},
	CmdLicense: {operation: func(raw []byte) (CommandType, error) {
		var l legacyLicenseOp
		if err := strictDecode(raw, &l); err != nil {
			return "", err
		}
		return groupCommand(CmdLicense, l.Op)
	}},
	CmdDeviceOp: {operation: func(raw []byte) (CommandType, error) {
		var d legacyDeviceOp
		if err := strictDecode(raw, &d); err != nil {
			return "", err
		}
		switch {
		case d.Remove:
			return CmdRemoveDevice, nil
		case d.To != "":
			return CmdMoveSeats, nil
		}
		return CmdFreeSeats, nil
	}},
}

func groupOf(t CommandType) *legacyGroup {
	if g, ok := legacyGroups[t]; ok {
		return &g
	}
	return nil
}

// groupCommand finds the command registered as op of group.
func groupCommand(group CommandType, op string) (CommandType, error) {
	for t, sp := range registry {
		if sp.log.group == group && sp.log.op == op {
			return t, nil
		}
	}
	return "", &EntryError{Type: group, Format: 1, Reason: fmt.Sprintf("has an operation %q this tallyd does not know", op)}
}

// decodeGroupOp turns a format 1 group command into the operation's own
// command. The payload was checked strictly against the group's struct;
// fields the operation does not use (format 1 payloads often carried
// some) are dropped, as format 1's apply ignored them.
func decodeGroupOp(c *Command, raw json.RawMessage, g *legacyGroup) error {
	if raw == nil {
		return nil // format 1 answered "no payload" and changed nothing; so does dispatch
	}
	t, err := g.operation(raw)
	if err != nil {
		return fmt.Errorf("%s payload: %w", c.Type, err)
	}
	p := registry[t].payload()
	if err := json.Unmarshal(raw, p); err != nil {
		return fmt.Errorf("%s payload: %w", c.Type, err)
	}
	c.Type, c.Payload = t, p
	return nil
}

// format1Payloads are the payload keys of format 1, one per command type
// it knew; frozen: a command added later writes "payload".
type format1Payloads struct {
	Bootstrap         json.RawMessage `json:"bootstrap"`
	SetSettings       json.RawMessage `json:"set_settings"`
	RegisterKey       json.RawMessage `json:"register_key"`
	CreateAdminToken  json.RawMessage `json:"create_admin_token"`
	RevokeAdminToken  json.RawMessage `json:"revoke_admin_token"`
	CreateAccount     json.RawMessage `json:"create_account"`
	SetPool           json.RawMessage `json:"set_pool"`
	CreateEnrollToken json.RawMessage `json:"create_enroll_token"`
	RevokeEnrollToken json.RawMessage `json:"revoke_enroll_token"`
	EnrollDevice      json.RawMessage `json:"enroll_device"`
	// The lease commands, most of the log, are decoded (strictly) in the
	// same pass as the entry.
	Checkout          *Checkout       `json:"checkout"`
	Renew             *Renew          `json:"renew"`
	Release           *Release        `json:"release"`
	Revoke            json.RawMessage `json:"revoke"`
	Reclaim           json.RawMessage `json:"reclaim"`
	RegisterNode      json.RawMessage `json:"register_node"`
	RemoveNode        json.RawMessage `json:"remove_node"`
	SetProduct        json.RawMessage `json:"set_product"`
	License           json.RawMessage `json:"license"`
	ImportAssignments json.RawMessage `json:"import_assignments"`
	SetPolicy         json.RawMessage `json:"set_policy"`
	DeviceOp          json.RawMessage `json:"device_op"`
	Members           json.RawMessage `json:"members"`
	ClaimNotification json.RawMessage `json:"claim_notification"`
	NotificationDone  json.RawMessage `json:"notification_done"`
	Remind            json.RawMessage `json:"remind"`
}

// present maps the format 1 payload keys an entry carries to their value.
func (p *format1Payloads) present() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, 1)
	for _, f := range []struct {
		key string
		raw json.RawMessage
	}{
		{"bootstrap", p.Bootstrap}, {"set_settings", p.SetSettings}, {"register_key", p.RegisterKey},
		{"create_admin_token", p.CreateAdminToken}, {"revoke_admin_token", p.RevokeAdminToken},
		{"create_account", p.CreateAccount}, {"set_pool", p.SetPool}, {"create_enroll_token", p.CreateEnrollToken},
		{"revoke_enroll_token", p.RevokeEnrollToken}, {"enroll_device", p.EnrollDevice},
		{"revoke", p.Revoke}, {"reclaim", p.Reclaim},
		{"register_node", p.RegisterNode}, {"remove_node", p.RemoveNode}, {"set_product", p.SetProduct},
		{"license", p.License}, {"import_assignments", p.ImportAssignments}, {"set_policy", p.SetPolicy},
		{"device_op", p.DeviceOp}, {"members", p.Members}, {"claim_notification", p.ClaimNotification},
		{"notification_done", p.NotificationDone}, {"remind", p.Remind},
	} {
		if f.raw != nil {
			out[f.key] = f.raw
		}
	}
	for key, v := range map[string]any{"checkout": p.Checkout, "renew": p.Renew, "release": p.Release} {
		if !reflect.ValueOf(v).IsNil() {
			out[key], _ = json.Marshal(v) // decoded already; read again with the rest
		}
	}
	return out
}

// lease returns the one lease command payload decoded with the entry and
// its key; ok is false unless exactly one is there and no raw payload is.
func (p *format1Payloads) lease() (key string, payload any, ok bool) {
	n := 0
	if p.Checkout != nil {
		key, payload, n = "checkout", p.Checkout, n+1
	}
	if p.Renew != nil {
		key, payload, n = "renew", p.Renew, n+1
	}
	if p.Release != nil {
		key, payload, n = "release", p.Release, n+1
	}
	return key, payload, n == 1 && !p.anyRaw()
}

func (p *format1Payloads) anyRaw() bool {
	for _, raw := range []json.RawMessage{p.Bootstrap, p.SetSettings, p.RegisterKey, p.CreateAdminToken, p.RevokeAdminToken,
		p.CreateAccount, p.SetPool, p.CreateEnrollToken, p.RevokeEnrollToken, p.EnrollDevice, p.Revoke, p.Reclaim,
		p.RegisterNode, p.RemoveNode, p.SetProduct, p.License, p.ImportAssignments, p.SetPolicy, p.DeviceOp, p.Members,
		p.ClaimNotification, p.NotificationDone, p.Remind} {
		if raw != nil {
			return true
		}
	}
	return false
}
