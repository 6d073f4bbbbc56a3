package ledger

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeCommand: a log entry (or a forwarded command) that decodes is
// applied without panicking, and decoding never panics.
func FuzzDecodeCommand(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []Command{
		{Type: CmdCheckout, RequestID: "r", Now: t0, Payload: &Checkout{Account: "a", Device: "d", Feature: "f"}},
		{Type: CmdSignInBrake, Now: t0, Payload: &SignInBrake{Fail: []string{"member:a\x00b"}}},
		{Type: CmdCreateEnrollToken, Now: t0, Payload: &EnrollToken{ID: "e", Account: "a", Hash: "h", Expires: t0.Add(time.Hour), MaxUses: 2}},
		{Type: CmdBatch, Now: t0, Batch: []Command{{Type: CmdRelease, Now: t0, Payload: &Release{Account: "a", Device: "d", LeaseID: 1}}}},
	} {
		if b, err := c.Encode(); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"members","op":"add_user","members":{}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil || c == nil {
			return
		}
		s := New()
		s.Apply(1, c)
	})
}

// FuzzReadSnapshot: a snapshot (installed from a peer, or a backup being
// restored) never panics the reader, and one it accepts writes back.
func FuzzReadSnapshot(f *testing.F) {
	s := New()
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"version":1,"accounts":[null],"leases":[{"id":1}]}`))
	f.Add([]byte(`{"version":1,"brake":[{"key":"k","failures":3}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := New()
		if err := st.ReadSnapshot(bytes.NewReader(data)); err != nil {
			return
		}
		var out bytes.Buffer
		_ = st.WriteSnapshot(&out)
	})
}
