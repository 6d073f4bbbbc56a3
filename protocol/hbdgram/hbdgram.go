// Package hbdgram is the datagram heartbeat: one authenticated UDP datagram
// that asks a node "do I still hold all of these?" and one that answers
// "yes, all still held" (or "ask over QUIC"). It is the steady state of an
// idle device, which otherwise pays a resumed QUIC connection per heartbeat.
//
// A node hands a device a session (key ID and 32-byte key, both random,
// kept in the node's memory only) in the answer to a heartbeat over mutual
// TLS. A datagram is
//
//	type (1 byte) | key ID (8) | counter (8, big endian) | AES-256-GCM sealed payload
//
// with the 17-byte header as associated data and the counter as the nonce
// (4 bytes of direction, 8 of counter). The counter is strictly increasing
// per session; the node drops any counter it has seen, so a datagram cannot
// be replayed, and a reply reuses its request's counter under the other
// direction's nonce. The type byte has bits 0x80 and 0x40 clear, so that
// quic-go hands the packet to Transport.ReadNonQUICPacket on the QUIC port.
//
// Nothing in a datagram grants, renews or releases: those stay on QUIC.
//
// Design: docs/performance.md#the-heartbeat-budget.
package hbdgram

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet types. Values below 0x40 are never QUIC packets (quic-go reads a
// first byte with 0x40 or 0x80 set as QUIC).
const (
	TypeRequest byte = 0x01
	TypeReply   byte = 0x02
)

// Sizes.
const (
	KeyIDSize  = 8
	KeySize    = 32
	HeaderSize = 1 + KeyIDSize + 8
	TagSize    = 16
	// MaxSize keeps a datagram within the smallest UDP payload QUIC
	// itself assumes every path carries.
	MaxSize = 1200
	// MaxSignInID is the longest sign-in ID a request can carry.
	MaxSignInID = 255
	// requestPad is added to every request so that the reply to it (which
	// carries the server time the request lacks) is never larger: a node
	// never amplifies.
	requestPad = 8
)

// Status is what a reply says.
type Status byte

const (
	// StatusOK: every lease listed is held and needs no renewal, every
	// sign-in stands, and the device's view (interval, policy, servers)
	// is current.
	StatusOK Status = 1
	// StatusQUIC: something needs more than "yes": heartbeat over QUIC now.
	StatusQUIC Status = 2
)

// Errors a datagram is dropped for.
var (
	ErrMalformed = errors.New("hbdgram: malformed datagram")
	ErrTooLarge  = errors.New("hbdgram: request does not fit in one datagram")
	ErrForged    = errors.New("hbdgram: datagram does not authenticate")
)

// KeyID names a session.
type KeyID [KeyIDSize]byte

// Request is what a device asks about.
type Request struct {
	Leases  []uint64
	SignIns []string
}

// Reply is a node's answer. Expires is, for StatusOK, each requested
// lease's horizon (Unix nanoseconds) in request order.
type Reply struct {
	Status     Status
	ServerTime int64 // Unix nanoseconds
	Expires    []int64
}

// NewAEAD returns the session's cipher for key (KeySize bytes).
func NewAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("hbdgram: key is %d bytes, want %d", len(key), KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("hbdgram: %w", err)
	}
	return cipher.NewGCM(b)
}

// Header is a datagram's clear part.
type Header struct {
	Type    byte
	KeyID   KeyID
	Counter uint64
}

// ParseHeader reads the clear header of b, checking only its shape.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize+TagSize || len(b) > MaxSize {
		return Header{}, ErrMalformed
	}
	var h Header
	h.Type = b[0]
	copy(h.KeyID[:], b[1:1+KeyIDSize])
	h.Counter = binary.BigEndian.Uint64(b[1+KeyIDSize : HeaderSize])
	if (h.Type != TypeRequest && h.Type != TypeReply) || h.Counter == 0 {
		return Header{}, ErrMalformed
	}
	return h, nil
}

func nonce(typ byte, counter uint64) []byte {
	var n [12]byte
	n[3] = typ
	binary.BigEndian.PutUint64(n[4:], counter)
	return n[:]
}

func appendHeader(dst []byte, h Header) []byte {
	dst = append(dst, h.Type)
	dst = append(dst, h.KeyID[:]...)
	return binary.BigEndian.AppendUint64(dst, h.Counter)
}

// seal appends the sealed datagram to dst.
func seal(dst []byte, aead cipher.AEAD, h Header, plain []byte) []byte {
	start := len(dst)
	dst = appendHeader(dst, h)
	return aead.Seal(dst, nonce(h.Type, h.Counter), plain, dst[start:])
}

