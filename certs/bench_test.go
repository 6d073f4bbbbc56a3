package certs

import (
	"crypto/x509"
	"testing"
	"time"
)

func BenchmarkSignDevice(b *testing.B) {
	ca := newTestCA(b, "tally-bench")
	key, err := NewDeviceKey()
	if err != nil {
		b.Fatal(err)
	}
	csr, err := CreateCSR(key, "dev-1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.SignDevice(csr, "acme", "dev-1", testNow, 30*24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDevice(b *testing.B) {
	ca := newTestCA(b, "tally-bench")
	_, certPEM := issueDevice(b, ca, "acme", "dev-1", 30*24*time.Hour)
	chain := []*x509.Certificate{mustParseCert(b, certPEM)}
	pool := ca.Pool()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyDevice(pool, chain, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
