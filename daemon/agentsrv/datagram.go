package agentsrv

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/enrollment"
	"github.com/tally-licensing/tally/daemon/leasing"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/hbdgram"
)

// Datagram heartbeats (protocol/hbdgram) arrive on the agent port beside
// QUIC: quic-go hands every packet whose first byte is not QUIC's to
// Transport.ReadNonQUICPacket. Each is checked before any ledger read —
// size, session, counter, authentication — and dropped silently when any
// check fails: nothing is ever sent to an unauthenticated packet, and a
// reply is never larger than its request.

// Datagram results, the label of tally_heartbeat_datagrams_total.
const (
	dgOK         = "ok"          // answered "all still held"
	dgQUIC       = "quic"        // answered "heartbeat over QUIC"
	dgMalformed  = "malformed"   // dropped: size or header
	dgUnknown    = "unknown_key" // dropped: no such session (restart, evicted, expired)
	dgReplay     = "replay"      // dropped: counter not above the last
	dgForged     = "forged"      // dropped: does not authenticate
	dgQueueFull  = "queue_full"  // dropped: the node is behind
	dgUnanswered = "unanswered"  // dropped: the reply would be larger (never expected)
)

type datagramMetrics struct {
	results  *prometheus.CounterVec
	accepted prometheus.Counter
}

func newDatagramMetrics() datagramMetrics {
	m := datagramMetrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_heartbeat_datagrams_total",
			Help: "Datagram heartbeats received, by result: ok, quic (sent to QUIC), malformed, unknown_key, replay, forged, queue_full."}, []string{"result"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_agent_connections_accepted_total",
			Help: "QUIC connections from agents accepted (a datagram heartbeat opens none)."}),
	}
	for _, r := range []string{dgOK, dgQUIC, dgMalformed, dgUnknown, dgReplay, dgForged, dgQueueFull} {
		m.results.WithLabelValues(r)
	}
	return m
}

type datagram struct {
	b    []byte
	from net.Addr
}

var datagramBufs = sync.Pool{New: func() any { b := make([]byte, hbdgram.MaxSize+1); return &b }}

// datagramReaders is how many goroutines wait on ReadNonQUICPacket at
// once. quic-go queues at most 32 non-QUIC packets and drops the rest; a
// packet handed to a waiting reader does not count against that queue, so
// a burst of datagrams from many devices at once (the bench's 128 in
// flight dropped 2.4 % with one reader) needs many readers waiting. Each
// holds only its goroutine; the buffers come from a pool.
const datagramReaders = 64

// serveDatagrams reads non-QUIC packets until ctx ends and answers them on
// a few workers; a full queue drops (the agent falls back to QUIC).
func (s *Server) serveDatagrams(ctx context.Context) {
	queue := make(chan datagram, s.cfg.Limits.DatagramQueue)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range queue {
				if reply := s.AnswerDatagram(d.b); reply != nil {
					_, _ = s.tr.WriteTo(reply, d.from)
				}
				b := d.b[:cap(d.b)]
				datagramBufs.Put(&b)
			}
		}()
	}
	defer wg.Wait()
	defer close(queue)
	initNonQUICQueue(s.tr)
	var readers sync.WaitGroup
	for range datagramReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				bp := datagramBufs.Get().(*[]byte)
				n, from, err := s.tr.ReadNonQUICPacket(ctx, *bp)
				if err != nil {
					return
				}
				select {
				case queue <- datagram{(*bp)[:n], from}:
				default:
					s.dg.results.WithLabelValues(dgQueueFull).Inc()
					datagramBufs.Put(bp)
				}
			}
		}()
	}
	readers.Wait()
}

