// Package client is tally-agent's connection to tallyd: one QUIC connection
// with mutual TLS, failover across the cluster's nodes with exponential
// backoff and jitter, and one bidirectional stream per request.
//
// Design: docs/design.md#clusters-and-failover.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
)

// QUIC settings. The keep-alive keeps NAT bindings and the server's idle
// timer fresh between heartbeats.
const (
	KeepAlivePeriod      = 15 * time.Second
	MaxIdleTimeout       = 60 * time.Second
	HandshakeIdleTimeout = 10 * time.Second
	// AttemptTimeout is how long one request waits for a server's answer
	// (beyond any wait the request asked for) before the agent fails over.
	AttemptTimeout = 5 * time.Second
	// ProbeAfter and ProbeTimeout detect a dead server sooner than that: a
	// request unanswered after ProbeAfter (and every ProbeEvery after
	// that) sends a liveness probe on the same connection; a server from
	// which nothing at all arrives within ProbeTimeout of the probe (or
	// eight round trips on a slow link, or longer after slow answers) is
	// given up at once. One that acknowledges the probe but answers late
	// is alive and waited for (liveness.go).
	ProbeAfter   = 500 * time.Millisecond
	ProbeEvery   = 5 * time.Second
	ProbeTimeout = 500 * time.Millisecond
	// DefaultIdleClose is how long an agent keeps a connection with nothing
	// in flight before it closes it (WithIdleClose): long enough for the
	// requests of one burst (an application starting several features) to
	// share a connection, short enough that a device between two heartbeats
	// (30 s apart) holds none. An open QUIC connection costs the server
	// 75–100 KiB; held for 1 s of every 30 that averages under 4 KiB per
	// device, while the resumed handshake per heartbeat costs the server
	// about half a millisecond of CPU (docs/performance.md).
	DefaultIdleClose = time.Second
	// FailoverStagger is how long a connection attempt to one server runs
	// alone before the next server is dialled in parallel (dialRound).
	FailoverStagger = 500 * time.Millisecond
)

// ErrNoServers is returned when the client has no server address at all.
var ErrNoServers = errors.New("no tallyd server address configured (pass --server)")

