// Package transport carries Raft traffic between Tally nodes over mutually
// authenticated TLS.
//
// TLSStreamLayer is a raft.StreamLayer over TCP with TLS 1.3 and the ALPN
// protocol "tally-raft/1". Both ends present node certificates issued by
// the cluster CA and verify the other's chain against the CA pool and its
// tally://node/<id> URI SAN. Host names and IP SANs are not checked, so
// nodes addressed by an IP that is not in their certificate still work.
// A peer presenting a device certificate, a certificate from another CA,
// or none at all is refused during the handshake.
//
// Inbound handshakes run off the accept loop, one goroutine per pending
// connection with a 10 second deadline; Accept returns only connections
// whose handshake completed, so a port scanner or a stalled client never
// surfaces as an Accept error in Raft and never delays other peers.
//
// Design: docs/design.md#clusters-and-failover.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/certs"
)

// ALPNProtocol is the TLS application protocol both ends must negotiate.
// A peer that does not offer it is refused.
const ALPNProtocol = "tally-raft/1"

const (
	// defaultHandshakeTimeout bounds an inbound handshake and an outbound
	// one when Dial is given no timeout.
	defaultHandshakeTimeout = 10 * time.Second
	// maxPendingHandshakes caps the inbound handshakes in progress at once.
	// Connections beyond it are closed at once (and logged) rather than
	// letting a flood of idle sockets exhaust file descriptors.
	maxPendingHandshakes = 256
)

// handshakeTimeout is a variable so tests can shorten it; Listen copies it.
var handshakeTimeout = defaultHandshakeTimeout

// ErrClosed is returned by Accept once the layer is closed. It wraps
// net.ErrClosed.
var ErrClosed = fmt.Errorf("raft TLS stream layer is closed: %w", net.ErrClosed)

// Config configures Listen.
type Config struct {
	// BindAddr is the TCP address to listen on, e.g. "10.0.0.5:7001" or
	// "127.0.0.1:0".
	BindAddr string
	// Advertise is the "host:port" other nodes use to reach this one (it
	// becomes the transport's LocalAddr). Default: the listener's address,
	// which must then not be unspecified (0.0.0.0, ::).
	Advertise string
	// Certificate is this node's certificate (certs.KeyPair of the files
	// certs.IssueNode produced). It is presented both as server and client.
	Certificate tls.Certificate
	// CAs is the cluster CA; peers must chain to it.
	CAs *x509.CertPool
	// Logger receives refused connections (Warn) and accepted ones (Debug).
	// Default: slog.Default().
	Logger *slog.Logger
}

// TLSStreamLayer is a raft.StreamLayer over TCP with mutual TLS 1.3. Create
// it with Listen.
type TLSStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	nodeID    string
	server    *tls.Config
	client    *tls.Config
	log       *slog.Logger
	hsTimeout time.Duration

	ready   chan *tls.Conn // completed, authenticated inbound connections
	slots   chan struct{}  // semaphore of pending handshakes
	closing chan struct{}
	ctx     context.Context // canceled by Close; aborts pending handshakes
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	loopDone chan struct{} // closed when the accept loop stops on its own
	loopErr  error         // why; written before loopDone is closed

	closeOnce sync.Once
	closeErr  error
}

var _ raft.StreamLayer = (*TLSStreamLayer)(nil)

