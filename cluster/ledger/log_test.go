package ledger

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEveryCommandRoundTrips encodes one command of every registered type
// and decodes it back unchanged: the registry, the encoder and the strict
// decoder agree on every payload.
func TestEveryCommandRoundTrips(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for typ, sp := range registry {
		c := Command{Type: typ, RequestID: "r-" + string(typ), Now: now, Actor: "admin-token:t1"}
		if sp.payload != nil {
			c.Payload = sp.payload()
			setAccount(c.Payload, "acme")
			if m, ok := c.Payload.(*MoveSeats); ok {
				m.To = "d2" // format 1 tells a move from a free by its target
			}
		}
		for _, format := range []int{1, LogFormat} {
			b, err := c.EncodeAt(format)
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			d, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("%s: decode %s: %v", typ, b, err)
			}
			want := c
			want.Format = max(format, sp.log.since)
			if !reflect.DeepEqual(*d, want) {
				t.Fatalf("%s: %s decoded to %+v, want %+v", typ, b, *d, want)
			}
		}
	}
}

// setAccount fills a payload's Account field, if it has one, so that a
// round trip carries some data.
func setAccount(p any, account string) {
	if f := reflect.ValueOf(p).Elem().FieldByName("Account"); f.IsValid() && f.Kind() == reflect.String {
		f.SetString(account)
	}
}

// TestOperationsAreWrittenInFormat1 checks that commands format 1 knew are
// written the way the previous release wrote them (no "v"; member, license
// and device seat operations as their group with an op), so that a node of
// that release applies them during a rolling upgrade.
func TestOperationsAreWrittenInFormat1(t *testing.T) {
	cases := []struct {
		c    Command
		want map[string]any
	}{
		{Command{Type: CmdAddUser, Payload: &AddUser{Account: "acme", Email: "a@acme.test", Role: RoleOwner}},
			map[string]any{"type": "members", "members": map[string]any{"op": "add_user", "account": "acme", "email": "a@acme.test", "role": "owner"}}},
		{Command{Type: CmdExpireInvites, Payload: &ExpireInvites{Account: "acme"}},
			map[string]any{"type": "members", "members": map[string]any{"op": "expire_invites", "account": "acme"}}},
		{Command{Type: CmdAttachAddOn, Payload: &AttachAddOn{Account: "acme", LicenseID: "L1", AddOn: "fax"}},
			map[string]any{"type": "license", "license": map[string]any{"op": "attach", "account": "acme", "license_id": "L1", "addon": "fax"}}},
		{Command{Type: CmdRemoveDevice, Payload: &RemoveDevice{Account: "acme", Device: "d1"}},
			map[string]any{"type": "device_op", "device_op": map[string]any{"remove": true, "account": "acme", "device": "d1"}}},
		{Command{Type: CmdMoveSeats, Payload: &MoveSeats{Account: "acme", Device: "d1", To: "d2"}},
			map[string]any{"type": "device_op", "device_op": map[string]any{"account": "acme", "device": "d1", "to": "d2"}}},
		{Command{Type: CmdRevoke, Actor: "admin-token:t1", Payload: &Revoke{LeaseID: 7}},
			map[string]any{"type": "revoke", "actor": "admin-token:t1", "revoke": map[string]any{"lease_id": float64(7)}}},
		{Command{Type: CmdRemind},
			map[string]any{"type": "remind"}},
	}
	for _, tc := range cases {
		b, err := tc.c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		delete(got, "now")
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s is written as %s, want %v", tc.c.Type, b, tc.want)
		}
	}
}

