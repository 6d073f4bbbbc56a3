// Package sdk is how an application gets a Tally lease: it asks the local
// tally-agent over its Unix socket, never the cluster itself.
//
//	c := sdk.New("") // $TALLY_AGENT_SOCKET, else the default socket
//	lease, err := c.Checkout(ctx, "cad", sdk.WithWait(30*time.Second))
//	if protocol.CodeOf(err) == protocol.CodeNoSeat { ... }
//	defer c.Release(context.Background(), "cad")
//
// CheckoutVerified does the same and also verifies the token against the
// cluster's public keys (the JWKS the agent received), returning its claims
// and add-ons; an application that passes the token elsewhere verifies it
// there. Errors reported by the agent
// are *protocol.Error values, so errors.Is and protocol.CodeOf work on them;
// an agent that cannot be reached is reported with CodeUnavailable.
//
// Design: docs/design.md#lease-tokens.
package sdk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Lease is a granted seat: its ID, feature, kind, token (a JWS to verify
// offline) and expiry.
type Lease = protocol.Lease

// Status describes the agent: device, connection and held leases.
type Status = api.Status

// CodeClockRollback is the code of a checkout refused because the device
// clock went back.
const CodeClockRollback = api.CodeClockRollback

// Client talks to the local agent. It is safe for concurrent use.
type Client struct {
	socket string

	mu     sync.Mutex
	keys   *lease.KeySet // JWKS from the agent, fetched on first use
	device string        // this device's code, for the token's audience
	// vendorKeys, when set, make Verify check every lease against the
	// vendor entitlement it names (SetVendorKeys).
	vendorKeys []ed25519.PublicKey
}

// SetVendorKeys makes Verify and CheckoutVerified also check each lease
// against the vendor entitlement it was granted under, offline, with the
// vendor's public key(s) built into the application: the entitlement's
// signature, that it binds this cluster, and that the feature, add-ons and
// expiry lie inside it (protocol/entitlement.VerifyLease). A lease granted
// under no entitlement then fails.
func (c *Client) SetVendorKeys(keys ...ed25519.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vendorKeys = slices.Clone(keys)
}

// Entitlements returns the bundle an application checks leases against:
// the account's entitlements, the cluster CA and the certificates of the
// lease-signing keys.
func (c *Client) Entitlements(ctx context.Context) (*entitlement.Bundle, error) {
	var b entitlement.Bundle
	if err := c.do(ctx, http.MethodGet, api.PathEntitlements, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// New returns a client for the agent listening on socketPath; "" means
// $TALLY_AGENT_SOCKET, else the default socket location.
func New(socketPath string) *Client {
	if socketPath == "" {
		socketPath = api.DefaultSocketPath()
	}
	return &Client{socket: socketPath}
}

// SocketPath returns the socket the client talks to.
func (c *Client) SocketPath() string { return c.socket }

// CheckoutOption tunes a checkout.
type CheckoutOption func(*api.CheckoutRequest)

// WithWait lets the cluster queue the checkout for up to d when no seat is
// free, instead of failing at once with protocol.CodeNoSeat.
func WithWait(d time.Duration) CheckoutOption {
	return func(r *api.CheckoutRequest) { r.Wait = protocol.Duration(d) }
}

// WithTeam names the team the seat is for (team caps and reservations).
func WithTeam(team string) CheckoutOption {
	return func(r *api.CheckoutRequest) { r.Team = team }
}

// WithBorrow asks for an offline lease of d, within the pool's borrow limit.
func WithBorrow(d time.Duration) CheckoutOption {
	return func(r *api.CheckoutRequest) { r.Borrow = protocol.Duration(d) }
}

// WithPriority orders this request among waiters: higher first.
func WithPriority(p int) CheckoutOption {
	return func(r *api.CheckoutRequest) { r.Priority = p }
}

// WithReleaseOnExit ties the lease to this process: the agent releases it
// when the process exits (Linux; elsewhere the option is ignored).
func WithReleaseOnExit() CheckoutOption {
	return func(r *api.CheckoutRequest) { r.ReleaseOnExit = true }
}

// Checkout returns this device's lease on feature, taking a seat if the
// device holds none.
func (c *Client) Checkout(ctx context.Context, feature string, opts ...CheckoutOption) (*Lease, error) {
	req := api.CheckoutRequest{Feature: feature}
	for _, o := range opts {
		o(&req)
	}
	var resp api.LeaseResponse
	if err := c.do(ctx, http.MethodPost, api.PathCheckout, req, &resp); err != nil {
		return nil, err
	}
	return &resp.Lease, nil
}

// TryCheckout is Checkout that never waits for a seat: when none is free it
// fails at once with protocol.CodeNoSeat.
func (c *Client) TryCheckout(ctx context.Context, feature string) (*Lease, error) {
	return c.Checkout(ctx, feature, WithWait(0))
}

// Result is the outcome of CheckoutAsync.
type Result struct {
	Lease *Lease
	Err   error
}

// CheckoutAsync starts a Checkout (typically WithWait, queueing for a seat)
// and returns at once; the channel delivers the one result. Cancel ctx to
// give up waiting.
func (c *Client) CheckoutAsync(ctx context.Context, feature string, opts ...CheckoutOption) <-chan Result {
	ch := make(chan Result, 1)
	go func() {
		l, err := c.Checkout(ctx, feature, opts...)
		ch <- Result{Lease: l, Err: err}
	}()
	return ch
}

// VerifyLeeway is the clock difference Verify tolerates between this device
// and the server that signed the token: a token issued a moment ago by a
// server whose clock is a little ahead is not "not yet valid" here.
const VerifyLeeway = time.Minute

// Verified is a lease whose token verified against the cluster's keys.
type Verified struct {
	Lease  *Lease
	Claims *lease.Claims
	// Entitlement is the vendor entitlement the lease lies inside, when the
	// client has vendor keys (SetVendorKeys).
	Entitlement *entitlement.Signed
}

// AddOns are the add-on codes the token grants with its feature.
func (v *Verified) AddOns() []string { return v.Claims.AddOns }

// HasAddOn reports whether the token grants add-on code.
func (v *Verified) HasAddOn(code string) bool { return slices.Contains(v.Claims.AddOns, code) }

// CheckoutVerified is Checkout followed by Verify.
func (c *Client) CheckoutVerified(ctx context.Context, feature string, opts ...CheckoutOption) (*Verified, error) {
	l, err := c.Checkout(ctx, feature, opts...)
	if err != nil {
		return nil, err
	}
	return c.Verify(ctx, l)
}

// Verify checks l's token offline against the cluster's JWKS (fetched from
// the agent once, and again when the token names a key the client has not
// seen): signature, this device as audience, the feature and the expiry. A
// token that fails is reported as a *lease.VerifyError (see lease.ReasonOf).
func (c *Client) Verify(ctx context.Context, l *Lease) (*Verified, error) {
	ks, device, err := c.verifier(ctx, false)
	if err != nil {
		return nil, err
	}
	want := lease.Expect{Device: device, Feature: l.Feature, Leeway: VerifyLeeway}
	claims, err := ks.Verify(l.Token, want)
	if lease.ReasonOf(err) == lease.ReasonUnknownKey {
		// The cluster may have rotated its signing key since: refetch once.
		if ks, device, err = c.verifier(ctx, true); err != nil {
			return nil, err
		}
		want.Device = device
		claims, err = ks.Verify(l.Token, want)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	vendorKeys := c.vendorKeys
	c.mu.Unlock()
	if len(vendorKeys) == 0 {
		return &Verified{Lease: l, Claims: claims}, nil
	}
	b, err := c.Entitlements(ctx)
	if err != nil {
		return nil, err
	}
	claims, ent, err := entitlement.VerifyLease(l.Token, *b, entitlement.Expect{Device: want.Device, Feature: l.Feature, Leeway: VerifyLeeway}, vendorKeys...)
	if err != nil {
		return nil, err
	}
	return &Verified{Lease: l, Claims: claims, Entitlement: ent}, nil
}

// JWKS returns the cluster's public lease-signing keys as the agent last
// received them: a JWKS document any JWT library can verify tokens with.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, api.PathJWKS, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// verifier returns the key set and the Device Code, fetching them when not
// cached or when refresh is set.
func (c *Client) verifier(ctx context.Context, refresh bool) (*lease.KeySet, string, error) {
	c.mu.Lock()
	ks, device := c.keys, c.device
	c.mu.Unlock()
	if ks != nil && device != "" && !refresh {
		return ks, device, nil
	}
	doc, err := c.JWKS(ctx)
	if err != nil {
		return nil, "", err
	}
	if ks, err = lease.ParseKeySet(doc); err != nil {
		return nil, "", protocol.Errorf(protocol.CodeInternal, "the agent's JWKS: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	c.keys, c.device = ks, st.DeviceCode
	c.mu.Unlock()
	return ks, st.DeviceCode, nil
}

// Activity tells the agent that the application is using its lease on
// feature right now (a user action, a job running). The agent records the
// time; idle-release policies use it. It fails with
// protocol.CodeLeaseNotFound when the device holds no lease on feature.
func (c *Client) Activity(ctx context.Context, feature string) error {
	return c.do(ctx, http.MethodPost, api.PathActivity, api.ActivityRequest{Feature: feature}, nil)
}

// Activate signs email in on this device ("Activate Existing License"):
// the account admits the user if its seat policy (list or domain) allows
// and a seat is free. A user already in the account is answered as such.
func (c *Client) Activate(ctx context.Context, email string) (*protocol.ActivateResponse, error) {
	return c.ActivateWithPassword(ctx, email, "")
}

// ActivateWithPassword is Activate for a member who proves themselves: a
// member who joins now sets password, an existing member must give theirs,
// and the OS user running the application is then signed in as them (the
// response's SignedIn), so their next checkout is theirs.
func (c *Client) ActivateWithPassword(ctx context.Context, email, password string) (*protocol.ActivateResponse, error) {
	var out protocol.ActivateResponse
	if err := c.do(ctx, http.MethodPost, api.PathActivate, api.ActivateRequest{Email: email, Password: password}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Member is who a device sign-in proves: account, email, role, status,
// teams and the products of the member's named licenses.
type Member = protocol.Member

// Login signs a member in on this device for the OS user running the
// application (the agent knows it from the socket, not from the
// application). From then on that OS user's checkouts are the member's: the
// token's usr and add-ons are theirs, and the account's rules for members
// apply. Applications with their own sign-in screen call it with what the
// user typed; the password goes to the cluster once and is not kept. A
// wrong password fails with protocol.CodeUnauthorized.
func (c *Client) Login(ctx context.Context, email, password string) (*Member, error) {
	var m Member
	if err := c.do(ctx, http.MethodPost, api.PathLogin, api.LoginRequest{Email: email, Password: password}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// LoginStart opens a browser-approved sign-in for this OS user: show the
// returned UserCode; the member enters it, with their email and password,
// on their own browser (the console's "Approve a device"). Then call
// LoginWait.
func (c *Client) LoginStart(ctx context.Context) (*protocol.LoginStartResponse, error) {
	var r protocol.LoginStartResponse
	if err := c.do(ctx, http.MethodPost, api.PathLoginStart, struct{}{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// LoginWait waits until the code from LoginStart is approved and returns the
// member now signed in; it fails when the code expires or ctx ends.
func (c *Client) LoginWait(ctx context.Context) (*Member, error) {
	var m Member
	if err := c.do(ctx, http.MethodPost, api.PathLoginWait, struct{}{}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Logout ends this OS user's sign-in on the device; the cluster revokes the
// leases held under it.
func (c *Client) Logout(ctx context.Context) (*Member, error) {
	var m Member
	if err := c.do(ctx, http.MethodPost, api.PathLogout, struct{}{}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// WhoAmI asks the cluster who this OS user's sign-in proves now; it fails
// with protocol.CodeNotSignedIn when nobody is signed in or the sign-in has
// ended (signed out by an administrator, member removed).
func (c *Client) WhoAmI(ctx context.Context) (*Member, error) {
	var m Member
	if err := c.do(ctx, http.MethodGet, api.PathWhoAmI, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Release gives the device's lease on feature back. Releasing a feature the
// device does not hold fails with protocol.CodeLeaseNotFound.
func (c *Client) Release(ctx context.Context, feature string) error {
	return c.do(ctx, http.MethodPost, api.PathRelease, api.ReleaseRequest{Feature: feature}, nil)
}

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, api.PathStatus, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tally-agent"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return protocol.Errorf(protocol.CodeUnavailable, "cannot reach tally-agent at %s (is it running?): %v", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return protocol.Errorf(protocol.CodeUnavailable, "reading tally-agent's answer: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		var e api.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return e.Error
		}
		return protocol.Errorf(protocol.CodeInternal, "tally-agent answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return protocol.Errorf(protocol.CodeInternal, "malformed answer from tally-agent: %v", err)
	}
	return nil
}

// roundTrip sends req on a connection of its own to the agent's socket and
// reads the answer. It is http.Transport's job without the Transport:
// requests to a local socket are few and cheap to connect, and leaving out
// the connection pool, proxies and HTTP/2 upgrade keeps 0.3 MB of code out
// of every binary that links this package, tally-agent's CLI included
// (docs/performance.md, agent footprint). Cancelling ctx closes the
// connection, which ends a waiting checkout as the Transport would.
func (c *Client) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		return nil, err
	}
	req.Close = true // one request per connection: the agent closes it after answering
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody closes the connection with the answer's body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	err := b.ReadCloser.Close()
	b.conn.Close()
	return err
}