// Client talks to a tallyd cluster. It is safe for concurrent use.
type Client struct {
	tlsConf     *tls.Config
	quicConf    *quic.Config
	caFile      string
	dialTimeout time.Duration
	backoff     Backoff
	log         *slog.Logger
	transport   *quic.Transport // shared UDP socket; nil dials its own
	idleClose   time.Duration   // 0: keep the connection open
	affinity    string          // chooses the first server to try

	mu      sync.Mutex
	servers []string
	prefer  int // index in servers to try first
	conn    *quic.Conn
	addr    string
	dialing chan struct{} // closed when the dial in progress ends
	// inflight counts requests using conn; the idle timer closes conn when
	// it has been zero for idleClose.
	inflight  int
	idleTimer *time.Timer
	// last is the server that last answered; idleClosed says its
	// connection was closed for idleness, not lost.
	last       string
	idleClosed bool
	// Reconnect backoff, kept across calls so that many short calls do not
	// hammer a dead cluster.
	failures  int
	notBefore time.Time
	// lastAnswer is when a server last answered a request, and which:
	// what the agent can truthfully say about its server, since a QUIC
	// connection to a dead node looks open until its idle timeout.
	lastAnswer     time.Time
	lastAnswerFrom string
	// lastProbe is how long the last answered liveness probe took: it
	// stretches the next probe's window (liveness.go).
	lastProbe time.Duration
	// sessions are the datagram heartbeat sessions, by server address,
	// and dgram the socket they are used from (datagram.go).
	sessions    map[string]*hbSession
	dgram       *DatagramSocket
	dgramShared bool
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets where connection events are logged.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithDialTimeout bounds one connection attempt to one server (default
// HandshakeIdleTimeout). A node that does not answer costs this much before
// the next one is tried.
func WithDialTimeout(d time.Duration) Option { return func(c *Client) { c.dialTimeout = d } }

// WithBackoff sets the wait between rounds of failed attempts.
func WithBackoff(b Backoff) Option { return func(c *Client) { c.backoff = b } }

// WithCAFile names the CA file in error messages about untrusted servers.
func WithCAFile(path string) Option { return func(c *Client) { c.caFile = path } }

// WithIdleClose closes the connection once nothing has been in flight on it
// for d; the next request opens a new one, resumed with the TLS session
// ticket of the last (one round trip, no certificate signatures, never
// 0-RTT). An idle device then holds no connection on the server. 0 keeps
// the connection open (with keep-alives) until it fails.
func WithIdleClose(d time.Duration) Option { return func(c *Client) { c.idleClose = d } }

// WithTransport dials over tr's UDP socket instead of a new socket per
// connection (the load generator shares a few among thousands of devices).
func WithTransport(tr *quic.Transport) Option { return func(c *Client) { c.transport = tr } }

// WithAffinity makes the client try first the server that a stable hash of
// key (the Device Code) picks from the server list, so that a fleet spreads
// over the cluster's nodes and each device keeps returning to the same one
// (where its TLS session ticket is valid).
func WithAffinity(key string) Option { return func(c *Client) { c.affinity = key } }

// New returns a client for servers ("host:port" each) that connects lazily,
// on the first request. tlsConf carries RootCAs and, once the device is
// enrolled, its certificate; New fills in the rest (TLS 1.3, ALPN, server
// name per address).
func New(servers []string, tlsConf *tls.Config, opts ...Option) (*Client, error) {
	if tlsConf == nil || tlsConf.RootCAs == nil {
		return nil, errors.New("client: TLS configuration needs RootCAs (the cluster CA)")
	}
	c := &Client{
		tlsConf: tlsConf.Clone(),
		quicConf: &quic.Config{
			KeepAlivePeriod:      KeepAlivePeriod,
			MaxIdleTimeout:       MaxIdleTimeout,
			HandshakeIdleTimeout: HandshakeIdleTimeout,
		},
		dialTimeout: HandshakeIdleTimeout,
		backoff:     DefaultBackoff,
		log:         slog.Default(),
	}
	for _, o := range opts {
		o(c)
	}
	c.tlsConf.MinVersion = tls.VersionTLS13
	c.tlsConf.NextProtos = []string{protocol.ALPN}
	// Session tickets let a reconnect skip the certificate exchange. The
	// client dials with quic.Dial, never DialEarly, so a resumed connection
	// never carries 0-RTT data: nothing that grants, renews or releases can
	// be replayed. The server still checks the device certificate (kept in
	// the ticket) and the ledger on every connection and request.
	c.tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	if err := c.SetServers(servers); err != nil {
		return nil, err
	}
	return c, nil
}

// Dial returns a client connected to the first reachable server of servers,
// trying them in order, round after round with backoff, until ctx ends.
func Dial(ctx context.Context, servers []string, tlsConf *tls.Config, opts ...Option) (*Client, error) {
	c, err := New(servers, tlsConf, opts...)
	if err != nil {
		return nil, err
	}
	if _, _, err := c.connection(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// TLSConfig builds the client TLS configuration: the cluster CA from caFile
// and, when cert is not nil, the device certificate.
func TLSConfig(caFile string, cert *tls.Certificate) (*tls.Config, error) {
	pool, err := certs.LoadCAPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("load CA from --ca %s: %w", caFile, err)
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{protocol.ALPN}}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	return conf, nil
}

// SetServers replaces the server list used for future failover, for example
// with the one a heartbeat answer carries. Blank and duplicate addresses are
// dropped; an address without a port is an error. The current connection is
// kept.
func (c *Client) SetServers(servers []string) error {
	var list []string
	for _, s := range servers {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains(list, s) {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("server address %q: want host:port: %w", s, err)
		}
		list = append(list, s)
	}
	if len(list) == 0 {
		return ErrNoServers
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers = list
	c.prefer = c.preferredLocked()
	return nil
}

// preferredLocked is the index of the server to try first: the one in use
// or last used, else the affinity hash's, else the first.
func (c *Client) preferredLocked() int {
	for _, a := range []string{c.addr, c.last} {
		if i := slices.Index(c.servers, a); a != "" && i >= 0 {
			return i
		}
	}
	if c.affinity != "" {
		return AffinityIndex(c.affinity, len(c.servers))
	}
	return 0
}

// AffinityIndex is the server a key (Device Code) prefers among n: FNV-1a of
// the key modulo n, stable across agents and releases.
func AffinityIndex(key string, n int) int {
	if n <= 0 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Servers returns the current server list.
func (c *Client) Servers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.servers)
}

// Connected returns the address of the server the client is connected to,
// or, when the connection was closed for idleness (WithIdleClose) after a
// good exchange, the server it will reconnect to: an idle agent is not
// disconnected. LastAnswer says when that server last answered.
func (c *Client) Connected() (addr string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil && c.idleClosed {
		// Closed for idleness after a good exchange: the next request
		// reconnects to the same server.
		return c.last, true
	}
	if c.conn == nil || c.conn.Context().Err() != nil {
		return "", false
	}
	return c.addr, true
}

// LastAnswer reports which server last answered a request and when (zero
// before the first answer).
func (c *Client) LastAnswer() (addr string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAnswerFrom, c.lastAnswer
}

// Failover drops the current connection so that the next request goes to the
// next server in the list, for example after a not_leader or unavailable
// answer from a node that cannot serve.
func (c *Client) Failover() {
	c.mu.Lock()
	conn := c.conn
	c.dropLocked(conn)
	c.mu.Unlock()
}

// Close closes the connection. The client may be used again afterwards; it
// then reconnects.
func (c *Client) Close() error {
	c.mu.Lock()
	conn := c.conn
	c.conn, c.addr = nil, ""
	c.idleClosed = false
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.mu.Unlock()
	c.closeOwnDatagramSocket()
	if conn != nil {
		return conn.CloseWithError(0, "agent closing")
	}
	return nil
}

// release ends one request's use of conn; the last one out arms the idle
// timer.
func (c *Client) release(conn *quic.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn {
		return
	}
	c.inflight--
	if c.inflight > 0 || c.idleClose <= 0 {
		return
	}
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(c.idleClose, c.closeIdle)
	} else {
		c.idleTimer.Reset(c.idleClose)
	}
}

// closeIdle closes the connection if nothing used it since the timer was
// armed.
func (c *Client) closeIdle() {
	c.mu.Lock()
	conn := c.conn
	if conn == nil || c.inflight > 0 {
		c.mu.Unlock()
		return
	}
	c.conn, c.addr = nil, ""
	c.idleClosed = true
	c.mu.Unlock()
	conn.CloseWithError(0, "idle")
}

// Do sends one request and decodes the answer into out (which may be nil). It
// opens a stream, writes the request frame, closes its side and reads one
// response frame.
//
// A refusal by the server comes back as a *protocol.Error. Anything else
// (no server reachable, the connection dropping) is a *TransportError, and
// the next call reconnects; retrying with the same reqID is safe.
func (c *Client) Do(ctx context.Context, typ protocol.Type, reqID string, body, out any) error {
	req, err := protocol.NewRequest(typ, reqID, body)
	if err != nil {
		return err
	}
	conn, addr, err := c.connection(ctx)
	if err != nil {
		return err
	}
	defer c.release(conn)
	// A server that does not answer within the attempt timeout (plus the
	// queueing time the request itself asked for) is given up, unless it
	// is visibly alive but slow; a killed node sends nothing, and QUIC
	// would only notice at its idle timeout. The caller's ctx still bounds
	// the retries on other nodes.
	patience := AttemptTimeout
	if co, ok := body.(protocol.CheckoutRequest); ok {
		patience += co.Wait.D()
	}
	// The liveness watch (liveness.go) ends the attempt when the server
	// is dead, or has run out of patience; a server that is alive but
	// slow is waited for longer.
	attempt, cancelAttempt := context.WithCancelCause(ctx)
	defer cancelAttempt(nil)
	stopWatching := c.watchLiveness(attempt, cancelAttempt, conn, patience)
	defer stopWatching()
	str, err := conn.OpenStreamSync(attempt)
	if err != nil {
		return c.failed(ctx, conn, addr, "open stream", err)
	}
	// Abandoning the request (ctx done) resets the stream, which unblocks the
	// reads and writes below.
	stop := context.AfterFunc(attempt, func() {
		str.CancelRead(0)
		str.CancelWrite(0)
	})
	defer stop()
	if err := protocol.WriteFrame(str, req); err != nil {
		return c.failed(ctx, conn, addr, "send "+string(typ), err)
	}
	if err := str.Close(); err != nil {
		return c.failed(ctx, conn, addr, "send "+string(typ), err)
	}
	var resp protocol.Response
	if err := protocol.ReadFrame(str, &resp); err != nil {
		if why := attemptFailure(attempt); why != nil && ctx.Err() == nil {
			err = why
		}
		return c.failed(ctx, conn, addr, "read "+string(typ)+" answer", err)
	}
	str.CancelRead(0) // one frame per stream: nothing more to read
	c.mu.Lock()
	c.lastAnswer, c.lastAnswerFrom = time.Now(), addr
	c.mu.Unlock()
	if resp.V != protocol.Version {
		return protocol.Errorf(protocol.CodeUnsupportedVersion,
			"tallyd at %s answered with protocol version %d; this agent speaks %d", addr, resp.V, protocol.Version)
	}
	if err := resp.Decode(out); err != nil {
		return err
	}
	c.noteSession(addr, out)
	return nil
}

// failed turns a stream error into a TransportError. Unless the caller gave
// up (ctx done), the connection is considered broken and dropped.
func (c *Client) failed(ctx context.Context, conn *quic.Conn, addr, op string, err error) error {
	if ctx.Err() != nil {
		return &TransportError{Addr: addr, Op: op, Err: ctx.Err()}
	}
	err = explainRemote(err)
	c.mu.Lock()
	c.dropLocked(conn)
	c.mu.Unlock()
	c.log.Warn("connection to tallyd lost", "server", addr, "op", op, "err", err)
	return &TransportError{Addr: addr, Op: op, Err: err}
}

// dropLocked forgets conn if it is the current connection and moves the
// preference to the next server.
func (c *Client) dropLocked(conn *quic.Conn) {
	if conn == nil || c.conn != conn {
		return
	}
	if i := slices.Index(c.servers, c.addr); i >= 0 {
		c.prefer = (i + 1) % len(c.servers)
	}
	c.conn, c.addr, c.last = nil, "", ""
	c.inflight, c.idleClosed = 0, false
	go conn.CloseWithError(0, "")
}

// connection returns the live connection, dialling if there is none. Only one
// dial runs at a time; other callers wait for it (or for their ctx).
func (c *Client) connection(ctx context.Context) (*quic.Conn, string, error) {
	for {
		c.mu.Lock()
		if c.conn != nil && c.conn.Context().Err() == nil {
			conn, addr := c.conn, c.addr
			c.inflight++ // the caller releases it
			c.mu.Unlock()
			return conn, addr, nil
		}
		if c.conn != nil { // closed underneath us (idle timeout, server gone)
			c.dropLocked(c.conn)
		}
		if wait := c.dialing; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, "", &TransportError{Op: "connect", Err: ctx.Err()}
			}
		}
		done := make(chan struct{})
		c.dialing = done
		c.mu.Unlock()

		conn, addr, err := c.connect(ctx)

		c.mu.Lock()
		c.dialing = nil
		if err == nil {
			c.conn, c.addr, c.last = conn, addr, addr
			c.inflight, c.idleClosed = 1, false // the caller releases it
			if i := slices.Index(c.servers, addr); i >= 0 {
				c.prefer = i
			}
		}
		c.mu.Unlock()
		close(done)
		if err != nil {
			return nil, "", err
		}
		return conn, addr, nil
	}
}