// AnswerDatagram answers one datagram heartbeat (b is decrypted in place),
// or returns nil for none.
func (s *Server) AnswerDatagram(b []byte) []byte {
	h, err := hbdgram.ParseHeader(b)
	if err != nil || h.Type != hbdgram.TypeRequest {
		s.dg.results.WithLabelValues(dgMalformed).Inc()
		return nil
	}
	now := s.cfg.Now()
	sess := s.sessions.lookup(h.KeyID, now)
	if sess == nil {
		s.dg.results.WithLabelValues(dgUnknown).Inc()
		return nil
	}
	if !s.sessions.fresh(sess, h.Counter) {
		s.dg.results.WithLabelValues(dgReplay).Inc()
		return nil
	}
	size := len(b)
	aead, err := sess.aead()
	if err != nil {
		return nil
	}
	req, err := hbdgram.OpenRequest(aead, h, b)
	if err != nil {
		if errors.Is(err, hbdgram.ErrForged) {
			s.dg.results.WithLabelValues(dgForged).Inc()
		} else {
			s.dg.results.WithLabelValues(dgMalformed).Inc()
		}
		return nil
	}
	if !s.sessions.accept(sess, h.Counter) {
		s.dg.results.WithLabelValues(dgReplay).Inc()
		return nil
	}
	// "Ask over QUIC" unless quickHeartbeat, which fills reply only when it
	// answers ok, says all is still held.
	reply := hbdgram.Reply{Status: hbdgram.StatusQUIC, ServerTime: now.UnixNano()}
	if s.quickHeartbeat(sess, req, &reply) {
		s.dg.results.WithLabelValues(dgOK).Inc()
	} else {
		s.dg.results.WithLabelValues(dgQUIC).Inc()
	}
	out := hbdgram.AppendReply(make([]byte, 0, size), aead, h, reply)
	if len(out) > size {
		s.dg.results.WithLabelValues(dgUnanswered).Inc()
		return nil
	}
	return out
}

// quickHeartbeat fills reply when the answer is "all still held": the node
// is ready, the device still enrolled with the key it had, every sign-in
// stands, and leasing.QuickHeartbeat finds every lease held with nothing to
// renew and the device's view current. Read-only but for the same
// last-seen books a QUIC heartbeat keeps.
func (s *Server) quickHeartbeat(sess *hbSession, req hbdgram.Request, reply *hbdgram.Reply) bool {
	if s.cfg.Ready != nil && s.cfg.Ready() != nil {
		return false
	}
	enrolled := false
	s.cfg.Read(func(st *ledger.State) { enrolled = enrollment.CheckDeviceKey(st, sess.devID, sess.keyFP) == nil })
	if !enrolled {
		return false
	}
	if len(req.SignIns) > 0 && (s.cfg.SignIns == nil || len(s.cfg.SignIns.SignedOut(sess.dev, req.SignIns)) > 0) {
		return false
	}
	ans, ok := s.cfg.Leasing.QuickHeartbeat(sess.dev, req.Leases, sess.view)
	if !ok {
		return false
	}
	if s.cfg.SignIns != nil {
		s.cfg.SignIns.Seen(sess.dev, sess.version)
	}
	reply.Status = hbdgram.StatusOK
	reply.ServerTime = ans.ServerTime.UnixNano()
	reply.Expires = make([]int64, len(ans.Expires))
	for i, e := range ans.Expires {
		reply.Expires[i] = e.UnixNano()
	}
	return true
}

// Sessions is the number of live datagram heartbeat sessions.
func (s *Server) Sessions() int { return s.sessions.len() }

// issueSession gives the device a new datagram heartbeat session with a
// QUIC heartbeat's answer, replacing its previous one on this node.
func (s *Server) issueSession(p peer, dev ledger.DeviceRef, version string, resp *protocol.HeartbeatResponse) {
	sess, err := s.sessions.issue(p, dev, version, leasing.ViewDigest(resp), s.cfg.Now())
	if err != nil {
		s.log.Warn("cannot issue a datagram heartbeat session", "device", dev.Code, "err", err)
		return
	}
	resp.Session = sess
}

// initNonQUICQueue makes quic-go create its queue of non-QUIC packets
// before several goroutines read it: its first ReadNonQUICPacket creates
// the queue without a lock. A call with a done context returns at once.
func initNonQUICQueue(tr *quic.Transport) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var b [1]byte
	_, _, _ = tr.ReadNonQUICPacket(done, b[:])
}
