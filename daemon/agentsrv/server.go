// Package agentsrv is tallyd's QUIC endpoint for agents: it accepts mutual
// TLS connections, authenticates the device certificate, reads one request
// per stream and dispatches it to the leasing service.
//
// Design: docs/design.md#how-a-request-flows.
package agentsrv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/enrollment"
	"github.com/tally-licensing/tally/daemon/leasing"
	"github.com/tally-licensing/tally/protocol"
)

// Config configures the agent server.
type Config struct {
	Addr string
	// Certificate is the node's TLS certificate.
	Certificate tls.Certificate
	// ClientCAs verifies device certificates.
	ClientCAs *x509.CertPool
	// StatelessResetKey lets a restarted node reset connections it lost
	// state for, instead of leaving agents to time out. Keep it stable
	// across restarts.
	StatelessResetKey *quic.StatelessResetKey
	Leasing           *leasing.Service
	Enroller          *enrollment.Enroller
	Read              func(func(*ledger.State))
	Logger            *slog.Logger
	Now               func() time.Time
	// JWKS returns the cluster's public lease-signing keys, sent to agents
	// with the server list; nil sends none.
	JWKS func() ([]byte, error)
	// IdleTimeout closes connections with no traffic; agents keep theirs
	// alive well within it.
	IdleTimeout time.Duration
	// Activate admits a user to the device's account (TypeActivate); nil
	// refuses activation.
	Activate func(ctx context.Context, dev ledger.DeviceRef, req protocol.ActivateRequest, reqID string) (protocol.ActivateResponse, error)
	// Limits bound connections, streams and handshakes (limits.go).
	Limits Limits
	// Ready is nil when the node may answer from its ledger; otherwise
	// every request is refused with it (a retryable unavailable), never
	// with an answer read from a ledger still replaying after a restart
	// (which would say not_enrolled). nil means always ready.
	Ready func() error
	// CatchUp, on a follower, brings the ledger up to the leader's commit
	// index (node.CatchUp); nil never waits.
	CatchUp func(context.Context) error
	// SignIns signs members in on devices and verifies their credentials;
	// nil refuses login and serves device-only checkouts.
	SignIns SignIns
}

// SignIns is the member sign-in service behind TypeLogin, TypeLogout and
// TypeWhoAmI, and the check of the credential a checkout carries. keyFP is
// the fingerprint of the key the connection's certificate holds: a
// credential is bound to the device and its key.
type SignIns interface {
	Login(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginRequest, reqID string) (protocol.LoginResponse, error)
	Logout(ctx context.Context, dev ledger.DeviceRef, keyFP, credential string) error
	WhoAmI(dev ledger.DeviceRef, keyFP, credential string) (protocol.Member, error)
	// Verify returns the sign-in ID a credential proves on this device.
	Verify(dev ledger.DeviceRef, keyFP, credential string) (string, error)
	// SignedOut lists which of ids no longer stand for this device.
	SignedOut(dev ledger.DeviceRef, ids []string) []string
	// Seen notes a heartbeat (last-seen, agent version) without delaying it.
	Seen(dev ledger.DeviceRef, agentVersion string)
	// StartApproval and PollApproval are the browser-approved sign-in.
	StartApproval(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginStartRequest) (protocol.LoginStartResponse, error)
	PollApproval(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginPollRequest) (protocol.LoginResponse, error)
}

// Server serves agents.
type Server struct {
	cfg Config
	log *slog.Logger
	tr  *quic.Transport
	ln  *quic.Listener
	adm *admission
	wg  sync.WaitGroup
	// verified skips re-verifying a chain on reconnects (verified.go).
	verified *certs.ChainCache[verifiedDevice]
	// sessions are the datagram heartbeat sessions (datagram.go).
	sessions *sessions
	dg       datagramMetrics
}

// requestReadTimeout bounds how long a client may take to send its request.
const requestReadTimeout = 10 * time.Second

