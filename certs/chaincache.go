package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// ChainCache remembers certificate chains that verified, with what the
// verification found (a device or node identity), so that a peer presenting
// the same chain again — an agent reconnecting for each heartbeat, a
// follower forwarding one command per request — does not pay a chain
// verification with an ECDSA signature check each time. The CA pool a
// server verifies against cannot change while it runs, so a chain that
// verified once verifies again within the validity window of all its
// certificates; the window is checked on every hit, and a miss falls back
// to the full verification, which names the refusal. Only successes are
// stored.
type ChainCache[T any] struct {
	max int
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedChain[T]
}

type cachedChain[T any] struct {
	value     T
	notBefore time.Time // the latest NotBefore in the chain
	notAfter  time.Time // the earliest NotAfter in the chain
}

// NewChainCache returns a cache of at most max chains; when it is full it
// starts over, which costs one verification per peer.
func NewChainCache[T any](max int) *ChainCache[T] {
	return &ChainCache[T]{max: max}
}

// ChainKey identifies a chain by all its certificates.
func ChainKey(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range chain {
		if c != nil {
			h.Write(c.Raw)
		}
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Lookup returns what was stored for a chain verified before and valid at now.
func (c *ChainCache[T]) Lookup(k [sha256.Size]byte, now time.Time) (T, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || now.Before(e.notBefore) || now.After(e.notAfter) {
		var zero T
		return zero, false
	}
	return e.value, true
}

// Store remembers v for a chain that has just verified.
func (c *ChainCache[T]) Store(k [sha256.Size]byte, chain []*x509.Certificate, v T) {
	e := cachedChain[T]{value: v}
	first := true
	for _, cert := range chain {
		if cert == nil {
			continue
		}
		if first || cert.NotBefore.After(e.notBefore) {
			e.notBefore = cert.NotBefore
		}
		if first || cert.NotAfter.Before(e.notAfter) {
			e.notAfter = cert.NotAfter
		}
		first = false
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[[sha256.Size]byte]cachedChain[T])
	}
	c.m[k] = e
	c.mu.Unlock()
}

// NodeVerifier is VerifyNode with a ChainCache in front: a follower
// forwards each device's checkout, renewal and release to the leader as its
// own HTTPS request, and verifying the follower's chain on each was 9 % of
// the leader's CPU in a 3-node checkout storm (tally-bench profile).
type NodeVerifier struct {
	pool  *x509.CertPool
	cache *ChainCache[string]
}

// NewNodeVerifier verifies node chains against pool (which may be nil: then
// every verification fails as VerifyNode's does).
func NewNodeVerifier(pool *x509.CertPool) *NodeVerifier {
	return &NodeVerifier{pool: pool, cache: NewChainCache[string](1024)}
}

// Verify returns the node ID of chain, as VerifyNode does.
func (v *NodeVerifier) Verify(chain []*x509.Certificate, now time.Time) (string, error) {
	if v.pool == nil || len(chain) == 0 {
		return VerifyNode(v.pool, chain, now)
	}
	k := ChainKey(chain)
	if id, ok := v.cache.Lookup(k, now); ok {
		return id, nil
	}
	id, err := VerifyNode(v.pool, chain, now)
	if err != nil {
		return "", err
	}
	v.cache.Store(k, chain, id)
	return id, nil
}