// Entries as release 5df91bb wrote them (its Command struct marshalled by
// encoding/json), one per shape the legacy decoder handles.
var format1Entries = []struct {
	entry string
	want  Command
}{
	{`{"type":"members","request_id":"r1","now":"2026-11-02T09:00:00Z","actor":"admin-token:t1","members":{"op":"add_user","account":"acme","email":"a@acme.test","role":"member","password_hash":"$argon2id$x","team":"","by":"admin-token:t1"}}`,
		Command{Type: CmdAddUser, RequestID: "r1", Actor: "admin-token:t1", Payload: &AddUser{Account: "acme", Email: "a@acme.test", Role: RoleMember, PasswordHash: "$argon2id$x"}}},
	// Format 1 carried fields an operation did not read (the admin API
	// filled them from any request): they are dropped, as it ignored them.
	{`{"type":"members","now":"2026-11-02T09:00:00Z","members":{"op":"set_seats","account":"acme","seats":12,"plan":"pro","by":"leader"}}`,
		Command{Type: CmdSetSeats, Payload: &SetSeats{Account: "acme", Seats: 12}}},
	{`{"type":"members","now":"2026-11-02T09:00:00Z","members":{"op":"set_team_admin","account":"acme","email":"b@acme.test","team":"ops","team_admin":true}}`,
		Command{Type: CmdSetTeamAdmin, Payload: &SetTeamAdmin{Account: "acme", Email: "b@acme.test", Team: "ops", TeamAdmin: true}}},
	{`{"type":"license","now":"2026-11-02T09:00:00Z","actor":"admin-token:t1","license":{"op":"assign","account":"acme","product":"phone_system","user":"a@acme.test","ext_key":"101","addons":["fax"],"by":"admin-token:t1"}}`,
		Command{Type: CmdAssignLicense, Actor: "admin-token:t1", Payload: &AssignLicense{Account: "acme", Product: "phone_system", User: "a@acme.test", ExtKey: "101", AddOns: []string{"fax"}}}},
	{`{"type":"device_op","now":"2026-11-02T09:00:00Z","device_op":{"account":"acme","device":"d1","feature":"cad"}}`,
		Command{Type: CmdFreeSeats, Payload: &FreeSeats{Account: "acme", Device: "d1", Feature: "cad"}}},
	{`{"type":"device_op","now":"2026-11-02T09:00:00Z","device_op":{"account":"acme","device":"d1","to":"d2"}}`,
		Command{Type: CmdMoveSeats, Payload: &MoveSeats{Account: "acme", Device: "d1", To: "d2"}}},
	{`{"type":"device_op","now":"2026-11-02T09:00:00Z","device_op":{"account":"acme","device":"d1","remove":true}}`,
		Command{Type: CmdRemoveDevice, Payload: &RemoveDevice{Account: "acme", Device: "d1"}}},
	// Format 1's revoke named its actor in "by" when the command did not.
	{`{"type":"revoke","request_id":"r2","now":"2026-11-02T09:00:00Z","revoke":{"lease_id":9,"by":"admin-token:t2"}}`,
		Command{Type: CmdRevoke, RequestID: "r2", Actor: "admin-token:t2", Payload: &Revoke{LeaseID: 9}}},
	{`{"type":"set_policy","now":"2026-11-02T09:00:00Z","actor":"admin-token:t1","set_policy":{"account":"acme","policy":{"lease_ttl":60000000000},"by":"admin-token:t1"}}`,
		Command{Type: CmdSetPolicy, Actor: "admin-token:t1", Payload: &SetPolicy{Account: "acme", Policy: Policy{LeaseTTL: time.Minute}}}},
	{`{"type":"batch","now":"2026-11-02T09:00:00Z","batch":[{"type":"checkout","request_id":"c1","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme","device":"d1","feature":"cad","ttl":300000000000}},{"type":"remind","now":"2026-11-02T09:00:00Z"}]}`,
		Command{Type: CmdBatch, Batch: []Command{
			{Type: CmdCheckout, RequestID: "c1", Payload: &Checkout{Account: "acme", Device: "d1", Feature: "cad", TTL: 5 * time.Minute}},
			{Type: CmdRemind},
		}}},
}

func TestFormat1EntriesDecode(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range format1Entries {
		got, err := DecodeCommand([]byte(tc.entry))
		if err != nil {
			t.Fatalf("%s: %v", tc.entry, err)
		}
		want := tc.want
		want.Now, want.Format = now, 1
		for i := range want.Batch {
			want.Batch[i].Now, want.Batch[i].Format = now, 1
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("%s\ndecoded to %+v\nwant       %+v", tc.entry, *got, want)
		}
	}
}

// TestDecodingIsStrict: a field the format does not have is refused
// wherever it is, including inside a format 1 group payload.
func TestDecodingIsStrict(t *testing.T) {
	for _, entry := range []string{
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme","device":"d1","feature":"cad","seats":3}}`,
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme"},"extra":1}`,
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","renew":{"account":"acme"}}`,
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme"},"renew":{"account":"acme"}}`,
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme"},"set_pool":{"account":"acme"}}`,
		`{"type":"checkout","now":"2026-11-02T09:00:00Z","checkout":{"account":"acme"},"payload":{"account":"acme"}}`,
		`{"type":"batch","now":"2026-11-02T09:00:00Z","batch":[{"type":"release","now":"2026-11-02T09:00:00Z","release":{"lease_id":1,"force":true}}]}`,
		`{"type":"members","now":"2026-11-02T09:00:00Z","members":{"op":"add_user","account":"acme","nickname":"x"}}`,
		`{"type":"license","now":"2026-11-02T09:00:00Z","license":{"op":"assign","account":"acme","seats":1}}`,
		`{"type":"device_op","now":"2026-11-02T09:00:00Z","device_op":{"account":"acme","device":"d","force":true}}`,
		`{"type":"batch","now":"2026-11-02T09:00:00Z","batch":[{"type":"remind","now":"2026-11-02T09:00:00Z","remind":{}}]}`,
		`{"v":2,"type":"checkout","now":"2026-11-02T09:00:00Z","payload":{"account":"acme"}}`,
		`{"v":2,"type":"device_seen","now":"2026-11-02T09:00:00Z","device_seen":{"account":"acme"}}`,
	} {
		if c, err := DecodeCommand([]byte(entry)); err == nil {
			t.Fatalf("%s decoded to %+v", entry, c)
		}
	}
}