// Listen checks cfg, binds cfg.BindAddr and starts accepting connections.
// It fails if this node's own certificate is not a currently valid node
// certificate from cfg.CAs, since every peer would refuse it.
func Listen(cfg Config) (*TLSStreamLayer, error) {
	if cfg.CAs == nil {
		return nil, errors.New("raft transport: no cluster CA pool (Config.CAs)")
	}
	if len(cfg.Certificate.Certificate) == 0 || cfg.Certificate.PrivateKey == nil {
		return nil, errors.New("raft transport: no node certificate and key (Config.Certificate)")
	}
	if cfg.BindAddr == "" {
		return nil, errors.New("raft transport: no bind address (Config.BindAddr)")
	}
	nodeID, err := checkOwnCertificate(cfg.Certificate, cfg.CAs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	var advertise net.Addr
	if cfg.Advertise != "" {
		if advertise, err = parseAdvertise(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("raft transport: %w", err)
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raft transport: listen on %s: %w", cfg.BindAddr, err)
	}
	if advertise == nil {
		tcp, ok := ln.Addr().(*net.TCPAddr)
		if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("raft transport: listening on %s, which other nodes cannot dial; set Config.Advertise to this node's reachable host:port", ln.Addr())
		}
		advertise = tcp
	}

	ctx, cancel := context.WithCancel(context.Background())
	l := &TLSStreamLayer{
		ln:        ln,
		advertise: advertise,
		nodeID:    nodeID,
		log:       logger,
		hsTimeout: handshakeTimeout,
		ready:     make(chan *tls.Conn),
		slots:     make(chan struct{}, maxPendingHandshakes),
		closing:   make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		loopDone:  make(chan struct{}),
	}
	l.server = serverConfig(cfg.Certificate, cfg.CAs)
	l.client = clientConfig(cfg.Certificate, cfg.CAs)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// NodeID is this node's ID, from its own certificate.
func (l *TLSStreamLayer) NodeID() string { return l.nodeID }

// Addr is the advertised address (Config.Advertise, or the listener's).
func (l *TLSStreamLayer) Addr() net.Addr { return l.advertise }

// Accept waits for the next inbound connection whose TLS handshake
// completed with a node certificate from the cluster CA. The connection is
// a *tls.Conn. Refused connections are logged, never returned. Accept
// fails only once the layer is closed (ErrClosed) or the listener failed.
func (l *TLSStreamLayer) Accept() (net.Conn, error) {
	select {
	case <-l.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.closing:
		return nil, ErrClosed
	case <-l.loopDone:
		return nil, l.loopErr
	}
}

// Close stops listening, aborts pending inbound handshakes and unblocks
// Accept. Connections already returned by Accept or Dial are not closed.
// Close is idempotent.
func (l *TLSStreamLayer) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		l.cancel()
		if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.closeErr = fmt.Errorf("raft transport: close listener: %w", err)
		}
		l.wg.Wait()
	})
	return l.closeErr
}

// Dial connects to another node and completes the TLS handshake within
// timeout (10 seconds if timeout is not positive). The server must present
// a node certificate chaining to the cluster CA; its host name is not
// checked. The returned connection is a *tls.Conn.
func (l *TLSStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: l.client}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft transport: dial %s: %w", address, err)
	}
	return c, nil
}

func (l *TLSStreamLayer) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.closing:
				return
			default:
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				// E.g. out of file descriptors: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.Warn("raft transport: accept failed; retrying", "error", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-l.closing:
					return
				}
			}
			l.log.Error("raft transport: listener failed", "addr", l.ln.Addr().String(), "error", err)
			l.loopErr = fmt.Errorf("raft transport: accept on %s: %w", l.ln.Addr(), err)
			close(l.loopDone)
			return
		}
		delay = 0
		select {
		case l.slots <- struct{}{}:
		default:
			l.log.Warn("raft transport: refused connection", "remote", c.RemoteAddr().String(),
				"reason", fmt.Sprintf("too many pending TLS handshakes (%d)", maxPendingHandshakes))
			c.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

// handshake authenticates one inbound connection and hands it to Accept.
func (l *TLSStreamLayer) handshake(raw net.Conn) {
	defer l.wg.Done()
	remote := raw.RemoteAddr().String()
	tc := tls.Server(raw, l.server)
	err := l.serverHandshake(raw, tc)
	<-l.slots
	if err != nil {
		tc.Close()
		select {
		case <-l.closing:
			return // aborted by Close; not the peer's fault
		default:
		}
		l.log.Warn("raft transport: refused connection", "remote", remote, "reason", err.Error())
		return
	}
	peer, _ := certs.NodeID(tc.ConnectionState().PeerCertificates[0]) // checked in VerifyConnection
	l.log.Debug("raft transport: accepted connection", "remote", remote, "peer_node", peer)
	select {
	case l.ready <- tc:
	case <-l.closing:
		tc.Close()
	}
}

func (l *TLSStreamLayer) serverHandshake(raw net.Conn, tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(l.ctx, l.hsTimeout)
	defer cancel()
	if err := raw.SetDeadline(time.Now().Add(l.hsTimeout)); err != nil {
		return err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() == context.DeadlineExceeded || isTimeout(err) {
			return fmt.Errorf("TLS handshake not completed within %s: %w", l.hsTimeout, err)
		}
		return fmt.Errorf("TLS handshake failed: %w", err)
	}
	return raw.SetDeadline(time.Time{})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func serverConfig(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{ALPNProtocol},
		// The standard library verifies the client's chain against the
		// cluster CA (with the ClientAuth usage); VerifyConnection then
		// requires a node identity, which a device certificate lacks.
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		// No resumption: every connection is verified in full.
		SessionTicketsDisabled: true,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			// Refuse before sending our certificate to anything that is
			// not a Tally node speaking this protocol. A client offering
			// other protocols is refused by the standard library with a
			// no_application_protocol alert; one offering none gets an
			// internal_error alert from this error.
			if len(hello.SupportedProtos) == 0 {
				return nil, fmt.Errorf("client did not offer the application protocol (ALPN) %q", ALPNProtocol)
			}
			return nil, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != ALPNProtocol {
				return fmt.Errorf("client did not negotiate the application protocol (ALPN) %q", ALPNProtocol)
			}
			if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
				return errors.New("client certificate was not verified against the cluster CA")
			}
			if _, err := certs.NodeID(cs.PeerCertificates[0]); err != nil {
				return fmt.Errorf("client certificate is from the cluster CA but is not a node certificate: %w", err)
			}
			return nil
		},
	}
}

