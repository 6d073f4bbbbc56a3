package ledger

import (
	"encoding/json"
	"fmt"
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
