// Package agent is tally-agent: it holds the device's identity, enrolls it
// with the cluster, keeps a QUIC connection to tallyd, checks leases out for
// local applications, heartbeats them, caches them on disk and releases them
// on shutdown. Applications reach it over a Unix socket (see agent/api and
// agent/sdk).
//
// Design: docs/design.md#parts.
package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
)

// CodeClockRollback is the error code of a request refused because the
// device clock went back (see api.CodeClockRollback).
const CodeClockRollback = api.CodeClockRollback

// Defaults and bounds.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	// ServersRefreshInterval is how often the agent asks for the cluster's
	// server list.
	ServersRefreshInterval = 5 * time.Minute
	// ReleaseTimeout bounds the releases sent on shutdown.
	ReleaseTimeout = 5 * time.Second
	// MaxClockRollback is how far the device clock may lag the latest server
	// time seen before cached tokens are refused.
	MaxClockRollback = api.MaxClockRollback

	minHeartbeatInterval = 100 * time.Millisecond
	maxHeartbeatInterval = time.Hour
	// requestTimeout bounds one exchange with the cluster (connecting
	// included); a checkout may take its wait on top.
	requestTimeout = 30 * time.Second
	maxWait        = time.Hour
	maxAttempts    = 4
)

// ErrNotEnrolled is returned by Run for a device that has no certificate and
// no enrollment token.
var ErrNotEnrolled = errors.New("this device is not enrolled: pass --enroll-token")

// Config configures Run.
type Config struct {
	// StateDir holds device.json, device.key, device.pem and leases.json.
	StateDir string
	// Servers are tallyd agent addresses (host:port). The cluster's own list,
	// learned from it, replaces them for failover once connected.
	Servers []string
	// CAFile is the cluster CA (PEM) that server certificates must chain to.
	CAFile string
	// EnrollToken enrolls a device that has no certificate yet; it is ignored
	// once the device is enrolled.
	EnrollToken string
	// SocketPath is the local API's Unix socket (default StateDir/agent.sock).
	SocketPath string
	// SocketGroup, when set (a group name or GID), lets that group's members
	// use the local API: the socket becomes 0660 and its directory 0750,
	// both with that group. Unset, only the agent's own user can.
	SocketGroup string
	Logger      *slog.Logger
	// HeartbeatInterval is the initial heartbeat period; the interval in the
	// server's heartbeat answers overrides it.
	HeartbeatInterval time.Duration
	// Now is the device clock (default time.Now). It is never trusted
	// blindly: see MaxClockRollback.
	Now func() time.Time
	// DeviceCode forces the Device Code of a device not enrolled yet,
	// instead of deriving it from the machine identity. It is meant for
	// support and tests (two agents presenting one code); a device that
	// already has a different code refuses to start.
	DeviceCode string
}

// agent is one running tally-agent.
type agent struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	dir  *state.Dir
	tls  *tls.Config // RootCAs only; the device certificate is added after enrollment
	cafp string      // fingerprint of the CA file's first certificate

	client atomic.Pointer[client.Client] // nil until enrolled

	mu     sync.Mutex
	device state.Device
	leases map[string]protocol.Lease // by leaseKey
	// signins are the members signed in on this device, by OS user.
	signins map[string]state.SignIn
	// approvals are browser-approved sign-ins waiting, by OS user.
	approvals map[string]protocol.LoginStartResponse
	// problem is the cluster's last refusal of the device itself (removed,
	// clone suspected), cleared by a successful heartbeat.
	problem string
	// refusals are the unconfirmed refusals of the device itself seen
	// since the last successful heartbeat (leases.go, refusedByCluster),
	// and recheckAt when the heartbeat loop asks again.
	refusals      []time.Time
	recheckAt     time.Time
	serverTime    time.Time // high-water mark of server time
	learned       []string  // server list learned from the cluster
	lastHeartbeat time.Time
	interval      time.Duration
	featureLocks  map[string]chan struct{}
	// activity is, by feature, when an application last reported using
	// its lease (device clock).
	activity map[string]time.Time
	// policy is the account policy from the last heartbeat answer; owners
	// are, by feature, the local processes a release-on-exit lease is tied
	// to (policy.go).
	policy protocol.AgentPolicy
	owners map[string][]int
	// jwks is the cluster's JWKS document as last received (or cached).
	jwks []byte
	// wake makes the heartbeat loop re-plan at once (after a grant).
	wake chan struct{}

	persistMu sync.Mutex // orders cache writes

	// fileEnrolled is closed when an enrollment file is installed
	// (offline.go), ending the network enrollment loop.
	fileEnrolled     chan struct{}
	fileEnrolledOnce sync.Once
}

