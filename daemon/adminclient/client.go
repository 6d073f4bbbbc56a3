// Package adminclient calls tallyd's admin API; tallyctl and the tests use it.
package adminclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
)

// Client is an admin API client.
type Client struct {
	base  string
	token string
	http  *http.Client
	// Consistent asks for reads served from the leader's current view
	// rather than from whichever node answers.
	Consistent bool

	mu   sync.Mutex
	last Freshness
}

// Freshness says which node answered and how current its ledger was.
type Freshness struct {
	Node         string        `json:"node"`
	RaftState    string        `json:"raft_state"`
	Leader       string        `json:"leader"`
	AppliedIndex uint64        `json:"applied_index"`
	Consistency  string        `json:"consistency"`
	LastContact  time.Duration `json:"last_contact,omitempty"`
	// LastContactKnown is false on the leader, which contacts nobody.
	LastContactKnown bool `json:"-"`
}

// String reads like "node2 (Follower, applied index 57, leader contact 40ms ago)".
func (f Freshness) String() string {
	if f.Node == "" {
		return "unknown node"
	}
	s := fmt.Sprintf("%s (%s, applied index %d", f.Node, f.RaftState, f.AppliedIndex)
	if f.LastContactKnown {
		s += fmt.Sprintf(", leader contact %s ago", f.LastContact)
	}
	if f.Consistency == api.ConsistencyLeader {
		s += ", consistent read"
	}
	return s + ")"
}

// LastFreshness reports the freshness headers of the latest answer.
func (c *Client) LastFreshness() Freshness {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *Client) noteFreshness(h http.Header) {
	f := Freshness{Node: h.Get(api.HeaderNode), RaftState: h.Get(api.HeaderRaftState), Leader: h.Get(api.HeaderLeader),
		Consistency: h.Get(api.HeaderConsistency)}
	f.AppliedIndex, _ = strconv.ParseUint(h.Get(api.HeaderAppliedIndex), 10, 64)
	if ms, err := strconv.ParseInt(h.Get(api.HeaderLastContact), 10, 64); err == nil {
		f.LastContact, f.LastContactKnown = time.Duration(ms)*time.Millisecond, true
	}
	c.mu.Lock()
	c.last = f
	c.mu.Unlock()
}

// New returns a client for addr ("host:port" or an https:// URL), trusting
// the cluster CA in caFile (the system roots when empty).
func New(addr, token, caFile string) (*Client, error) {
	if addr == "" {
		return nil, errors.New("no admin address: pass --addr or set TALLY_ADDR")
	}
	base := strings.TrimRight(addr, "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := certs.LoadCAPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("cluster CA: %w", err)
		}
		tlsConf.RootCAs = pool
	}
	return &Client{base: base, token: strings.TrimSpace(token), http: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true},
	}}, nil
}

// Do sends a request with an optional JSON body and decodes the JSON answer
// into out. API errors come back as *protocol.Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.DoBody(ctx, method, path, nil, nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	return c.DoBody(ctx, method, path, b, nil, out)
}

// DoBody is Do with an already encoded JSON body (nil for none). wrap, if
// not nil, wraps the body as it is sent, for instance to report upload
// progress.
func (c *Client) DoBody(ctx context.Context, method, path string, in []byte, wrap func(io.Reader) io.Reader, out any) error {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(in)
		if wrap != nil {
			body = wrap(body)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.ContentLength = int64(len(in))
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.Consistent {
		req.Header.Set(api.HeaderConsistency, api.ConsistencyLeader)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	c.noteFreshness(resp.Header)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return &protocol.Error{Code: protocol.Code(eb.Error.Code), Message: eb.Error.Message}
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if b, ok := out.(*[]byte); ok {
		*b = raw
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}
