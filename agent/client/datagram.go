package client

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// The datagram heartbeat (protocol/hbdgram): a node's answer to a heartbeat
// over QUIC carries a session, and while the agent holds one for the server
// it would use next, a heartbeat with nothing to renew is one datagram each
// way instead of a resumed QUIC connection. Sessions live in this process's
// memory only. Any answer but "all still held" — "ask over QUIC", no answer
// in time, no session — leaves the heartbeat to QUIC (the caller's Do).

// DatagramTimeout is how long a datagram heartbeat waits for its answer
// before it is sent once more; after a second wait the caller heartbeats
// over QUIC. A node that restarted (and forgot its sessions) or died costs
// an idle agent at most twice this before its QUIC heartbeat.
const DatagramTimeout = 300 * time.Millisecond

// Errors of QuickHeartbeat, after which the caller heartbeats over QUIC.
var (
	ErrNoSession = errors.New("no datagram heartbeat session with this server")
	ErrAskQUIC   = errors.New("the server asks for this heartbeat over QUIC")
)

// QuickAnswer is a datagram heartbeat's "all still held": the server time
// and each lease's expiry, in the order asked.
type QuickAnswer struct {
	Addr       string
	ServerTime time.Time
	Expires    []time.Time
}

type hbSession struct {
	mu      sync.Mutex // one datagram exchange at a time
	id      hbdgram.KeyID
	aead    cipher.AEAD
	counter uint64
}

// WithDatagramSocket sends datagram heartbeats from ds, shared with other
// clients (the load generator's thousands of devices), instead of a socket
// of the client's own.
func WithDatagramSocket(ds *DatagramSocket) Option {
	return func(c *Client) { c.dgram, c.dgramShared = ds, true }
}

// noteSession keeps the datagram heartbeat session an answer from addr
// carries, replacing the previous one for that server.
func (c *Client) noteSession(addr string, out any) {
	resp, ok := out.(*protocol.HeartbeatResponse)
	if !ok || resp.Session == nil {
		return
	}
	hs := resp.Session
	resp.Session = nil // nobody else needs the key
	if len(hs.KeyID) != hbdgram.KeyIDSize {
		return
	}
	aead, err := hbdgram.NewAEAD(hs.Key)
	if err != nil {
		return
	}
	s := &hbSession{aead: aead}
	copy(s.id[:], hs.KeyID)
	c.mu.Lock()
	if c.sessions == nil {
		c.sessions = map[string]*hbSession{}
	}
	c.sessions[addr] = s
	c.mu.Unlock()
}

// forgetSession drops the session with addr if it is still s.
func (c *Client) forgetSession(addr string, s *hbSession) {
	c.mu.Lock()
	if c.sessions[addr] == s {
		delete(c.sessions, addr)
	}
	c.mu.Unlock()
}

// HasSession reports whether the next QuickHeartbeat has a session to use.
func (c *Client) HasSession() bool {
	_, s, _ := c.sessionTarget()
	return s != nil
}

// sessionTarget is the server the next request would go to and the
// session held with it.
func (c *Client) sessionTarget() (string, *hbSession, *DatagramSocket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := c.addr
	if addr == "" {
		addr = c.last
	}
	if addr == "" {
		return "", nil, nil
	}
	return addr, c.sessions[addr], c.dgram
}

