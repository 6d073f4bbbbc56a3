package agentsrv

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/tally-licensing/tally/certs"
)

// A remembered chain is only trusted inside the validity window of every
// certificate in it: past the earliest NotAfter (here the intermediate's)
// the full verification runs again and refuses it.
func TestVerifiedChainExpiresWithItsShortestCertificate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{Raw: []byte("leaf"), NotBefore: t0, NotAfter: t0.Add(48 * time.Hour)}
	inter := &x509.Certificate{Raw: []byte("intermediate"), NotBefore: t0.Add(time.Hour), NotAfter: t0.Add(24 * time.Hour)}
	chain := []*x509.Certificate{leaf, inter}
	var v verifiedCache
	k := chainKey(chain)
	v.store(k, chain, certs.DeviceID{Account: "acme", DeviceCode: "DEV-1"}, "fp")
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(30 * time.Minute), false}, // before the intermediate's NotBefore
		{t0.Add(2 * time.Hour), true},
		{t0.Add(25 * time.Hour), false}, // the intermediate expired
	} {
		e, ok := v.lookup(k, c.at)
		if ok != c.want {
			t.Errorf("at %s: hit %v; want %v", c.at, ok, c.want)
		}
		if ok && (e.id.DeviceCode != "DEV-1" || e.keyFP != "fp") {
			t.Errorf("entry %+v", e)
		}
	}
	// Another chain (same leaf, no intermediate) is another entry.
	if _, ok := v.lookup(chainKey(chain[:1]), t0.Add(2*time.Hour)); ok {
		t.Error("a different chain hit the cache")
	}
}
