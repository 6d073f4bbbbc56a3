package lease_test

import (
	"testing"

	"github.com/tally-licensing/tally/protocol/lease"
)

func BenchmarkSign(b *testing.B) {
	s := newSigner(b, 1)
	c := sampleClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSetup(b *testing.B) (*lease.KeySet, string, lease.Expect) {
	s := newSigner(b, 1)
	// A realistic set: the current key plus two retired ones.
	ks := lease.NewKeySet(newSigner(b, 2).PublicKey(), s.PublicKey(), newSigner(b, 3).PublicKey())
	c := sampleClaims()
	return ks, mustSign(b, s, c), expectFor(c)
}

func BenchmarkVerify(b *testing.B) {
	ks, tok, want := benchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Verify(tok, want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	ks, tok, want := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ks.Verify(tok, want); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyRejectAlg measures the cost of turning away a forged
// alg-none token (no signature check is done).
func BenchmarkVerifyRejectAlg(b *testing.B) {
	ks, _, want := benchSetup(b)
	tok := craft(`{"alg":"none","typ":"JWT"}`, `{"iss":"cluster-7f3a","aud":"DEV-ABCD-1234"}`, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Verify(tok, want); lease.ReasonOf(err) != lease.ReasonBadAlgorithm {
			b.Fatal(err)
		}
	}
}
