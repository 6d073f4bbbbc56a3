package agentsrv

import (
	"crypto/cipher"
	"crypto/rand"
	"sync"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// SessionLifetime bounds a datagram heartbeat session: the device comes
// back over mutual TLS at least this often (its certificate checked
// again), whatever else happens.
const SessionLifetime = time.Hour

// hbSession is one device's datagram heartbeat session on this node. It
// lives in this node's memory only: never in the ledger, gone on restart.
type hbSession struct {
	id hbdgram.KeyID
	// key, not its cipher: an AES-GCM key schedule and tables cost ~1.2
	// KiB per device kept, building them per datagram ~1 µs.
	key     [hbdgram.KeySize]byte
	dev     ledger.DeviceRef
	devID   certs.DeviceID
	keyFP   string
	version string // the agent's build, for the last-seen books
	view    uint64 // leasing.ViewDigest of the answer that issued it
	expires time.Time
	seq     uint64 // issue order, for eviction

	// last is the highest counter accepted (sessions.mu).
	last uint64
}

// sessions is the table key ID → session, at most one per device and at
// most max in all: when full, issuing a session evicts the one issued
// longest ago (its device falls back to QUIC once and gets a new one).
type sessions struct {
	max int

	mu       sync.Mutex
	byKey    map[hbdgram.KeyID]*hbSession
	byDevice map[ledger.DeviceRef]*hbSession
	order    []*hbSession // issue order; replaced entries are skipped
	seq      uint64
}

func newSessions(max int) *sessions {
	return &sessions{max: max, byKey: map[hbdgram.KeyID]*hbSession{}, byDevice: map[ledger.DeviceRef]*hbSession{}}
}

// issue makes a new session for dev, replacing its previous one.
func (t *sessions) issue(p peer, dev ledger.DeviceRef, version string, view uint64, now time.Time) (*protocol.HeartbeatSession, error) {
	key := make([]byte, hbdgram.KeySize)
	var id hbdgram.KeyID
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	expires := now.Add(SessionLifetime)
	if p.cert != nil && p.cert.NotAfter.Before(expires) {
		expires = p.cert.NotAfter
	}
	s := &hbSession{id: id, dev: dev, devID: p.id, keyFP: p.keyFP, version: version, view: view, expires: expires}
	copy(s.key[:], key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.byDevice[dev]; old != nil {
		delete(t.byKey, old.id)
	}
	for len(t.byKey) >= t.max && len(t.order) > 0 {
		o := t.order[0]
		t.order = t.order[1:]
		if t.byKey[o.id] == o {
			delete(t.byKey, o.id)
			delete(t.byDevice, o.dev)
		}
	}
	// Drop the replaced entries once they outnumber the live ones (they
	// would keep replaced sessions in memory); amortised O(1) per issue.
	if len(t.order) > 2*len(t.byKey)+64 {
		live := t.order[:0]
		for _, o := range t.order {
			if t.byKey[o.id] == o {
				live = append(live, o)
			}
		}
		t.order = live
	}
	t.seq++
	s.seq = t.seq
	t.byKey[id] = s
	t.byDevice[dev] = s
	t.order = append(t.order, s)
	return &protocol.HeartbeatSession{KeyID: id[:], Key: key}, nil
}

// lookup returns the live session for id.
func (t *sessions) lookup(id hbdgram.KeyID, now time.Time) *hbSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byKey[id]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		delete(t.byKey, id)
		delete(t.byDevice, s.dev)
		return nil
	}
	return s
}

// fresh reports whether counter is above every counter seen in s so far.
func (t *sessions) fresh(s *hbSession, counter uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return counter > s.last
}

// accept records counter as seen; false when it was not above the last
// (a replay, or a race with another copy of the datagram).
func (t *sessions) accept(s *hbSession, counter uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if counter <= s.last {
		return false
	}
	s.last = counter
	return true
}

// len is the live sessions.
func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// aead is the session's cipher.
func (s *hbSession) aead() (cipher.AEAD, error) { return hbdgram.NewAEAD(s.key[:]) }
