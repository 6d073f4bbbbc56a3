package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxFrame bounds a frame so that a malformed or hostile length prefix cannot
// make the reader allocate without limit. The largest legitimate message is an
// enrollment with a CSR, a few kilobytes.
const MaxFrame = 1 << 20

// ErrFrameTooLarge is returned for a length prefix above MaxFrame.
var ErrFrameTooLarge = errors.New("frame exceeds the protocol's maximum size")

// framePool holds the buffers WriteFrame encodes into: every request and
// answer on the agent protocol goes through it, and encoding straight after
// a reserved length prefix saves the copy and the two allocations that
// json.Marshal and a separate frame buffer cost.
var framePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledFrame keeps an unusually large frame's buffer (an enrollment)
// out of the pool.
const maxPooledFrame = 16 << 10

// WriteFrame writes v as one length-prefixed JSON frame, in one Write.
func WriteFrame(w io.Writer, v any) error {
	buf := framePool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledFrame {
			buf.Reset()
			framePool.Put(buf)
		}
	}()
	buf.Write([]byte{0, 0, 0, 0})
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	frame := buf.Bytes()
	frame = frame[:len(frame)-1] // Encode's trailing newline
	n := len(frame) - 4
	if n > MaxFrame {
		return ErrFrameTooLarge
	}
	binary.BigEndian.PutUint32(frame, uint32(n))
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one length-prefixed JSON frame into v. Unknown fields are
// ignored so that newer minor versions can add fields.
func ReadFrame(r io.Reader, v any) error { return ReadFrameLimit(r, v, MaxFrame) }

// ReadFrameLimit is ReadFrame for frames of at most limit bytes. The
// payload is read incrementally: memory grows with the bytes that actually
// arrive, never with what the length prefix announces, so a peer announcing
// a large frame and sending nothing costs nothing.
func ReadFrameLimit(r io.Reader, v any, limit uint32) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit || n > MaxFrame {
		return fmt.Errorf("frame of %d bytes (limit %d): %w", n, min(limit, MaxFrame), ErrFrameTooLarge)
	}
	var payload bytes.Buffer
	payload.Grow(int(min(n, 4<<10)))
	if got, err := io.CopyN(&payload, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read frame body (%d of %d bytes): %w", got, n, err)
	}
	if err := json.Unmarshal(payload.Bytes(), v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}

// NewRequest builds a request envelope around body.
func NewRequest(t Type, id string, body any) (*Request, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", t, err)
	}
	return &Request{V: Version, Type: t, ID: id, Body: raw}, nil
}

// DecodeBody decodes a request body, turning any failure into a bad_request
// protocol error that names the request type.
func (r *Request) DecodeBody(v any) error {
	if len(r.Body) == 0 {
		return Errorf(CodeBadRequest, "%s request has no body", r.Type)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return Errorf(CodeBadRequest, "malformed %s request: %v", r.Type, err)
	}
	return nil
}

// OKResponse builds a success envelope.
func OKResponse(body any) (*Response, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return &Response{V: Version, Body: raw}, nil
}

// ErrorResponse builds a failure envelope.
func ErrorResponse(e *Error) *Response { return &Response{V: Version, Error: e} }

// Decode returns the response's error, or decodes its body into v.
func (r *Response) Decode(v any) error {
	if r.Error != nil {
		return r.Error
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return Errorf(CodeBadRequest, "malformed response body: %v", err)
	}
	return nil
}