// Listen binds the UDP socket and starts the QUIC listener.
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	udpAddr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("agent address %q: %w", cfg.Addr, err)
	}
	conn, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for agents on %s: %w", cfg.Addr, err)
	}
	tr := &quic.Transport{Conn: conn, StatelessResetKey: cfg.StatelessResetKey}
	tlsConf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cfg.Certificate},
		NextProtos:   []string{protocol.ALPN},
		// Certificates are requested but verified after the handshake, so
		// that a refused device gets a reason it can act on (wrong cluster,
		// expired) instead of a bare TLS alert, and so that enrollment can
		// happen on a connection without one.
		ClientAuth: tls.RequestClientCert,
	}
	cfg.Limits = cfg.Limits.withDefaults()
	adm := newAdmission(cfg.Limits, time.Now)
	qconf := &quic.Config{
		MaxIdleTimeout:       cfg.IdleTimeout,
		HandshakeIdleTimeout: 10 * time.Second,
		MaxIncomingStreams:   int64(cfg.Limits.MaxStreams),
		// Requests are small: small flow-control windows bound what a
		// peer can make the node buffer before it reads (and, for
		// streams it has not accepted yet, at all).
		InitialStreamReceiveWindow:     64 << 10,
		MaxStreamReceiveWindow:         protocol.MaxFrame + 4,
		InitialConnectionReceiveWindow: 128 << 10,
		MaxConnectionReceiveWindow:     4 << 20,
		Allow0RTT:                      false,
	}
	qconf.GetConfigForClient = adm.handshake(qconf)
	ln, err := tr.Listen(tlsConf, qconf)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start QUIC listener: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Logger, tr: tr, ln: ln, adm: adm,
		sessions: newSessions(cfg.Limits.MaxHeartbeatSessions), dg: newDatagramMetrics(),
		verified: certs.NewChainCache[verifiedDevice](maxVerified)}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	dctx, stopDatagrams := context.WithCancel(ctx)
	defer stopDatagrams()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveDatagrams(dctx)
	}()
	for {
		conn, err := s.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, quic.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("accept agent connection: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// Close stops accepting, closes every connection and waits for handlers.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.tr.Close()
	s.wg.Wait()
	return err
}

// peer is what the server knows about the other end of a connection.
type peer struct {
	cert *x509.Certificate
	// keyFP is the certificate key's fingerprint, computed once per
	// connection: it is compared with the ledger on every request, and
	// computing it (DER-encoding the key, hashing) was a tenth of the
	// server's CPU under heartbeat load.
	keyFP   string
	id      certs.DeviceID
	refusal *protocol.Error // set when a certificate was presented and failed
	remote  string
}

func (s *Server) identify(conn *quic.Conn) peer {
	p := peer{remote: conn.RemoteAddr().String()}
	chain := conn.ConnectionState().TLS.PeerCertificates
	if len(chain) == 0 {
		return p
	}
	now := s.cfg.Now()
	key := certs.ChainKey(chain)
	if e, ok := s.verified.Lookup(key, now); ok {
		p.cert, p.id, p.keyFP = chain[0], e.id, e.keyFP
		return p
	}
	id, err := certs.VerifyDevice(s.cfg.ClientCAs, chain, now)
	if err != nil {
		p.refusal = enrollment.Refusal(err)
		s.log.Warn("refused device certificate", "remote", p.remote, "subject", chain[0].Subject.CommonName, "reason", err)
		return p
	}
	fp, err := certs.PublicKeyFingerprint(chain[0].PublicKey)
	if err != nil {
		p.refusal = enrollment.Refusal(err)
		return p
	}
	p.cert, p.id, p.keyFP = chain[0], id, fp
	s.verified.Store(key, chain, verifiedDevice{id: id, keyFP: fp})
	return p
}

func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	p := s.identify(conn)
	src := sourceOf(conn.RemoteAddr())
	anonymous := p.cert == nil
	if !s.adm.enter(src, anonymous) {
		conn.CloseWithError(0x10, "too many connections")
		return
	}
	defer s.adm.leave(src, anonymous)
	s.dg.accepted.Inc()
	connCtx := conn.Context()
	// Without a certificate only enrollment and the server list are
	// served, a couple of requests at a time and each small.
	var slots streamSlots
	maxFrame := uint32(protocol.MaxFrame)
	if anonymous {
		slots = make(streamSlots, s.cfg.Limits.MaxUnauthenticatedStreams)
		maxFrame = unauthenticatedMaxFrame
	}
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		if !slots.take(connCtx) {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer slots.give()
			s.serveStream(connCtx, p, str, maxFrame)
		}()
	}
}

func (s *Server) serveStream(ctx context.Context, p peer, str *quic.Stream, maxFrame uint32) {
	defer str.Close()
	str.SetReadDeadline(time.Now().Add(requestReadTimeout))
	var req protocol.Request
	if err := protocol.ReadFrameLimit(str, &req, maxFrame); err != nil {
		s.log.Debug("malformed request from agent", "remote", p.remote, "err", err)
		s.reply(str, protocol.ErrorResponse(protocol.Errorf(protocol.CodeBadRequest, "malformed request frame: %v", err)))
		return
	}
	resp := s.handle(ctx, p, &req)
	s.reply(str, resp)
}

