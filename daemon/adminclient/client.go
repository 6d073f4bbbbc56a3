// Package adminclient calls tallyd's admin API; tallyctl and the tests use it.
//
// Design: docs/design.md#parts.
package adminclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
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
	"syscall"
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
	// seen is the highest Raft index any answer carried; every request
	// asks the node to have applied at least that much (read your writes,
	// whichever node answers).
	seen uint64
}

// Freshness says which node answered and how current its ledger was.
type Freshness struct {
	// Addr is the address this client reached (one of those it was given).
	Addr         string            `json:"addr,omitempty"`
	Node         string            `json:"node"`
	RaftState    string            `json:"raft_state"`
	Leader       string            `json:"leader"`
	AppliedIndex uint64            `json:"applied_index"`
	Consistency  string            `json:"consistency"`
	LastContact  protocol.Duration `json:"last_contact,omitempty"`
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
		f.LastContact, f.LastContactKnown = protocol.Duration(time.Duration(ms)*time.Millisecond), true
	}
	c.mu.Lock()
	c.last = f
	c.seen = max(c.seen, f.AppliedIndex)
	c.mu.Unlock()
}

// MinIndex is the highest Raft applied index this client has seen.
func (c *Client) MinIndex() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
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
	// Every write carries an idempotency key, the same on each retry: a
	// write whose answer was lost (EOF, connection reset) is sent again,
	// here or to the next node, and the cluster answers the retry with the
	// first attempt's outcome instead of making the change twice.
	var key string
	if method != http.MethodGet && method != http.MethodHead {
		key = newIdempotencyKey()
	}
	c.mu.Lock()
	first := c.current
	c.failovers = nil
	c.mu.Unlock()
	tries := len(c.bases)
	if key != "" {
		tries = max(tries, maxWriteAttempts)
	}
	var resp *http.Response
	var raw []byte
	var base string
	for i := range tries {
		base = c.bases[(first+i)%len(c.bases)]
		req, err := c.newRequest(ctx, method, base+path, in, wrap, key)
		if err != nil {
			return err
		}
		resp, err = c.http.Do(req)
		if err == nil {
			raw, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			resp.Body.Close()
			if err != nil {
				err = fmt.Errorf("read the answer: %w", err)
			}
		}
		if err == nil {
			c.mu.Lock()
			c.current = (first + i) % len(c.bases)
			c.mu.Unlock()
			break
		}
		if i == tries-1 || !mayTryNext(method, key, err) || ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		c.mu.Lock()
		c.failovers = append(c.failovers, fmt.Sprintf("%s: %v", strings.TrimPrefix(base, "https://"), err))
		c.mu.Unlock()
		if answerLost(err) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s %s: %w", method, path, err)
			case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
			}
		}
	}
	c.noteFreshness(strings.TrimPrefix(base, "https://"), resp.Header)
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

// maxWriteAttempts is how often a write whose answer was lost is sent.
const maxWriteAttempts = 4

// mayTryNext reports whether a failed request may be sent again (to the
// next node): a read always may, and so may a write with an idempotency
// key (the cluster answers a repeat with the first outcome); a write
// without one only when the connection was never made, so the first node
// cannot have acted on it.
func mayTryNext(method, key string, err error) bool {
	if method == http.MethodGet || method == http.MethodHead || key != "" {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// newRequest builds one attempt of a request (the body is read anew for
// each node tried).
func (c *Client) newRequest(ctx context.Context, method, url string, in []byte, wrap func(io.Reader) io.Reader, key string) (*http.Request, error) {
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
	if key != "" {
		req.Header.Set(api.HeaderIdempotencyKey, key)
	}
	if seen := c.MinIndex(); seen > 0 {
		req.Header.Set(api.HeaderMinIndex, strconv.FormatUint(seen, 10))
	}
	return req, nil
}

// answerLost reports whether a request failed after it may have reached
// the server: the connection ended before a full answer came back.
func answerLost(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "server closed") || strings.Contains(err.Error(), "broken pipe")
}

// newIdempotencyKey returns 128 random bits in hex.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