// TestNewerEntriesStop: an entry of a newer format, a type or an operation
// this tallyd does not know is an error naming the upgrade, never a
// silently skipped entry, unless it is marked ignorable.
func TestNewerEntriesStop(t *testing.T) {
	for _, entry := range []string{
		`{"v":3,"type":"checkout","now":"2026-11-02T09:00:00Z","payload":{}}`,
		`{"v":2,"type":"device_signin","now":"2026-11-02T09:00:00Z","payload":{"account":"acme"}}`,
		`{"type":"teleport","now":"2026-11-02T09:00:00Z","teleport":{}}`,
		`{"type":"license","now":"2026-11-02T09:00:00Z","license":{"op":"frobnicate","account":"acme","license_id":"L1"}}`,
		`{"type":"members","now":"2026-11-02T09:00:00Z","members":{"op":"promote","account":"acme"}}`,
		`{"type":"batch","now":"2026-11-02T09:00:00Z","batch":[{"type":"remind","now":"2026-11-02T09:00:00Z"},{"v":9,"type":"x","now":"2026-11-02T09:00:00Z"}]}`,
	} {
		c, err := DecodeCommand([]byte(entry))
		if !errors.Is(err, ErrNewerEntry) {
			t.Fatalf("%s: want ErrNewerEntry, got %+v, %v", entry, c, err)
		}
		if !strings.Contains(err.Error(), "upgrade") || !strings.Contains(err.Error(), "refuses to skip") {
			t.Fatalf("%s: the error does not say what to do: %v", entry, err)
		}
	}
}

// TestIgnorableEntriesAreSkipped: an entry marked ignorable that this node
// cannot read applies as a no-op, alone or inside a batch, and the rest of
// the batch applies.
func TestIgnorableEntriesAreSkipped(t *testing.T) {
	f := newFixture(t, 1, 1)
	before := snapshotWithoutClock(t, f.s)
	c, err := DecodeCommand([]byte(`{"v":7,"ignorable":true,"type":"telemetry","now":"2026-11-02T09:00:00Z","payload":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if sk, ok := c.Payload.(*SkippedEntry); !ok || sk.Format != 7 {
		t.Fatalf("decoded to %+v", c)
	}
	if r := f.apply(*c); r.Error != nil {
		t.Fatalf("a skipped entry answered %v", r.Error)
	}
	if after := snapshotWithoutClock(t, f.s); string(before) != string(after) {
		t.Fatal("a skipped entry changed the ledger")
	}
	b, err := DecodeCommand([]byte(`{"type":"batch","now":"2026-11-02T09:00:00Z","batch":[{"type":"create_account","now":"2026-11-02T09:00:00Z","create_account":{"id":"beta","name":"Beta","model":"floating"}},{"v":7,"ignorable":true,"type":"telemetry","now":"2026-11-02T09:00:00Z","payload":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := f.apply(*b); r.Batch[0].Error != nil || r.Batch[1].Error != nil {
		t.Fatalf("batch: %+v", r)
	}
	if _, ok := f.s.Account("beta"); !ok {
		t.Fatal("the batch's known command was not applied")
	}
}

// TestFormat2Commands: a command registered with since 2 is written in
// the payload form with its version, and read back strictly.
func TestFormat2Commands(t *testing.T) {
	const typ CommandType = "test_format2"
	registry[typ] = command(func(s *State, _ time.Time, p *RemoveNode) Result { return Result{} }, (*RemoveNode).describe, nil)
	sp := registry[typ]
	sp.log.since = 2
	registry[typ] = sp
	defer delete(registry, typ)

	b, err := (&Command{Type: typ, Payload: &RemoveNode{ID: "n9"}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"v":2`) || !strings.Contains(string(b), `"payload":{"id":"n9"}`) {
		t.Fatalf("written as %s", b)
	}
	c, err := DecodeCommand(b)
	if err != nil || PayloadOf[RemoveNode](c).ID != "n9" {
		t.Fatalf("read back as %+v, %v", c, err)
	}
	bad := strings.Replace(string(b), `"id":"n9"`, `"id":"n9","node":"x"`, 1)
	if _, err := DecodeCommand([]byte(bad)); err == nil {
		t.Fatalf("%s decoded", bad)
	}
}

// TestEncodeRefusesMismatchedPayload: a command whose payload belongs to
// another command is a bug caught before it reaches the log.
func TestEncodeRefusesMismatchedPayload(t *testing.T) {
	for _, c := range []Command{
		{Type: CmdCheckout, Payload: &Renew{}},
		{Type: CmdCheckout},
		{Type: CmdMoveSeats, Payload: &MoveSeats{Account: "acme", Device: "d1"}},
		{Type: "teleport", Payload: &Checkout{}},
	} {
		if b, err := c.Encode(); err == nil {
			t.Fatalf("%s with %T encoded as %s", c.Type, c.Payload, b)
		}
	}
}