func (s *Server) reply(str *quic.Stream, resp *protocol.Response) {
	str.SetWriteDeadline(time.Now().Add(requestReadTimeout))
	if err := protocol.WriteFrame(str, resp); err != nil {
		s.log.Debug("could not answer agent", "err", err)
	}
}

func (s *Server) handle(ctx context.Context, p peer, req *protocol.Request) *protocol.Response {
	if req.V != protocol.Version {
		return protocol.ErrorResponse(protocol.Errorf(protocol.CodeUnsupportedVersion, "this server speaks protocol version %d, the request is version %d", protocol.Version, req.V))
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable {
				pe = protocol.Errorf(protocol.CodeUnavailable, "%v", err)
			}
			return protocol.ErrorResponse(pe)
		}
	}
	body, err := s.dispatch(ctx, p, req)
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			s.log.Error("agent request failed", "type", req.Type, "device", p.id.DeviceCode, "err", err)
			pe = protocol.Errorf(protocol.CodeInternal, "%v", err)
		}
		return protocol.ErrorResponse(pe)
	}
	resp, err := protocol.OKResponse(body)
	if err != nil {
		return protocol.ErrorResponse(protocol.Errorf(protocol.CodeInternal, "%v", err))
	}
	return resp
}

// device returns the authenticated, still-enrolled device behind a
// connection, or why there is none.
func (s *Server) device(ctx context.Context, p peer) (ledger.DeviceRef, error) {
	if p.refusal != nil {
		return ledger.DeviceRef{}, p.refusal
	}
	if p.cert == nil {
		return ledger.DeviceRef{}, protocol.Errorf(protocol.CodeNotEnrolled, "this connection has no device certificate: enroll the device first")
	}
	var perr *protocol.Error
	check := func() { s.cfg.Read(func(st *ledger.State) { perr = enrollment.CheckDeviceKey(st, p.id, p.keyFP) }) }
	check()
	if perr != nil && s.cfg.CatchUp != nil {
		// A follower's copy may not hold an enrollment the leader has just
		// committed (the device enrolled a moment ago through this node):
		// the absence of the record is trusted only once caught up.
		if err := s.cfg.CatchUp(ctx); err != nil {
			return ledger.DeviceRef{}, err
		}
		check()
	}
	if perr != nil {
		if perr.Code == protocol.CodeDeviceConflict {
			s.log.Warn("possible cloned device: request refused", "event", "device_clone_suspected",
				"account", p.id.Account, "device", p.id.DeviceCode, "remote", p.remote, "err", perr)
		}
		return ledger.DeviceRef{}, perr
	}
	return ledger.DeviceRef{Account: p.id.Account, Code: p.id.DeviceCode}, nil
}