// enrolledByFile ends a network enrollment in progress: the device was
// enrolled by file.
func (a *agent) enrolledByFile() { a.fileEnrolledOnce.Do(func() { close(a.fileEnrolled) }) }

// Run runs the agent until ctx is cancelled, then releases every lease it
// holds (bounded by ReleaseTimeout), clears the lease cache, removes the
// socket and returns nil. It returns an error when it cannot start: not
// enrolled and no token, enrollment refused, another agent on the socket.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	ln, err := listenSocket(a.cfg.SocketPath)
	if err != nil {
		return err
	}
	defer ln.Close()
	if a.cfg.SocketGroup != "" {
		if err := shareSocket(a.cfg.SocketPath, a.cfg.SocketGroup); err != nil {
			return err
		}
	}
	a.log.Info("local API listening", "socket", a.cfg.SocketPath, "device_code", a.device.DeviceCode)
	stopServing := a.serve(ln)

	if !a.dir.Enrolled() {
		if err := a.enroll(ctx); err != nil {
			stopServing()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if err := a.connect(); err != nil {
		stopServing()
		return err
	}

	a.loop(ctx)

	a.log.Info("shutting down")
	stopServing()
	a.releaseAll()
	a.client.Load().Close()
	return nil
}

func newAgent(cfg Config) (*agent, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("no state directory (pass --state)")
	}
	if cfg.CAFile == "" {
		return nil, errors.New("no cluster CA (pass --ca)")
	}
	if len(cfg.Servers) == 0 {
		return nil, client.ErrNoServers
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = filepath.Join(cfg.StateDir, api.SocketName)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	a := &agent{
		cfg:          cfg,
		log:          cfg.Logger,
		now:          cfg.Now,
		leases:       map[string]protocol.Lease{},
		interval:     clampInterval(cfg.HeartbeatInterval),
		wake:         make(chan struct{}, 1),
		fileEnrolled: make(chan struct{}),
		featureLocks: map[string]chan struct{}{},
		activity:     map[string]time.Time{},
	}
	dir, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a.dir = dir
	a.cafp = caFingerprint(cfg.CAFile)
	dev, err := a.loadDevice()
	if err != nil {
		return nil, err
	}
	a.device = *dev
	if !dir.Enrolled() && cfg.EnrollToken == "" {
		return nil, ErrNotEnrolled
	}
	if a.tls, err = client.TLSConfig(cfg.CAFile, nil); err != nil {
		return nil, err
	}
	if dir.Enrolled() {
		if cfg.EnrollToken != "" {
			a.log.Info("device already enrolled; ignoring the enrollment token", "device_code", dev.DeviceCode)
		}
		if dev.ServerCAFingerprint != "" && a.cafp != "" && dev.ServerCAFingerprint != a.cafp {
			a.log.Warn("the CA given in --ca is not the one this device enrolled against",
				"enrolled_ca", dev.ServerCAFingerprint, "ca", a.cafp)
		}
	}

	if a.jwks, err = dir.LoadJWKS(); err != nil {
		a.log.Warn("ignoring the cached JWKS", "err", err)
	}
	sis, err := dir.LoadSignIns()
	if err != nil {
		return nil, err
	}
	a.signins = sis.Users
	cache, err := dir.LoadCache()
	if err != nil {
		return nil, err
	}
	a.serverTime = cache.ServerTime
	a.learned = cache.Servers
	for _, l := range cache.Leases {
		a.leases[keyOfLease(l)] = l
	}
	if n := len(a.leases); n > 0 {
		a.log.Info("resuming cached leases", "count", n)
	}
	return a, nil
}

// loadDevice reads device.json, or makes it with the Device Code given in
// Config.DeviceCode, else the one derived from the machine identity, else a
// random one.
func (a *agent) loadDevice() (*state.Device, error) {
	forced := ""
	if a.cfg.DeviceCode != "" {
		forced = state.NormalizeDeviceCode(a.cfg.DeviceCode)
		if err := state.ValidateDeviceCode(forced); err != nil {
			return nil, fmt.Errorf("--device-code: %w", err)
		}
	}
	dev, err := a.dir.LoadOrCreateDevice(func() (string, error) {
		if forced != "" {
			return forced, nil
		}
		return a.deriveDeviceCode()
	})
	if err != nil {
		return nil, err
	}
	if forced != "" && dev.DeviceCode != forced {
		if a.dir.Enrolled() {
			return nil, fmt.Errorf("this device is already enrolled as %s; it cannot become %s (remove %s to start over)",
				dev.DeviceCode, forced, a.dir.Path())
		}
		dev.DeviceCode = forced
		if err := a.dir.SaveDevice(dev); err != nil {
			return nil, err
		}
	}
	return dev, nil
}

// deriveDeviceCode hashes the machine identity with the cluster (its CA)
// and the state directory: a reinstall in the same place keeps the code, a
// second agent instance on the machine gets its own. The account is not in
// the hash because the agent learns it only from the enrollment answer; a
// device enrolls in one account per cluster, so a code unique in the
// cluster is unique in the account.
func (a *agent) deriveDeviceCode() (string, error) {
	id, err := state.MachineID()
	if err != nil {
		a.log.Warn("no machine identity; using a random Device Code kept in the state directory", "err", err)
		return state.NewDeviceCode()
	}
	dir, err := filepath.Abs(a.dir.Path())
	if err != nil {
		dir = a.dir.Path()
	}
	return state.DeriveDeviceCode(id, a.cafp+"\x00"+dir), nil
}

// caFingerprint is "sha256:<hex>" of the first certificate in the CA file,
// or "" when it cannot be read (LoadCAPool reports real problems).
func caFingerprint(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	cert, err := certs.ParseCertPEM(b)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// servers is the list to fail over across: the configured servers, then
// any learned from the cluster in an earlier run.
func (a *agent) servers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := slices.Clone(a.cfg.Servers)
	for _, s := range a.learned {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func (a *agent) clientOptions() []client.Option {
	// Between heartbeats the device holds no connection, and each device
	// returns to the node its Device Code hashes to, so that a fleet spreads
	// over the cluster (docs/performance.md).
	return []client.Option{client.WithLogger(a.log), client.WithCAFile(a.cfg.CAFile),
		client.WithIdleClose(client.DefaultIdleClose), client.WithAffinity(a.device.DeviceCode)}
}

// connect builds the mTLS client from the stored device credentials. It does
// not dial: the heartbeat loop does, and keeps retrying.
func (a *agent) connect() error {
	certPEM, keyPEM, err := a.dir.LoadCredentials()
	if err != nil {
		return fmt.Errorf("load device credentials: %w", err)
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("device credentials in %s: %w", a.dir.Path(), err)
	}
	conf := a.tls.Clone()
	conf.Certificates = []tls.Certificate{pair}
	c, err := client.New(a.servers(), conf, a.clientOptions()...)
	if err != nil {
		return err
	}
	a.client.Store(c)
	return nil
}

// enroll gets the device its certificate, retrying transient failures until
// ctx ends. A refusal (bad token, untrusted server) is returned at once.
func (a *agent) enroll(ctx context.Context) error {
	key, err := certs.NewDeviceKey()
	if err != nil {
		return err
	}
	csr, err := certs.CreateCSR(key, a.device.DeviceCode)
	if err != nil {
		return err
	}
	keyPEM, err := certs.EncodeKeyPEM(key)
	if err != nil {
		return err
	}
	c, err := client.New(a.servers(), a.tls, a.clientOptions()...)
	if err != nil {
		return err
	}
	defer c.Close()

	hostname, _ := os.Hostname()
	req := protocol.EnrollRequest{Token: a.cfg.EnrollToken, DeviceCode: a.device.DeviceCode, CSR: csr, Hostname: hostname}
	reqID := newRequestID() // the same on every retry: the server enrolls once
	a.log.Info("enrolling device", "device_code", a.device.DeviceCode, "servers", c.Servers())
	var resp protocol.EnrollResponse
	// An enrollment file installed meanwhile (offline.go) ends the attempt.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-a.fileEnrolled:
			stop()
		case <-ctx.Done():
		}
	}()
	for attempt := 1; ; attempt++ {
		err := c.Do(ctx, protocol.TypeEnroll, reqID, req, &resp)
		if err == nil {
			break
		}
		select {
		case <-a.fileEnrolled:
			return nil // enrolled by file while the cluster was out of reach
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var pe *protocol.Error
		var ue *client.UntrustedServerError
		switch {
		case errors.As(err, &pe) && !pe.Code.Temporary():
			return fmt.Errorf("enrollment refused: %w", err)
		case errors.As(err, &ue):
			return err
		case pe != nil:
			c.Failover()
		}
		a.log.Warn("enrollment failed; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(client.DefaultBackoff.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.fileEnrolled:
			t.Stop()
			return nil // enrolled by file (offline.go) while the cluster was out of reach
		}
	}

	if resp.DeviceCode != "" && resp.DeviceCode != a.device.DeviceCode {
		return fmt.Errorf("enrollment: the server enrolled device code %q, but this device is %q", resp.DeviceCode, a.device.DeviceCode)
	}
	if _, err := certs.KeyPair(resp.Certificate, keyPEM); err != nil {
		return fmt.Errorf("enrollment: the certificate the server returned does not match this device's key: %w", err)
	}
	if err := a.dir.SaveCredentials(resp.Certificate, keyPEM); err != nil {
		return err
	}
	a.mu.Lock()
	a.device.Account = resp.Account
	a.device.EnrolledAt = a.now().UTC()
	a.device.ServerCAFingerprint = a.cafp
	dev := a.device
	a.mu.Unlock()
	if err := a.dir.SaveDevice(&dev); err != nil {
		return err
	}
	a.learnServers(resp.Servers)
	a.log.Info("device enrolled", "device_code", dev.DeviceCode, "account", dev.Account)
	return nil
}

// learnServers adopts the cluster's server list (leader first) for future
// failover.
func (a *agent) learnServers(infos []protocol.ServerInfo) {
	var list []string
	for _, s := range infos {
		if s.Addr == "" {
			continue
		}
		if s.Leader {
			list = append([]string{s.Addr}, list...)
		} else {
			list = append(list, s.Addr)
		}
	}
	if len(list) == 0 {
		return
	}
	a.mu.Lock()
	changed := !slices.Equal(a.learned, list)
	a.learned = list
	a.mu.Unlock()
	if c := a.client.Load(); c != nil {
		if err := c.SetServers(list); err != nil {
			a.log.Warn("ignoring the server list from the cluster", "servers", list, "err", err)
			return
		}
	}
	if changed {
		a.log.Info("server list updated", "servers", list)
	}
}

func clampInterval(d time.Duration) time.Duration {
	return min(max(d, minHeartbeatInterval), maxHeartbeatInterval)
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