// connect tries the servers in order (starting at the preferred one), round
// after round with backoff, until one answers or ctx ends. A round in which
// every server presented a certificate the CA does not vouch for ends the
// attempt at once: waiting will not fix the configuration.
func (c *Client) connect(ctx context.Context) (*quic.Conn, string, error) {
	var last error
	for {
		c.mu.Lock()
		wait := time.Until(c.notBefore)
		servers := slices.Clone(c.servers)
		start := c.prefer
		c.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, "", connectError(ctx.Err(), last)
			}
		}

		conn, addr, errs, untrusted := c.dialRound(ctx, servers, start)
		if conn != nil {
			c.mu.Lock()
			// Reconnecting to the same server after an idle close is
			// routine (once per heartbeat): only a change is news.
			routine := addr == c.last && c.failures == 0
			c.failures, c.notBefore = 0, time.Time{}
			c.mu.Unlock()
			if routine {
				c.log.Debug("reconnected to tallyd", "server", addr)
			} else {
				c.log.Info("connected to tallyd", "server", addr)
			}
			return conn, addr, nil
		}
		if ctx.Err() != nil {
			return nil, "", connectError(ctx.Err(), errors.Join(errs...))
		}
		last = errors.Join(errs...)
		if untrusted == len(servers) {
			return nil, "", errs[0]
		}
		c.mu.Lock()
		c.failures++
		d := c.backoff.Delay(c.failures)
		c.notBefore = time.Now().Add(d)
		c.mu.Unlock()
		c.log.Warn("no tallyd server reachable", "servers", servers, "retry_in", d.Round(time.Millisecond), "err", last)
	}
}

