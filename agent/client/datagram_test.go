package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// datagramPeer is a UDP socket standing in for a node's agent port: the
// test reads each datagram heartbeat and decides what comes back.
type datagramPeer struct {
	t    *testing.T
	conn *net.UDPConn
	key  []byte
	id   hbdgram.KeyID
}

func newDatagramPeer(t *testing.T) *datagramPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &datagramPeer{t: t, conn: conn, key: make([]byte, hbdgram.KeySize)}
	rand.Read(p.key)
	rand.Read(p.id[:])
	return p
}

// read returns the next request's header and lease IDs and where from.
func (p *datagramPeer) read() (hbdgram.Header, hbdgram.Request, net.Addr) {
	p.t.Helper()
	buf := make([]byte, 2048)
	n, from, err := p.conn.ReadFrom(buf)
	if err != nil {
		p.t.Fatal(err)
	}
	h, err := hbdgram.ParseHeader(buf[:n])
	if err != nil {
		p.t.Fatal(err)
	}
	aead, _ := hbdgram.NewAEAD(p.key)
	req, err := hbdgram.OpenRequest(aead, h, buf[:n])
	if err != nil {
		p.t.Fatal(err)
	}
	return h, req, from
}

func (p *datagramPeer) reply(key []byte, h hbdgram.Header, to net.Addr, r hbdgram.Reply) {
	aead, _ := hbdgram.NewAEAD(key)
	p.conn.WriteTo(hbdgram.AppendReply(nil, aead, h, r), to)
}

// clientWithSession is a client that holds a session with the peer, as
// after a QUIC heartbeat answered by it.
func clientWithSession(t *testing.T, p *datagramPeer) *Client {
	c, err := New([]string{p.conn.LocalAddr().String()}, &tls.Config{RootCAs: x509.NewCertPool()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	addr := p.conn.LocalAddr().String()
	c.mu.Lock()
	c.last = addr
	c.mu.Unlock()
	c.noteSession(addr, &protocol.HeartbeatResponse{Session: &protocol.HeartbeatSession{KeyID: p.id[:], Key: p.key}})
	return c
}

// A reply that does not authenticate with the session's key (someone
// else's, or forged from a spoofed address) is ignored; the genuine one is
// taken; "ask over QUIC" is ErrAskQUIC; no session is ErrNoSession.
func TestQuickHeartbeatTakesOnlyAuthenticatedAnswers(t *testing.T) {
	p := newDatagramPeer(t)
	c := clientWithSession(t, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h, req, from := p.read()
		if len(req.Leases) != 2 || req.Leases[0] != 7 || len(req.SignIns) != 1 {
			t.Errorf("request %+v", req)
		}
		other := make([]byte, hbdgram.KeySize)
		p.reply(other, h, from, hbdgram.Reply{Status: hbdgram.StatusOK, ServerTime: 1, Expires: []int64{666, 666}})
		p.reply(p.key, h, from, hbdgram.Reply{Status: hbdgram.StatusOK, ServerTime: 2e18, Expires: []int64{1e18, 2e18}})
	}()
	ans, err := c.QuickHeartbeat(context.Background(), []uint64{7, 8}, []string{"si"})
	<-done
	if err != nil || len(ans.Expires) != 2 || ans.Expires[0].UnixNano() != 1e18 || ans.ServerTime.UnixNano() != 2e18 {
		t.Fatalf("answer %+v, %v; want the authenticated one", ans, err)
	}

	go func() {
		h, _, from := p.read()
		p.reply(p.key, h, from, hbdgram.Reply{Status: hbdgram.StatusQUIC, ServerTime: 3})
	}()
	if _, err := c.QuickHeartbeat(context.Background(), []uint64{7, 8}, nil); !errors.Is(err, ErrAskQUIC) {
		t.Fatalf("ask over QUIC: %v", err)
	}

	// No answer at all (a node that restarted): the session is dropped and
	// the caller goes to QUIC, which will bring a new one.
	go func() { p.read(); p.read() }() // the datagram and its one retry
	if _, err := c.QuickHeartbeat(context.Background(), []uint64{7}, nil); err == nil {
		t.Fatal("an unanswered datagram heartbeat succeeded")
	}
	if c.HasSession() {
		t.Fatal("the unanswered session is still used")
	}
	if _, err := c.QuickHeartbeat(context.Background(), []uint64{7}, nil); !errors.Is(err, ErrNoSession) {
		t.Fatalf("without a session: %v", err)
	}
}