// open authenticates b (whose header is h) and returns its plaintext,
// decrypted in place.
func open(aead cipher.AEAD, h Header, b []byte) ([]byte, error) {
	plain, err := aead.Open(b[HeaderSize:HeaderSize], nonce(h.Type, h.Counter), b[HeaderSize:], b[:HeaderSize])
	if err != nil {
		return nil, ErrForged
	}
	return plain, nil
}

// AppendRequest appends the sealed request datagram to dst. It fails with
// ErrTooLarge when the request does not fit (the device then heartbeats
// over QUIC).
func AppendRequest(dst []byte, aead cipher.AEAD, id KeyID, counter uint64, req Request) ([]byte, error) {
	if counter == 0 {
		return nil, errors.New("hbdgram: counter starts at 1")
	}
	if len(req.Leases) > 255 || len(req.SignIns) > 255 {
		return nil, ErrTooLarge
	}
	size := 2 + 8*len(req.Leases) + requestPad
	for _, s := range req.SignIns {
		if len(s) > MaxSignInID {
			return nil, ErrTooLarge
		}
		size += 1 + len(s)
	}
	if HeaderSize+size+TagSize > MaxSize {
		return nil, ErrTooLarge
	}
	plain := make([]byte, 0, size)
	plain = append(plain, byte(len(req.Leases)))
	for _, l := range req.Leases {
		plain = binary.BigEndian.AppendUint64(plain, l)
	}
	plain = append(plain, byte(len(req.SignIns)))
	for _, s := range req.SignIns {
		plain = append(plain, byte(len(s)))
		plain = append(plain, s...)
	}
	plain = append(plain, make([]byte, requestPad)...)
	return seal(dst, aead, Header{TypeRequest, id, counter}, plain), nil
}

// OpenRequest authenticates and decodes a request datagram whose header h
// was read with ParseHeader. b is decrypted in place.
func OpenRequest(aead cipher.AEAD, h Header, b []byte) (Request, error) {
	if h.Type != TypeRequest {
		return Request{}, ErrMalformed
	}
	plain, err := open(aead, h, b)
	if err != nil {
		return Request{}, err
	}
	return decodeRequest(plain)
}

func decodeRequest(p []byte) (Request, error) {
	var req Request
	if len(p) < 1 {
		return req, ErrMalformed
	}
	n := int(p[0])
	p = p[1:]
	if len(p) < 8*n+1 {
		return req, ErrMalformed
	}
	req.Leases = make([]uint64, n)
	for i := range n {
		req.Leases[i] = binary.BigEndian.Uint64(p[8*i:])
	}
	p = p[8*n:]
	m := int(p[0])
	p = p[1:]
	for range m {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return Request{}, ErrMalformed
		}
		req.SignIns = append(req.SignIns, string(p[1:1+int(p[0])]))
		p = p[1+int(p[0]):]
	}
	if len(p) != requestPad {
		return Request{}, ErrMalformed
	}
	return req, nil
}

// AppendReply appends the sealed reply to the request with header req.
func AppendReply(dst []byte, aead cipher.AEAD, req Header, r Reply) []byte {
	plain := make([]byte, 0, 10+8*len(r.Expires))
	plain = append(plain, byte(r.Status))
	plain = binary.BigEndian.AppendUint64(plain, uint64(r.ServerTime))
	plain = append(plain, byte(len(r.Expires)))
	for _, e := range r.Expires {
		plain = binary.BigEndian.AppendUint64(plain, uint64(e))
	}
	return seal(dst, aead, Header{TypeReply, req.KeyID, req.Counter}, plain)
}

// OpenReply authenticates and decodes a reply datagram (header h). b is
// decrypted in place.
func OpenReply(aead cipher.AEAD, h Header, b []byte) (Reply, error) {
	if h.Type != TypeReply {
		return Reply{}, ErrMalformed
	}
	p, err := open(aead, h, b)
	if err != nil {
		return Reply{}, err
	}
	if len(p) < 10 {
		return Reply{}, ErrMalformed
	}
	r := Reply{Status: Status(p[0]), ServerTime: int64(binary.BigEndian.Uint64(p[1:]))}
	n := int(p[9])
	p = p[10:]
	if len(p) != 8*n || (r.Status != StatusOK && r.Status != StatusQUIC) {
		return Reply{}, ErrMalformed
	}
	for i := range n {
		r.Expires = append(r.Expires, int64(binary.BigEndian.Uint64(p[8*i:])))
	}
	return r, nil
}
