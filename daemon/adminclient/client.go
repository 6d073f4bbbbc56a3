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
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
)

// Client is an admin API client. It knows one or more nodes of a cluster
// and sends each request to the one that answered last, moving on to the
// next when a node cannot be reached (see DoBody).
type Client struct {
	bases []string
	token string
	http  *http.Client
	// Consistent asks for reads served from the leader's current view
	// rather than from whichever node answers.
	Consistent bool

	mu        sync.Mutex
	last      Freshness
	current   int      // index in bases of the node to ask first
	failovers []string // nodes that did not answer the latest request, with why
}

// Freshness says which node answered and how current its ledger was.
type Freshness struct {
	// Addr is the address this client reached (one of those it was given).
	Addr         string        `json:"addr,omitempty"`
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

func (c *Client) noteFreshness(addr string, h http.Header) {
	f := Freshness{Addr: addr, Node: h.Get(api.HeaderNode), RaftState: h.Get(api.HeaderRaftState), Leader: h.Get(api.HeaderLeader),
		Consistency: h.Get(api.HeaderConsistency)}
	f.AppliedIndex, _ = strconv.ParseUint(h.Get(api.HeaderAppliedIndex), 10, 64)
	if ms, err := strconv.ParseInt(h.Get(api.HeaderLastContact), 10, 64); err == nil {
		f.LastContact, f.LastContactKnown = time.Duration(ms)*time.Millisecond, true
	}
	c.mu.Lock()
	c.last = f
	c.mu.Unlock()
}

// dialTimeout bounds one connection attempt to one node.
const dialTimeout = 5 * time.Second

// New returns a client for addr, trusting the cluster CA in caFile (the
// system roots when empty). addr is "host:port" or an https:// URL, or
// several separated by commas: the nodes of one cluster, tried in order.
func New(addr, token, caFile string) (*Client, error) {
	var bases []string
	for _, a := range strings.Split(addr, ",") {
		if a = strings.TrimRight(strings.TrimSpace(a), "/"); a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "https://" + a
		}
		bases = append(bases, a)
	}
	if len(bases) == 0 {
		return nil, errors.New("no admin address: pass --addr or set TALLY_ADDR (host:port, or several separated by commas)")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := certs.LoadCAPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("cluster CA: %w", err)
		}
		tlsConf.RootCAs = pool
	}
	return &Client{bases: bases, token: strings.TrimSpace(token), http: &http.Client{
		Timeout: 60 * time.Second,
		// A node that does not answer a dial within dialTimeout is passed
		// over for the next one rather than eating the whole deadline.
		Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true,
			DialContext: (&net.Dialer{Timeout: dialTimeout}).DialContext},
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
	c.mu.Lock()
	first := c.current
	c.failovers = nil
	c.mu.Unlock()
	var resp *http.Response
	var base string
	for i := range c.bases {
		base = c.bases[(first+i)%len(c.bases)]
		req, err := c.newRequest(ctx, method, base+path, in, wrap)
		if err != nil {
			return err
		}
		resp, err = c.http.Do(req)
		if err == nil {
			c.mu.Lock()
			c.current = (first + i) % len(c.bases)
			c.mu.Unlock()
			break
		}
		if i == len(c.bases)-1 || !mayTryNext(method, err) || ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		c.mu.Lock()
		c.failovers = append(c.failovers, fmt.Sprintf("%s: %v", strings.TrimPrefix(base, "https://"), err))
		c.mu.Unlock()
	}
	defer resp.Body.Close()
	c.noteFreshness(strings.TrimPrefix(base, "https://"), resp.Header)
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

// Failovers lists the nodes that could not be reached during the latest
// request, each with the reason, before one answered.
func (c *Client) Failovers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.failovers)
}

// mayTryNext reports whether a failed request may go to the next node: a
// read always may; a write only when the connection was never made, so the
// first node cannot have acted on it.
func mayTryNext(method string, err error) bool {
	if method == http.MethodGet || method == http.MethodHead {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// newRequest builds one attempt of a request (the body is read anew for
// each node tried).
func (c *Client) newRequest(ctx context.Context, method, url string, in []byte, wrap func(io.Reader) io.Reader) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(in)
		if wrap != nil {
			body = wrap(body)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
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
	return req, nil
}