// dialRound tries every server once, starting at start. It does not wait
// for one attempt to fail before the next: if the server tried first has
// not answered within FailoverStagger, the next one is dialled too, and so
// on, and the first handshake to finish wins (the others are cancelled).
// An agent that closes idle connections learns that its node died only
// when it reconnects; waiting out a whole dial timeout there would cost its
// leases their renewal. A slow but live first server still wins if it
// answers before the others.
func (c *Client) dialRound(ctx context.Context, servers []string, start int) (*quic.Conn, string, []error, int) {
	type result struct {
		conn *quic.Conn
		addr string
		err  error
	}
	rctx, cancel := context.WithCancel(ctx)
	results := make(chan result, len(servers))
	launched, pending := 0, 0
	launch := func() {
		addr := servers[(start+launched)%len(servers)]
		launched++
		pending++
		go func() {
			conn, err := c.dialOne(rctx, addr)
			results <- result{conn, addr, err}
		}()
	}
	// finish cancels the attempts still running and closes any connection
	// that completes after the winner.
	finish := func() {
		cancel()
		if pending == 0 {
			return
		}
		go func(n int) {
			for range n {
				if r := <-results; r.conn != nil {
					r.conn.CloseWithError(0, "another server answered first")
				}
			}
		}(pending)
	}
	stagger := time.NewTimer(FailoverStagger)
	defer stagger.Stop()
	launch()
	var errs []error
	untrusted := 0
	for {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				finish()
				return r.conn, r.addr, errs, untrusted
			}
			var ue *UntrustedServerError
			if errors.As(r.err, &ue) {
				untrusted++
			}
			c.log.Debug("tallyd unreachable", "server", r.addr, "err", r.err)
			errs = append(errs, r.err)
			if launched < len(servers) {
				launch()
				stagger.Reset(FailoverStagger)
			} else if pending == 0 {
				finish()
				return nil, "", errs, untrusted
			}
		case <-stagger.C:
			if launched < len(servers) {
				launch()
				stagger.Reset(FailoverStagger)
			}
		case <-ctx.Done():
			finish()
			return nil, "", errs, untrusted
		}
	}
}

