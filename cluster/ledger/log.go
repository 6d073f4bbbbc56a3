package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// The Raft log format. A log entry is a JSON object:
//
//	{"v":2, "ignorable":true, "type":"...", "request_id":"...", "now":"...",
//	 "actor":"...", <payload key>: {...}, "batch":[entry, ...]}
//
// "v" is the entry's format, the one a node must read to apply it; absent,
// it is 1. Format 1 is what every release up to 5df91bb wrote: the payload
// sits under a key named after the type ("checkout": {...}), and member,
// license and device seat operations are one "members", "license" or
// "device_op" command with an op field. Commands format 1 knew are still
// written that way, so that a node of the previous release applies them
// during a rolling upgrade and a follower of either release can forward
// them to a leader of the other. Format 2 adds "v", the "ignorable" flag
// and commands of its own, whose payload sits under "payload".
//
// The leader writes the newest format every registered node reads
// (State.ClusterLogFormat, from each node's registration): while one node
// still runs the previous release, entries stay in format 1 and commands
// new in format 2 are refused at proposal (store.Propose). An entry's
// format is also its meaning: Apply gives a format 1 entry the rules of
// format 1 (State.since), so a log written by the previous release replays
// to the ledger that release built.
//
// Decoding is strict: an unknown field anywhere is an error, and so is an
// entry of a newer format or an unknown type, unless it is marked
// ignorable. Every decode error means this node cannot apply the log as
// written; the store stops the node on it rather than skip the entry,
// because skipping would leave this node's ledger different from the
// others'.

// LogFormat is the newest log format this tallyd reads. A command new in a
// release registers since: LogFormat, after raising LogFormat by one if
// the release has not already.
const LogFormat = 2

// ErrNewerEntry is wrapped by the decode error of an entry written for a
// newer tallyd (a newer format or a command type this one does not know).
var ErrNewerEntry = errors.New("log entry needs a newer tallyd")

// EntryError is a log entry this node does not understand.
type EntryError struct {
	Type   CommandType
	Format int
	Reason string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("log entry of type %q (format %d) %s; this tallyd reads log formats up to %d: upgrade it to the release that wrote the entry, it refuses to skip it", e.Type, e.Format, e.Reason, LogFormat)
}

func (e *EntryError) Unwrap() error { return ErrNewerEntry }

// SkippedEntry is the payload of an entry this node did not understand but
// which was marked ignorable: applying it changes nothing here.
type SkippedEntry struct {
	Format int
	Reason string
}

// entryHeader is the part of an entry every format shares.
type entryHeader struct {
	V         int         `json:"v,omitempty"`
	Ignorable bool        `json:"ignorable,omitempty"`
	Type      CommandType `json:"type"`
	RequestID string      `json:"request_id,omitempty"`
	Now       time.Time   `json:"now"`
	Actor     string      `json:"actor,omitempty"`
}

// Encode serialises a command in the oldest format that holds it: what a
// node of any release since 5df91bb reads (a follower forwarding to the
// leader uses it).
func (c *Command) Encode() ([]byte, error) { return c.EncodeAt(1) }

// EncodeAt serialises a command for a log every node of which reads format
// (State.ClusterLogFormat): each entry is written in format, or in the
// format that introduced its command if that is newer.
func (c *Command) EncodeAt(format int) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeEntry(&buf, c, format); err != nil {
		return nil, fmt.Errorf("encode %s command: %w", c.Type, err)
	}
	return buf.Bytes(), nil
}

// MinFormat is the oldest log format that holds c (the newest that
// introduced one of its commands); a leader of a cluster that does not
// read it yet must not propose it.
func (c *Command) MinFormat() int {
	f := 1
	if sp, ok := registry[c.Type]; ok {
		f = sp.log.since
	}
	for i := range c.Batch {
		f = max(f, c.Batch[i].MinFormat())
	}
	return f
}

// MarshalJSON writes the log format, which is also what a follower
// forwards to the leader.
func (c Command) MarshalJSON() ([]byte, error) { return c.Encode() }

// UnmarshalJSON reads the log format (any version this tallyd reads).
func (c *Command) UnmarshalJSON(b []byte) error {
	d, err := DecodeCommand(b)
	if err != nil {
		return err
	}
	*c = *d
	return nil
}