// QuickHeartbeat asks the server the client uses whether the device still
// holds leases (and sign-ins) with nothing to renew, in one datagram. It
// returns ErrNoSession, ErrAskQUIC or a timeout when the caller must
// heartbeat over QUIC instead; a session that went unanswered is dropped.
func (c *Client) QuickHeartbeat(ctx context.Context, leases []uint64, signIns []string) (QuickAnswer, error) {
	addr, s, ds := c.sessionTarget()
	if s == nil {
		return QuickAnswer{}, ErrNoSession
	}
	if ds == nil {
		var err error
		if ds, err = c.ownDatagramSocket(); err != nil {
			return QuickAnswer{}, err
		}
	}
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return QuickAnswer{}, fmt.Errorf("datagram heartbeat to %s: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	replies := ds.wait(s.id)
	defer ds.unwait(s.id, replies)
	var sent []uint64
	for attempt := 0; attempt < 2; attempt++ {
		s.counter++
		pkt, err := hbdgram.AppendRequest(nil, s.aead, s.id, s.counter, hbdgram.Request{Leases: leases, SignIns: signIns})
		if err != nil {
			return QuickAnswer{}, err // too many leases for one datagram
		}
		sent = append(sent, s.counter)
		if _, err := ds.conn.WriteTo(pkt, to); err != nil {
			return QuickAnswer{}, fmt.Errorf("datagram heartbeat to %s: %w", addr, err)
		}
		t := time.NewTimer(DatagramTimeout)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return QuickAnswer{}, ctx.Err()
			case <-t.C:
				break wait
			case b := <-replies:
				h, err := hbdgram.ParseHeader(b)
				if err != nil || !containsCounter(sent, h.Counter) {
					continue
				}
				r, err := hbdgram.OpenReply(s.aead, h, b)
				if err != nil {
					continue // not from the server: ignore it
				}
				t.Stop()
				c.mu.Lock()
				c.lastAnswer, c.lastAnswerFrom = time.Now(), addr
				c.mu.Unlock()
				if r.Status != hbdgram.StatusOK || len(r.Expires) != len(leases) {
					return QuickAnswer{}, ErrAskQUIC
				}
				ans := QuickAnswer{Addr: addr, ServerTime: time.Unix(0, r.ServerTime).UTC(), Expires: make([]time.Time, len(r.Expires))}
				for i, e := range r.Expires {
					ans.Expires[i] = time.Unix(0, e).UTC()
				}
				return ans, nil
			}
		}
	}
	// No answer: the node died, restarted (forgetting its sessions) or
	// dropped the session. QUIC finds out which and gets a new one.
	c.forgetSession(addr, s)
	return QuickAnswer{}, fmt.Errorf("datagram heartbeat to %s: no answer within %s", addr, 2*DatagramTimeout)
}

func containsCounter(list []uint64, v uint64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Client) ownDatagramSocket() (*DatagramSocket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dgram != nil {
		return c.dgram, nil
	}
	ds, err := NewDatagramSocket()
	if err != nil {
		return nil, err
	}
	c.dgram = ds
	return ds, nil
}

// closeOwnDatagramSocket closes the client's own datagram socket (not a
// shared one); the next datagram heartbeat opens a new one.
func (c *Client) closeOwnDatagramSocket() {
	c.mu.Lock()
	ds := c.dgram
	if c.dgramShared {
		ds = nil
	} else {
		c.dgram = nil
	}
	c.mu.Unlock()
	if ds != nil {
		ds.Close()
	}
}

// DatagramSocket is one UDP socket that datagram heartbeats are sent from
// and their replies read on, handed to the exchange waiting for the
// reply's session.
type DatagramSocket struct {
	conn net.PacketConn

	mu      sync.Mutex
	waiting map[hbdgram.KeyID]chan []byte
}

// NewDatagramSocket binds a UDP socket on an ephemeral port.
func NewDatagramSocket() (*DatagramSocket, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("datagram heartbeat socket: %w", err)
	}
	ds := &DatagramSocket{conn: conn, waiting: map[hbdgram.KeyID]chan []byte{}}
	go ds.read()
	return ds, nil
}

// Close closes the socket.
func (ds *DatagramSocket) Close() error { return ds.conn.Close() }

func (ds *DatagramSocket) read() {
	buf := make([]byte, hbdgram.MaxSize+1)
	for {
		n, _, err := ds.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		h, err := hbdgram.ParseHeader(buf[:n])
		if err != nil || h.Type != hbdgram.TypeReply {
			continue
		}
		ds.mu.Lock()
		ch := ds.waiting[h.KeyID]
		ds.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case ch <- append([]byte(nil), buf[:n]...):
		default: // the waiter has a reply to look at already
		}
	}
}

func (ds *DatagramSocket) wait(id hbdgram.KeyID) chan []byte {
	ch := make(chan []byte, 4)
	ds.mu.Lock()
	ds.waiting[id] = ch
	ds.mu.Unlock()
	return ch
}

func (ds *DatagramSocket) unwait(id hbdgram.KeyID, ch chan []byte) {
	ds.mu.Lock()
	if ds.waiting[id] == ch {
		delete(ds.waiting, id)
	}
	ds.mu.Unlock()
}