func clientConfig(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{ALPNProtocol},
		RootCAs:      pool,
		// Host names and IP SANs are deliberately not checked (nodes are
		// often dialed by an IP their certificate does not list). This
		// turns off only the standard library's built-in check:
		// VerifyConnection below verifies the chain against the cluster CA
		// and requires a tally://node/ identity, and fails the handshake
		// otherwise.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, err := verifyNode(pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, time.Now()); err != nil {
				return fmt.Errorf("server %w", err)
			}
			if cs.NegotiatedProtocol != ALPNProtocol {
				return fmt.Errorf("server did not negotiate the application protocol (ALPN) %q", ALPNProtocol)
			}
			return nil
		},
	}
}

// verifyNode checks chain (leaf first) against the cluster CA for usage and
// returns the node ID in the leaf. Errors read after "server"/"client".
func verifyNode(pool *x509.CertPool, chain []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) (string, error) {
	if len(chain) == 0 || chain[0] == nil {
		return "", errors.New("presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			return "", fmt.Errorf("certificate %q is not signed by this cluster's CA (is it from another Tally cluster?): %w", chain[0].Subject.CommonName, err)
		}
		return "", fmt.Errorf("certificate %q is not valid under this cluster's CA: %w", chain[0].Subject.CommonName, err)
	}
	id, err := certs.NodeID(chain[0])
	if err != nil {
		return "", fmt.Errorf("certificate is from the cluster CA but is not a node certificate: %w", err)
	}
	return id, nil
}

// checkOwnCertificate parses this node's certificate chain and checks it
// would be accepted by peers holding the same CA pool.
func checkOwnCertificate(cert tls.Certificate, pool *x509.CertPool, now time.Time) (string, error) {
	chain := make([]*x509.Certificate, 0, len(cert.Certificate))
	for i, der := range cert.Certificate {
		if i == 0 && cert.Leaf != nil {
			chain = append(chain, cert.Leaf)
			continue
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", fmt.Errorf("this node's certificate: %w", err)
		}
		chain = append(chain, c)
	}
	var id string
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		var err error
		if id, err = verifyNode(pool, chain, usage, now); err != nil {
			return "", fmt.Errorf("this node's %w", err)
		}
	}
	return id, nil
}

// parseAdvertise checks a "host:port" to advertise. An IP literal becomes a
// *net.TCPAddr; a host name is kept as given (resolved by peers at dial).
func parseAdvertise(s string) (net.Addr, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("advertise address %q: %w", s, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("advertise address %q: port must be a number from 1 to 65535", s)
	}
	if host == "" {
		return nil, fmt.Errorf("advertise address %q has no host", s)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return nil, fmt.Errorf("advertise address %q is unspecified; other nodes cannot dial it", s)
		}
		return &net.TCPAddr{IP: ip, Port: int(port)}, nil
	}
	return hostAddr(net.JoinHostPort(host, portStr)), nil
}

// hostAddr is an advertised "host:port" whose host is a name.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }
