package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/protocol"
)

// Telling a dead server from a slow one.
//
// A killed node sends nothing, and QUIC would notice only at its idle
// timeout; so a request unanswered after ProbeAfter sends a liveness probe
// (the server list, answered without Raft) on the same connection. A busy
// node — a big heap to collect, a machine at load 16 — may answer that probe
// late too, but it still acknowledges what it receives: quic-go's
// connection loop acknowledges packets whatever the request handlers are
// doing. So the verdict is taken on the connection, not on the probe's
// answer alone:
//
//   - the probe is answered: the server is responsive, and the request is
//     waited for up to its patience (AttemptTimeout plus the wait it asked
//     for); past that the server is stuck on this request (a follower cut
//     off from its leader) and the agent tries another;
//   - the probe is not answered in its window, but packets arrived from the
//     server since it was sent (the acknowledgement of the probe itself, at
//     least): the server is alive but slow. The request is not abandoned;
//     the agent probes again, less and less often, and waits up to
//     MaxAttemptTimeout;
//   - nothing at all arrived from the server within the window after the
//     probe was sent: it is dead (killed, frozen, cut off), and the agent
//     fails over at once — unless the agent itself was not scheduled in
//     time to hear (the window's end came half a window late), in which
//     case it probes again.
//
// The window grows with the connection's measured round trip and with how
// long the last answered probe took, so a server that was slow a moment ago
// gets longer before its silence counts.

// MaxAttemptTimeout bounds how long a request waits for a server that keeps
// showing life but does not answer (a node overloaded past its capacity):
// the caller's context bounds it further.
const MaxAttemptTimeout = 6 * AttemptTimeout

// MaxProbeTimeout caps the liveness window that recent slow answers stretch
// (it is never shorter than eight round trips).
const MaxProbeTimeout = 4 * ProbeTimeout

// probeVerdict is what one liveness probe found.
type probeVerdict int

const (
	probeAnswered probeVerdict = iota // the server answered the probe
	probeSlow                         // no answer, but the server sent packets
	probeSilent                       // nothing from the server at all
)

// errServerSilent cancels an attempt whose server went silent.
type errServerSilent struct{ window time.Duration }

func (e errServerSilent) Error() string {
	return fmt.Sprintf("server stopped answering (nothing received within %s of a liveness probe)", e.window)
}

// errNoAnswer cancels an attempt that ran out of patience.
type errNoAnswer struct {
	after time.Duration
	slow  bool
}

func (e errNoAnswer) Error() string {
	if e.slow {
		return fmt.Sprintf("no answer within %s (the server is alive but answers nothing)", e.after.Round(time.Millisecond))
	}
	return fmt.Sprintf("no answer within %s (the server answers its liveness probes, not this request)", e.after.Round(time.Millisecond))
}

// attemptFailure is why an attempt was cancelled, if the watch cancelled it.
func attemptFailure(attempt context.Context) error {
	cause := context.Cause(attempt)
	var silent errServerSilent
	var none errNoAnswer
	if errors.As(cause, &silent) || errors.As(cause, &none) {
		return cause
	}
	return nil
}

// livenessWatch supervises one request's attempt on one connection.
type livenessWatch struct {
	c        *Client
	conn     *quic.Conn
	attempt  context.Context
	cancel   context.CancelCauseFunc
	start    time.Time
	patience time.Duration

	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
	slow    bool          // the last probe found the server alive but slow
	backoff time.Duration // spacing of probes to a slow server
}

// watchLiveness supervises a request on conn until the returned func is
// called: it probes the server (first after ProbeAfter) and cancels attempt
// with the reason when the server is dead or the patience ran out. A timer,
// not a goroutine, waits: most requests are answered long before the first
// probe, and they are the agent's hot path.
func (c *Client) watchLiveness(attempt context.Context, cancel context.CancelCauseFunc, conn *quic.Conn, patience time.Duration) (stop func()) {
	w := &livenessWatch{c: c, conn: conn, attempt: attempt, cancel: cancel, start: time.Now(), patience: patience}
	w.mu.Lock()
	w.timer = time.AfterFunc(min(ProbeAfter, patience), w.tick)
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.stopped = true
		w.timer.Stop()
		w.mu.Unlock()
	}
}