func encodeEntry(buf *bytes.Buffer, c *Command, format int) error {
	h := entryHeader{Type: c.Type, RequestID: c.RequestID, Now: c.Now, Actor: c.Actor}
	if format > 1 {
		h.V = format
	}
	var key string
	var payload []byte
	if c.Type != CmdBatch {
		sp, ok := registry[c.Type]
		if !ok {
			return fmt.Errorf("unknown command type %q", c.Type)
		}
		if sp.payload != nil {
			if want := reflect.TypeOf(sp.payload()); c.Payload == nil || reflect.TypeOf(c.Payload) != want {
				return fmt.Errorf("%s command carries a %T payload, want %v", c.Type, c.Payload, want)
			}
			var err error
			if payload, err = json.Marshal(c.Payload); err != nil {
				return err
			}
		}
		h.Ignorable = sp.log.ignorable
		key = string(c.Type)
		switch {
		case sp.log.since > 1:
			h.V, key = max(h.V, sp.log.since), "payload"
		case sp.log.group != "":
			if m, ok := c.Payload.(*MoveSeats); ok && m.To == "" {
				// Format 1 tells a move from a free by its target.
				return fmt.Errorf("a move of seats needs the target device")
			}
			h.Type, key = sp.log.group, string(sp.log.group)
			payload = withGroupOp(payload, c.Type, sp.log.op)
		}
	}
	head, err := json.Marshal(h)
	if err != nil {
		return err
	}
	buf.Write(head[:len(head)-1])
	if payload != nil {
		fmt.Fprintf(buf, ",%q:", key)
		buf.Write(payload)
	}
	if len(c.Batch) > 0 {
		buf.WriteString(`,"batch":[`)
		for i := range c.Batch {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeEntry(buf, &c.Batch[i], format); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return nil
}

// withGroupOp adds to a payload object what format 1 told its group's
// operations apart by: the op field, or device_op's remove flag.
func withGroupOp(payload []byte, t CommandType, op string) []byte {
	field := ""
	switch {
	case op != "":
		field = fmt.Sprintf("%q:%q", "op", op)
	case t == CmdRemoveDevice:
		field = `"remove":true`
	default:
		return payload
	}
	out := append([]byte{'{'}, field...)
	if len(payload) > 2 {
		out = append(out, ',')
	}
	return append(out, payload[1:]...)
}

// DecodeCommand parses a log entry of any format this tallyd reads.
func DecodeCommand(b []byte) (*Command, error) {
	// The fast path reads the whole entry, batch and all, in one strict
	// pass over the known fields. An entry with a field this release does
	// not know (a newer format, perhaps ignorable) takes the field-by-field
	// path, which can tell the two apart.
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err == nil && !dec.More() {
		c, err := w.command()
		if err != nil {
			return nil, fmt.Errorf("decode log entry: %w", err)
		}
		return c, nil
	}
	c, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("decode log entry: %w", err)
	}
	return c, nil
}

// wireEntry is a log entry with every field the formats this release reads
// may hold; the payloads stay raw until the type says what they are.
type wireEntry struct {
	V         int             `json:"v"`
	Ignorable bool            `json:"ignorable"`
	Type      CommandType     `json:"type"`
	RequestID string          `json:"request_id"`
	Now       time.Time       `json:"now"`
	Actor     string          `json:"actor"`
	Payload   json.RawMessage `json:"payload"`
	Batch     []wireEntry     `json:"batch"`
	format1Payloads
}

func (w *wireEntry) command() (*Command, error) {
	h := entryHeader{V: w.V, Ignorable: w.Ignorable, Type: w.Type, RequestID: w.RequestID, Now: w.Now, Actor: w.Actor}
	if h.V == 0 {
		h.V = 1
	}
	c := &Command{Type: h.Type, RequestID: h.RequestID, Now: h.Now, Actor: h.Actor, Format: h.V}
	if w.Batch != nil {
		c.Batch = make([]Command, len(w.Batch))
		for i := range w.Batch {
			d, err := w.Batch[i].command()
			if err != nil {
				return nil, fmt.Errorf("batch entry %d: %w", i, err)
			}
			c.Batch[i] = *d
		}
	}
	if key, p, ok := w.lease(); ok && string(c.Type) == key && w.Payload == nil && h.V <= LogFormat {
		c.Payload = p // the common case: a lease command, decoded with the entry
		return c, nil
	}
	fields := w.present()
	if w.Payload != nil {
		fields["payload"] = w.Payload
	}
	return payloadOrSkip(c, h, fields)
}

func decodeEntry(b []byte) (*Command, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	var h entryHeader
	for _, k := range []string{"v", "ignorable", "type", "request_id", "now", "actor"} {
		raw, ok := fields[k]
		if !ok {
			continue
		}
		delete(fields, k)
		if err := json.Unmarshal(raw, h.field(k)); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
	}
	if h.V == 0 {
		h.V = 1
	}
	c := &Command{Type: h.Type, RequestID: h.RequestID, Now: h.Now, Actor: h.Actor, Format: h.V}
	if raw, ok := fields["batch"]; ok {
		delete(fields, "batch")
		var children []json.RawMessage
		if err := json.Unmarshal(raw, &children); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		c.Batch = make([]Command, len(children))
		for i, child := range children {
			d, err := decodeEntry(child)
			if err != nil {
				return nil, fmt.Errorf("batch entry %d: %w", i, err)
			}
			c.Batch[i] = *d
		}
	}
	return payloadOrSkip(c, h, fields)
}

// payloadOrSkip decodes c's payload from the entry's remaining fields. An
// entry its writer marked ignorable that this release cannot read (a
// command it does not know) becomes a SkippedEntry instead of an error.
func payloadOrSkip(c *Command, h entryHeader, fields map[string]json.RawMessage) (*Command, error) {
	if err := decodePayload(c, h, fields); err != nil {
		var ee *EntryError
		if h.Ignorable && errors.As(err, &ee) {
			c.Payload = &SkippedEntry{Format: h.V, Reason: ee.Reason}
			return c, nil
		}
		return nil, err
	}
	return c, nil
}

func (h *entryHeader) field(k string) any {
	switch k {
	case "v":
		return &h.V
	case "ignorable":
		return &h.Ignorable
	case "type":
		return &h.Type
	case "request_id":
		return &h.RequestID
	case "now":
		return &h.Now
	}
	return &h.Actor
}

// decodePayload decodes what is left of an entry once its header is read:
// the payload, under the key its format puts it.
func decodePayload(c *Command, h entryHeader, fields map[string]json.RawMessage) error {
	if h.V > LogFormat {
		return &EntryError{Type: h.Type, Format: h.V, Reason: "is newer than this tallyd"}
	}
	if c.Type == CmdBatch {
		return noOtherFields(c.Type, fields)
	}
	sp, known := registry[c.Type]
	group := groupOf(c.Type)
	if !known && group == nil {
		return &EntryError{Type: c.Type, Format: h.V, Reason: "has a type this tallyd does not know"}
	}
	// Commands format 1 knew keep its key; later ones use "payload".
	key := string(c.Type)
	if known && sp.log.since > 1 {
		key = "payload"
	}
	raw, hasPayload := fields[key]
	delete(fields, key)
	if err := noOtherFields(c.Type, fields); err != nil {
		return err
	}
	if group != nil {
		return decodeGroupOp(c, raw, group)
	}
	if sp.log.since > h.V || sp.log.group != "" {
		return &EntryError{Type: c.Type, Format: h.V, Reason: "has a type this tallyd does not know"}
	}
	if !hasPayload {
		return nil // a payload-less command; apply refuses one that needs a payload
	}
	if sp.payload == nil {
		return fmt.Errorf("a %s entry carries a payload, but the command takes none", c.Type)
	}
	by := ""
	if sp.log.legacyBy && h.V == 1 {
		var err error
		if raw, by, err = withoutBy(raw); err != nil {
			return fmt.Errorf("%s payload: %w", c.Type, err)
		}
	}
	p := sp.payload()
	if err := strictDecode(raw, p); err != nil {
		return fmt.Errorf("%s payload: %w", c.Type, err)
	}
	c.Payload = p
	if sp.log.byIsActor && c.Actor == "" {
		c.Actor = by
	}
	return nil
}

func noOtherFields(t CommandType, fields map[string]json.RawMessage) error {
	for k := range fields {
		return fmt.Errorf("unknown field %q in a %s entry", k, t)
	}
	return nil
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the payload")
	}
	return nil
}

// withoutBy removes format 1's "by" field from a payload object.
func withoutBy(raw []byte) ([]byte, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", err
	}
	b, ok := m["by"]
	if !ok {
		return raw, "", nil
	}
	var by string
	if err := json.Unmarshal(b, &by); err != nil {
		return nil, "", fmt.Errorf("field \"by\": %w", err)
	}
	delete(m, "by")
	out, err := json.Marshal(m)
	return out, by, err
}
