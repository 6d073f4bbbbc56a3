package hbdgram

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
)

func testAEAD(t testing.TB) ([]byte, KeyID) {
	key := make([]byte, KeySize)
	rand.Read(key)
	var id KeyID
	rand.Read(id[:])
	return key, id
}

func TestRequestAndReplyRoundTrip(t *testing.T) {
	key, id := testAEAD(t)
	aead, err := NewAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Leases: []uint64{1, 1 << 40, 7}, SignIns: []string{"si_abc", "si_def"}}
	pkt, err := AppendRequest(nil, aead, id, 42, req)
	if err != nil {
		t.Fatal(err)
	}
	if pkt[0]&0xc0 != 0 {
		t.Fatalf("first byte %#x would be read as QUIC", pkt[0])
	}
	h, err := ParseHeader(pkt)
	if err != nil || h.Type != TypeRequest || h.KeyID != id || h.Counter != 42 {
		t.Fatalf("header %+v, %v", h, err)
	}
	got, err := OpenRequest(aead, h, bytes.Clone(pkt))
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("request %+v, %v; want %+v", got, err, req)
	}
	rep := Reply{Status: StatusOK, ServerTime: 1234567890123, Expires: []int64{5, 6, 7}}
	rpkt := AppendReply(nil, aead, h, rep)
	if len(rpkt) > len(pkt) {
		t.Fatalf("reply %d bytes, request %d: a node must never amplify", len(rpkt), len(pkt))
	}
	rh, err := ParseHeader(rpkt)
	if err != nil || rh.Type != TypeReply || rh.Counter != 42 {
		t.Fatalf("reply header %+v, %v", rh, err)
	}
	gotRep, err := OpenReply(aead, rh, rpkt)
	if err != nil || !reflect.DeepEqual(gotRep, rep) {
		t.Fatalf("reply %+v, %v; want %+v", gotRep, err, rep)
	}
}

// A reply is never larger than its request, whatever the request holds.
func TestReplyNeverLargerThanRequest(t *testing.T) {
	key, id := testAEAD(t)
	aead, _ := NewAEAD(key)
	for n := 0; n < 140; n += 7 {
		req := Request{Leases: make([]uint64, n)}
		pkt, err := AppendRequest(nil, aead, id, 1, req)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(pkt)
		rep := AppendReply(nil, aead, h, Reply{Status: StatusOK, Expires: make([]int64, n)})
		if len(rep) > len(pkt) {
			t.Fatalf("%d leases: reply %d > request %d", n, len(rep), len(pkt))
		}
	}
}

func TestTooManyLeasesForOneDatagram(t *testing.T) {
	key, id := testAEAD(t)
	aead, _ := NewAEAD(key)
	if _, err := AppendRequest(nil, aead, id, 1, Request{Leases: make([]uint64, 200)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("200 leases: %v, want ErrTooLarge", err)
	}
	pkt, err := AppendRequest(nil, aead, id, 1, Request{Leases: make([]uint64, 140)})
	if err != nil || len(pkt) > MaxSize {
		t.Fatalf("140 leases: %d bytes, %v", len(pkt), err)
	}
}

// Every single-bit change, a wrong key and a swapped direction fail to
// authenticate.
func TestTamperedDatagramsDoNotAuthenticate(t *testing.T) {
	key, id := testAEAD(t)
	aead, _ := NewAEAD(key)
	pkt, _ := AppendRequest(nil, aead, id, 9, Request{Leases: []uint64{3}})
	for i := range len(pkt) * 8 {
		b := bytes.Clone(pkt)
		b[i/8] ^= 1 << (i % 8)
		h, err := ParseHeader(b)
		if err != nil {
			continue
		}
		if _, err := OpenRequest(aead, h, b); err == nil {
			t.Fatalf("bit %d flipped: still authenticates", i)
		}
	}
	other, _ := testAEAD(t)
	oaead, _ := NewAEAD(other)
	h, _ := ParseHeader(pkt)
	if _, err := OpenRequest(oaead, h, bytes.Clone(pkt)); !errors.Is(err, ErrForged) {
		t.Fatalf("wrong key: %v", err)
	}
	// A request turned into a "reply" by its type byte does not open.
	b := bytes.Clone(pkt)
	b[0] = TypeReply
	h, _ = ParseHeader(b)
	if _, err := OpenReply(aead, h, b); err == nil {
		t.Fatal("a request read as a reply authenticates")
	}
}

func TestParseHeaderRefusesBadShapes(t *testing.T) {
	for _, b := range [][]byte{nil, {TypeRequest}, make([]byte, HeaderSize+TagSize-1), make([]byte, MaxSize+1)} {
		if _, err := ParseHeader(b); err == nil {
			t.Errorf("%d bytes parsed", len(b))
		}
	}
	b := make([]byte, HeaderSize+TagSize)
	b[0] = 0x41 // a QUIC short header
	b[len(b)-1] = 1
	if _, err := ParseHeader(b); err == nil {
		t.Error("QUIC first byte parsed")
	}
}

// FuzzDatagram feeds the node's decoder arbitrary datagrams: it must never
// panic, and whatever authenticates must decode to what was sealed.
func FuzzDatagram(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	aead, _ := NewAEAD(key)
	id := KeyID{1, 2, 3, 4, 5, 6, 7, 8}
	seed, _ := AppendRequest(nil, aead, id, 5, Request{Leases: []uint64{1, 2}, SignIns: []string{"x"}})
	f.Add(seed)
	h, _ := ParseHeader(seed)
	f.Add(AppendReply(nil, aead, h, Reply{Status: StatusOK, Expires: []int64{1, 2}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		c := bytes.Clone(b)
		if h.Type == TypeRequest {
			req, err := OpenRequest(aead, h, c)
			if err != nil {
				_, _ = decodeRequest(b[HeaderSize:]) // the plaintext decoder alone
				return
			}
			again, err := AppendRequest(nil, aead, h.KeyID, h.Counter, req)
			if err == nil && !bytes.Equal(again, b) {
				t.Fatalf("request re-encodes differently")
			}
			return
		}
		_, _ = OpenReply(aead, h, c)
	})
}