// tick runs on the timer: it decides whether the attempt is over, probes
// otherwise, and schedules the next tick.
func (w *livenessWatch) tick() {
	if w.attempt.Err() != nil {
		return
	}
	w.mu.Lock()
	slow := w.slow
	w.mu.Unlock()
	elapsed := time.Since(w.start)
	if elapsed >= w.patience && (!slow || elapsed >= MaxAttemptTimeout) {
		w.cancel(errNoAnswer{after: elapsed, slow: slow})
		return
	}
	verdict, window := w.c.probe(w.attempt, w.conn)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.attempt.Err() != nil { // answered while probing
		return
	}
	var next time.Duration
	switch verdict {
	case probeSilent:
		w.cancel(errServerSilent{window: window})
		return
	case probeAnswered:
		w.slow, w.backoff = false, 0
		next = ProbeEvery
	case probeSlow:
		// Probe a slow server less and less often: every probe is one
		// more request for a node that is already behind.
		w.slow = true
		w.backoff = min(max(2*w.backoff, ProbeAfter), ProbeEvery)
		next = w.backoff
	}
	elapsed = time.Since(w.start)
	if !w.slow && elapsed < w.patience {
		next = min(next, w.patience-elapsed)
	}
	if w.slow {
		next = min(next, max(MaxAttemptTimeout-elapsed, 0))
	}
	w.timer.Reset(next)
}

// probe sends one liveness probe on conn and reports what came back within
// the liveness window (which it also returns, for error messages).
func (c *Client) probe(ctx context.Context, conn *quic.Conn) (probeVerdict, time.Duration) {
	window := c.probeWindow(conn)
	before := conn.ConnectionStats().PacketsReceived
	sent := time.Now()
	if c.exchangeProbe(ctx, conn, window) {
		c.mu.Lock()
		c.lastProbe = time.Since(sent)
		c.mu.Unlock()
		return probeAnswered, window
	}
	if ctx.Err() != nil {
		// The attempt ended (answered, or given up by the caller)
		// while probing: nothing to conclude.
		return probeAnswered, window
	}
	if conn.Context().Err() != nil {
		return probeSilent, window
	}
	if conn.ConnectionStats().PacketsReceived > before {
		// Alive but slow: the next windows are stretched as if the probe
		// had just been answered this late, so that a pause in a busy
		// server's acknowledgements is not taken for its death.
		c.mu.Lock()
		c.lastProbe = max(c.lastProbe, time.Since(sent))
		c.mu.Unlock()
		return probeSlow, window
	}
	if time.Since(sent) > window+window/2 {
		// This process was not scheduled in time to hear the server (the
		// load generator on a starved machine): its own quic-go loop may
		// not have read what arrived. Silence it did not listen to is
		// not evidence; probe again.
		return probeSlow, window
	}
	return probeSilent, window
}

// exchangeProbe sends the server-list request on a new stream of conn and
// reports whether its answer came within window.
func (c *Client) exchangeProbe(ctx context.Context, conn *quic.Conn, window time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	str, err := conn.OpenStreamSync(pctx)
	if err != nil {
		return false
	}
	defer context.AfterFunc(pctx, func() {
		str.CancelRead(0)
		str.CancelWrite(0)
	})()
	req, err := protocol.NewRequest(protocol.TypeServers, "", protocol.ServersRequest{})
	if err != nil {
		return false
	}
	if err := protocol.WriteFrame(str, req); err != nil || str.Close() != nil {
		return false
	}
	var resp protocol.Response
	err = protocol.ReadFrame(str, &resp)
	str.CancelRead(0)
	return err == nil
}

// probeWindow is how long a probe on conn waits before the server's silence
// counts: ProbeTimeout, or eight round trips on a slow link, or twice what
// the last answered probe took (up to MaxProbeTimeout), whichever is
// longest.
func (c *Client) probeWindow(conn *quic.Conn) time.Duration {
	c.mu.Lock()
	last := c.lastProbe
	c.mu.Unlock()
	return max(ProbeTimeout, 8*conn.ConnectionStats().SmoothedRTT, min(2*last, MaxProbeTimeout))
}
