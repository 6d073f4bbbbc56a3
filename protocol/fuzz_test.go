package protocol

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
)

// FuzzFrameAllocation is the fuzz target that would have caught issue 13's
// finding 4: a frame header announcing more than the input carries must
// not make the reader allocate what it announces. Memory follows the bytes
// that arrive.
func FuzzFrameAllocation(f *testing.F) {
	f.Add(uint32(MaxFrame), []byte(`{"v":1,`))
	f.Add(uint32(1<<19), []byte{})
	f.Add(uint32(16), []byte(`{"v":1,"type":"x"}`))
	f.Fuzz(func(t *testing.T, announced uint32, body []byte) {
		data := make([]byte, 4, 4+len(body))
		binary.BigEndian.PutUint32(data, announced)
		data = append(data, body...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var r Request
		_ = ReadFrame(bytes.NewReader(data), &r)
		runtime.ReadMemStats(&after)
		// Decoding what did arrive costs a few times its size; the
		// announced length must cost nothing.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64<<10+16*len(data)) {
			t.Fatalf("reading a frame announcing %d bytes with %d present allocated %d bytes", announced, len(body), grew)
		}
	})
}

// FuzzRequestBodies decodes every agent request body type from outside
// input: no input may panic the decoder.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{`{"token":"x","device_code":"A","csr":"AAAA"}`, `{"feature":"cad","wait":"1s","borrow":"24h"}`,
		`{"leases":[{"id":1,"feature":"cad"}]}`, `{"lease_id":3}`, `{}`, `{"email":"a@b"}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	bodies := []func() any{
		func() any { return new(EnrollRequest) }, func() any { return new(CheckoutRequest) },
		func() any { return new(HeartbeatRequest) }, func() any { return new(ReleaseRequest) },
		func() any { return new(ServersRequest) }, func() any { return new(ActivateRequest) },
		func() any { return new(LoginRequest) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range bodies {
			r := Request{V: Version, Type: "fuzz", Body: data}
			_ = r.DecodeBody(mk())
		}
		var resp Response
		_ = ReadFrame(bytes.NewReader(append([]byte{0, 0, 0, byte(min(len(data), 255))}, data...)), &resp)
	})
}
