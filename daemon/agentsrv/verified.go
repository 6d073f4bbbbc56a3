package agentsrv

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	"github.com/tally-licensing/tally/certs"
)

// verifiedCache remembers device certificate chains that verified against
// the server's CA pool, so that an agent reconnecting for each heartbeat
// (a resumed TLS session carries the same chain) does not pay a chain
// verification with an ECDSA signature check each time: that was 15 % of
// tallyd's CPU in the heartbeat phase of the bench. The pool cannot change
// while the server runs, so a chain that verified once verifies again
// within the validity window of all its certificates; the window is checked
// on every hit and a miss falls back to the full verification, which names
// the refusal. Whether the device is still enrolled (and with this key) is
// not cached: the ledger is asked on every request.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedChain
}

type verifiedChain struct {
	id        certs.DeviceID
	keyFP     string
	notBefore time.Time // the latest NotBefore in the chain
	notAfter  time.Time // the earliest NotAfter in the chain
}

// maxVerified bounds the cache (about 250 bytes an entry); when it is full
// it starts over, which costs one verification per device.
const maxVerified = 1 << 18

func chainKey(chain []*x509.Certificate) [sha256.Size]byte {
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

// lookup returns the identity of a chain verified before and valid at now.
func (v *verifiedCache) lookup(k [sha256.Size]byte, now time.Time) (verifiedChain, bool) {
	v.mu.Lock()
	e, ok := v.m[k]
	v.mu.Unlock()
	if !ok || now.Before(e.notBefore) || now.After(e.notAfter) {
		return verifiedChain{}, false
	}
	return e, true
}

func (v *verifiedCache) store(k [sha256.Size]byte, chain []*x509.Certificate, id certs.DeviceID, keyFP string) {
	e := verifiedChain{id: id, keyFP: keyFP}
	for i, c := range chain {
		if c == nil {
			continue
		}
		if i == 0 || c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[[sha256.Size]byte]verifiedChain)
	}
	v.m[k] = e
	v.mu.Unlock()
}