func connectError(ctxErr, last error) error {
	if last == nil {
		return &TransportError{Op: "connect", Err: ctxErr}
	}
	return &TransportError{Op: "connect", Err: fmt.Errorf("%w; last attempt: %w", ctxErr, last)}
}

// dialOne makes one connection attempt to addr.
func (c *Client) dialOne(ctx context.Context, addr string) (*quic.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &TransportError{Addr: addr, Op: "dial", Err: err}
	}
	conf := c.tlsConf.Clone()
	conf.ServerName = ServerName(host)
	dctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	var conn *quic.Conn
	if c.transport != nil {
		udpAddr, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return nil, &TransportError{Addr: addr, Op: "dial", Err: rerr}
		}
		conn, err = c.transport.Dial(dctx, udpAddr, conf, c.quicConf)
	} else {
		conn, err = quic.DialAddr(dctx, addr, conf, c.quicConf)
	}
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return nil, &UntrustedServerError{Addr: addr, CAFile: c.caFile, Err: verr.Err}
		}
		return nil, &TransportError{Addr: addr, Op: "dial", Err: explainRemote(err)}
	}
	return conn, nil
}

// ServerName is the TLS server name the agent expects for a server host:
// node certificates name "localhost" for IP-literal and loopback addresses,
// and the DNS name otherwise.
func ServerName(host string) string {
	if host == "" || strings.EqualFold(host, "localhost") || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "localhost"
	}
	return host
}

