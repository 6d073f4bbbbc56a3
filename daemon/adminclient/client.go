// Package adminclient calls tallyd's admin API; tallyctl and the tests use it.
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
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol"
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
	// seen is the highest Raft index any answer carried; every request
	// asks the node to have applied at least that much (read your writes,
	// whichever node answers).
	seen uint64
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
	if f.Consistency == adminapi.ConsistencyLeader {
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
	f := Freshness{Node: h.Get(adminapi.HeaderNode), RaftState: h.Get(adminapi.HeaderRaftState), Leader: h.Get(adminapi.HeaderLeader),
		Consistency: h.Get(adminapi.HeaderConsistency)}
	f.AppliedIndex, _ = strconv.ParseUint(h.Get(adminapi.HeaderAppliedIndex), 10, 64)
	if ms, err := strconv.ParseInt(h.Get(adminapi.HeaderLastContact), 10, 64); err == nil {
		f.LastContact, f.LastContactKnown = time.Duration(ms)*time.Millisecond, true
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
	// Every write carries an idempotency key, the same on each retry: a
	// write whose answer was lost (EOF, connection reset) is sent again,
	// and the server answers the retry with the first attempt's outcome
	// instead of making the change twice.
	var key string
	if method != http.MethodGet && method != http.MethodHead {
		key = newIdempotencyKey()
	}
	var resp *http.Response
	var raw []byte
	for attempt := 1; ; attempt++ {
		var err error
		resp, err = c.send(ctx, method, path, in, wrap, key)
		if err == nil {
			raw, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			resp.Body.Close()
			if err == nil {
				break
			}
			err = fmt.Errorf("read the answer: %w", err)
		}
		if key == "" || attempt >= maxAttempts || !answerLost(err) || ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", method, path, err)
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	c.noteFreshness(resp.Header)
	if resp.StatusCode >= 300 {
		var eb adminapi.ErrorBody
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

// maxAttempts is how often a write whose answer was lost is sent.
const maxAttempts = 4

// send makes one attempt of a request.
func (c *Client) send(ctx context.Context, method, path string, in []byte, wrap func(io.Reader) io.Reader, key string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(in)
		if wrap != nil {
			body = wrap(body)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
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
		req.Header.Set(adminapi.HeaderConsistency, adminapi.ConsistencyLeader)
	}
	if key != "" {
		req.Header.Set(adminapi.HeaderIdempotencyKey, key)
	}
	if seen := c.MinIndex(); seen > 0 {
		req.Header.Set(adminapi.HeaderMinIndex, strconv.FormatUint(seen, 10))
	}
	return c.http.Do(req)
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
