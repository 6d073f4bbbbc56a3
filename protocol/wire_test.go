package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	req, err := NewRequest(TypeCheckout, "r1", CheckoutRequest{Feature: "cad", Wait: Duration(90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, req); err != nil {
		t.Fatal(err)
	}
	var got Request
	if err := ReadFrame(&buf, &got); err != nil {
		t.Fatal(err)
	}
	var body CheckoutRequest
	if err := got.DecodeBody(&body); err != nil {
		t.Fatal(err)
	}
	if got.V != Version || got.Type != TypeCheckout || got.ID != "r1" || body.Feature != "cad" || body.Wait.D() != 90*time.Second {
		t.Fatalf("round trip: %+v %+v", got, body)
	}
}

func TestReadFrameRejects(t *testing.T) {
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	if err := ReadFrame(bytes.NewReader(huge), &Request{}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	short := []byte{0, 0, 0, 10, '{'}
	if err := ReadFrame(bytes.NewReader(short), &Request{}); err == nil {
		t.Fatal("truncated frame accepted")
	}
	bad := append([]byte{0, 0, 0, 3}, "{x}"...)
	if err := ReadFrame(bytes.NewReader(bad), &Request{}); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	if err := ReadFrame(bytes.NewReader(nil), &Request{}); err == nil {
		t.Fatal("empty stream accepted")
	}
}

func TestDecodeBodyNamesTheRequest(t *testing.T) {
	r := &Request{V: Version, Type: TypeRelease, Body: []byte(`{"lease_id":"x"}`)}
	err := r.DecodeBody(&ReleaseRequest{})
	if CodeOf(err) != CodeBadRequest {
		t.Fatalf("got %v", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("release")) {
		t.Fatalf("error does not name the request: %v", err)
	}
	var d Duration
	if err := d.UnmarshalJSON([]byte(`"soon"`)); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestErrorMatching(t *testing.T) {
	err := error(Errorf(CodeNoSeat, "all 2 seats in use"))
	if !errors.Is(err, &Error{Code: CodeNoSeat}) || errors.Is(err, &Error{Code: CodeUnknownFeature}) {
		t.Fatal("errors.Is does not match on code")
	}
	if CodeOf(errors.New("plain")) != "" || !CodeNotLeader.Temporary() || CodeNoSeat.Temporary() {
		t.Fatal("CodeOf/Temporary")
	}
	if CodeNoSeat.HTTPStatus() != 409 || CodeUnauthorized.HTTPStatus() != 401 || Code("zzz").HTTPStatus() != 500 {
		t.Fatal("HTTP status mapping")
	}
}

// FuzzReadFrame: no input makes the reader panic or allocate past MaxFrame.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	req, _ := NewRequest(TypeHeartbeat, "x", HeartbeatRequest{Leases: []LeaseRef{{ID: 1}}})
	WriteFrame(&buf, req)
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		if err := ReadFrame(bytes.NewReader(data), &r); err == nil {
			var body HeartbeatRequest
			_ = r.DecodeBody(&body)
		}
	})
}

func BenchmarkFrameRoundTrip(b *testing.B) {
	req, _ := NewRequest(TypeHeartbeat, "0123456789abcdef", HeartbeatRequest{Leases: []LeaseRef{{ID: 1, Feature: "cad"}, {ID: 2, Feature: "cam"}}})
	var buf bytes.Buffer
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := WriteFrame(&buf, req); err != nil {
			b.Fatal(err)
		}
		var r Request
		if err := ReadFrame(&buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}