// TransportError is a failure to exchange a request with any server, as
// opposed to a server's refusal (a *protocol.Error).
type TransportError struct {
	Addr string // the server, when one was involved
	Op   string
	Err  error
}

func (e *TransportError) Error() string {
	if e.Addr == "" {
		return fmt.Sprintf("tallyd: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("tallyd at %s: %s: %v", e.Addr, e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// UntrustedServerError means a server's certificate does not chain to the
// cluster CA the agent was given.
type UntrustedServerError struct {
	Addr   string
	CAFile string
	Err    error
}

func (e *UntrustedServerError) Error() string {
	ca := "the CA given in --ca"
	if e.CAFile != "" {
		ca += " (" + e.CAFile + ")"
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(e.Err, &ua):
		return fmt.Sprintf("server %s is not signed by %s: %v", e.Addr, ca, e.Err)
	case errors.As(e.Err, &he):
		return fmt.Sprintf("server %s has a certificate from %s but not for this address: %v", e.Addr, ca, e.Err)
	}
	return fmt.Sprintf("server %s is not signed by %s (or its certificate is invalid): %v", e.Addr, ca, e.Err)
}

func (e *UntrustedServerError) Unwrap() error { return e.Err }

// TLS alerts a server sends when it will not accept the device certificate.
const (
	alertBadCertificate      = 42
	alertUnsupportedCert     = 43
	alertCertificateRevoked  = 44
	alertCertificateExpired  = 45
	alertCertificateUnknown  = 46
	alertUnknownCA           = 48
	alertCertificateRequired = 116
)

// ErrCertificateRefused wraps a server's refusal of the device certificate
// during the handshake.
var ErrCertificateRefused = errors.New("the server refused this device's certificate (revoked, expired, or issued by another cluster's CA?)")

func explainRemote(err error) error {
	var te *quic.TransportError
	if !errors.As(err, &te) || !te.Remote || te.ErrorCode < 0x100 || te.ErrorCode > 0x1ff {
		return err
	}
	switch uint8(te.ErrorCode - 0x100) {
	case alertBadCertificate, alertUnsupportedCert, alertCertificateRevoked, alertCertificateExpired,
		alertCertificateUnknown, alertUnknownCA, alertCertificateRequired:
		return fmt.Errorf("%w: %w", ErrCertificateRefused, err)
	}
	return err
}