func (s *Server) dispatch(ctx context.Context, p peer, req *protocol.Request) (any, error) {
	switch req.Type {
	case protocol.TypeEnroll:
		var body protocol.EnrollRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		resp, err := s.cfg.Enroller.Enroll(ctx, body)
		switch {
		case err == nil:
			s.log.Info("device enrolled", "account", resp.Account, "device", resp.DeviceCode, "host", body.Hostname, "remote", p.remote)
		case protocol.CodeOf(err) == protocol.CodeDeviceConflict:
			// The audit line operators grep for: someone copied a device's
			// identity, or reinstalled it without removing the old record.
			s.log.Warn("possible cloned device: enrollment refused", "event", "device_clone_suspected",
				"device", body.DeviceCode, "host", body.Hostname, "remote", p.remote, "err", err)
		}
		return resp, err
	case protocol.TypeServers:
		if s.cfg.SignIns != nil && p.cert != nil {
			var body protocol.ServersRequest
			_ = req.DecodeBody(&body) // an older agent sends none
			if dev, err := s.device(ctx, p); err == nil {
				s.cfg.SignIns.Seen(dev, body.AgentVersion)
			}
		}
		resp := protocol.ServersResponse{Interval: protocol.Duration(s.cfg.Leasing.HeartbeatInterval())}
		if p.cert == nil {
			// Without a device certificate the answer says only that this
			// is a live Tally server (enough for an enrolling client's
			// liveness probe): not the cluster's addresses nor its keys.
			return resp, nil
		}
		resp.Servers = s.cfg.Enroller.Servers()
		if s.cfg.JWKS != nil {
			if b, err := s.cfg.JWKS(); err == nil {
				resp.JWKS = b
			} else {
				s.log.Warn("cannot send the JWKS to an agent", "err", err)
			}
		}
		return resp, nil
	}
	dev, err := s.device(ctx, p)
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case protocol.TypeCheckout:
		var body protocol.CheckoutRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		signIn := ""
		if body.Credential != "" {
			if s.cfg.SignIns == nil {
				return nil, protocol.Errorf(protocol.CodeUnknownRequest, "this server does not sign members in")
			}
			if signIn, err = s.cfg.SignIns.Verify(dev, p.keyFP, body.Credential); err != nil {
				return nil, err
			}
		}
		l, err := s.cfg.Leasing.CheckoutAs(ctx, dev, signIn, body, req.ID)
		if err != nil {
			return nil, err
		}
		return protocol.CheckoutResponse{Lease: l, Interval: protocol.Duration(s.cfg.Leasing.AccountHeartbeatInterval(dev.Account))}, nil
	case protocol.TypeHeartbeat:
		var body protocol.HeartbeatRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		resp, err := s.cfg.Leasing.Heartbeat(ctx, dev, body)
		if err == nil && s.cfg.SignIns != nil {
			resp.SignedOut = s.cfg.SignIns.SignedOut(dev, body.SignIns)
			s.cfg.SignIns.Seen(dev, body.AgentVersion)
		}
		if err == nil && body.Datagrams {
			s.issueSession(p, dev, body.AgentVersion, &resp)
		}
		return resp, err
	case protocol.TypeLogin, protocol.TypeLogout, protocol.TypeWhoAmI, protocol.TypeLoginStart, protocol.TypeLoginPoll:
		if s.cfg.SignIns == nil {
			return nil, protocol.Errorf(protocol.CodeUnknownRequest, "this server does not sign members in")
		}
		return s.signIn(ctx, dev, p, req)
	case protocol.TypeActivate:
		var body protocol.ActivateRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		if s.cfg.Activate == nil {
			return nil, protocol.Errorf(protocol.CodeUnknownRequest, "this server does not activate users")
		}
		return s.cfg.Activate(ctx, dev, body, req.ID)
	case protocol.TypeEntitlements:
		resp := protocol.EntitlementsResponse{Entitlements: []string{}, KeyCerts: []string{}}
		s.cfg.Read(func(st *ledger.State) {
			for _, e := range st.Entitlements(dev.Account) {
				resp.Entitlements = append(resp.Entitlements, e.JWS)
			}
			resp.KeyCerts = append(resp.KeyCerts, st.SigningKeyCertificates()...)
		})
		return resp, nil
	case protocol.TypeRelease:
		var body protocol.ReleaseRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		if err := s.cfg.Leasing.Release(ctx, dev, body.LeaseID, req.ID); err != nil {
			return nil, err
		}
		return protocol.ReleaseResponse{}, nil
	}
	return nil, protocol.Errorf(protocol.CodeUnknownRequest, "unknown request type %q", req.Type)
}

// signIn serves the member sign-in requests.
func (s *Server) signIn(ctx context.Context, dev ledger.DeviceRef, p peer, req *protocol.Request) (any, error) {
	switch req.Type {
	case protocol.TypeLogin:
		var body protocol.LoginRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		resp, err := s.cfg.SignIns.Login(ctx, dev, p.keyFP, body, req.ID)
		if err != nil {
			s.log.Warn("member sign-in refused", "account", dev.Account, "device", dev.Code, "email", body.Email, "remote", p.remote, "err", err)
		}
		return resp, err
	case protocol.TypeLoginStart:
		var body protocol.LoginStartRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		return s.cfg.SignIns.StartApproval(ctx, dev, p.keyFP, body)
	case protocol.TypeLoginPoll:
		var body protocol.LoginPollRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		return s.cfg.SignIns.PollApproval(ctx, dev, p.keyFP, body)
	case protocol.TypeLogout:
		var body protocol.LogoutRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		return protocol.LogoutResponse{}, s.cfg.SignIns.Logout(ctx, dev, p.keyFP, body.Credential)
	default:
		var body protocol.WhoAmIRequest
		if err := req.DecodeBody(&body); err != nil {
			return nil, err
		}
		return s.cfg.SignIns.WhoAmI(dev, p.keyFP, body.Credential)
	}
}
