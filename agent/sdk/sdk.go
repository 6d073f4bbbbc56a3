// Package sdk is how an application gets a Tally lease: it asks the local
// tally-agent over its Unix socket, never the cluster itself.
//
//	c := sdk.New("") // $TALLY_AGENT_SOCKET, else the default socket
//	lease, err := c.Checkout(ctx, "cad", sdk.WithWait(30*time.Second))
//	if protocol.CodeOf(err) == protocol.CodeNoSeat { ... }
//	defer c.Release(context.Background(), "cad")
//
// Verify lease.Token offline before trusting it. Errors reported by the agent
// are *protocol.Error values, so errors.Is and protocol.CodeOf work on them;
// an agent that cannot be reached is reported with CodeUnavailable.
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/protocol"
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
	http   *http.Client
}

// New returns a client for the agent listening on socketPath; "" means
// $TALLY_AGENT_SOCKET, else the default socket location.
func New(socketPath string) *Client {
	if socketPath == "" {
		socketPath = api.DefaultSocketPath()
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socketPath, http: &http.Client{Transport: tr}}
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

// WithUser checks the seat out for a user: the token names the user and
// carries the add-on codes of the user's license for the feature.
func WithUser(email string) CheckoutOption {
	return func(r *api.CheckoutRequest) { r.User = email }
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
	resp, err := c.http.Do(req)
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
