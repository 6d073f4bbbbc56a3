package certs

import (
	"crypto/x509"
	"testing"
	"time"
)

// A remembered chain is only trusted inside the validity window of every
// certificate in it: past the earliest NotAfter (here the intermediate's)
// the full verification runs again and refuses it.
func TestVerifiedChainExpiresWithItsShortestCertificate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{Raw: []byte("leaf"), NotBefore: t0, NotAfter: t0.Add(48 * time.Hour)}
	inter := &x509.Certificate{Raw: []byte("intermediate"), NotBefore: t0.Add(time.Hour), NotAfter: t0.Add(24 * time.Hour)}
	chain := []*x509.Certificate{leaf, inter}
	v := NewChainCache[DeviceID](16)
	k := ChainKey(chain)
	v.Store(k, chain, DeviceID{Account: "acme", DeviceCode: "DEV-1"})
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(30 * time.Minute), false}, // before the intermediate's NotBefore
		{t0.Add(2 * time.Hour), true},
		{t0.Add(25 * time.Hour), false}, // the intermediate expired
	} {
		e, ok := v.Lookup(k, c.at)
		if ok != c.want {
			t.Errorf("at %s: hit %v; want %v", c.at, ok, c.want)
		}
		if ok && e.DeviceCode != "DEV-1" {
			t.Errorf("entry %+v", e)
		}
	}
	// Another chain (same leaf, no intermediate) is another entry.
	if _, ok := v.Lookup(ChainKey(chain[:1]), t0.Add(2*time.Hour)); ok {
		t.Error("a different chain hit the cache")
	}
}

// The node verifier answers as VerifyNode does, cached or not: a node of
// this CA is named, another CA's node, a device certificate and an expired
// node certificate are refused, also after the same chain verified once.
func TestNodeVerifierAnswersAsVerifyNode(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	other := newTestCA(t, "tally-2")
	v := NewNodeVerifier(ca.Pool())
	nodePEM, _, err := ca.IssueNode("node-2", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	node := []*x509.Certificate{mustParseCert(t, nodePEM)}
	for i := 0; i < 2; i++ { // the second time from the cache
		id, err := v.Verify(node, testNow)
		if err != nil || id != "node-2" {
			t.Fatalf("round %d: Verify = %q, %v; want node-2", i, id, err)
		}
	}
	if _, err := v.Verify(node, testNow.Add(NodeValidity+time.Hour)); err == nil {
		t.Error("an expired node certificate verified from the cache")
	}
	strangerPEM, _, err := other.IssueNode("node-9", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := v.Verify([]*x509.Certificate{mustParseCert(t, strangerPEM)}, testNow); err == nil {
			t.Fatalf("round %d: another cluster's node verified", i)
		}
	}
	_, devPEM := issueDevice(t, ca, "acme", "DEV-1", time.Hour)
	if _, err := v.Verify([]*x509.Certificate{mustParseCert(t, devPEM)}, testNow); err == nil {
		t.Error("a device certificate verified as a node")
	}
	if _, err := NewNodeVerifier(nil).Verify(node, testNow); err == nil {
		t.Error("verified without a CA pool")
	}
}
