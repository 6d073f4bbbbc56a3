package lease_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

var enc = base64.RawURLEncoding

// t0 is a fixed "now" for tests: tokens are issued at t0 and expire an hour later.
var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func newSigner(tb testing.TB, b byte) *lease.Signer {
	tb.Helper()
	s, err := lease.NewSigner(seedKey(b))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func sampleClaims() lease.Claims {
	return lease.Claims{
		Issuer:    "cluster-7f3a",
		Device:    "DEV-ABCD-1234",
		Account:   "acct-42",
		User:      "alice@example.com",
		Feature:   "cad-pro",
		AddOns:    []string{"render", "cam"},
		LeaseID:   1<<60 + 17,
		Kind:      lease.KindBorrowed,
		IssuedAt:  t0,
		NotBefore: t0.Add(-time.Minute),
		Expires:   t0.Add(time.Hour),
	}
}

func expectFor(c lease.Claims) lease.Expect {
	return lease.Expect{Issuer: c.Issuer, Device: c.Device, Feature: c.Feature, Now: c.IssuedAt.Add(time.Second)}
}

func mustSign(tb testing.TB, s *lease.Signer, c lease.Claims) string {
	tb.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok
}

// claimsEqual compares claims with time.Time.Equal semantics.
func claimsEqual(a, b *lease.Claims) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if !x.IssuedAt.Equal(y.IssuedAt) || !x.NotBefore.Equal(y.NotBefore) || !x.Expires.Equal(y.Expires) {
		return false
	}
	x.IssuedAt, x.NotBefore, x.Expires = time.Time{}, time.Time{}, time.Time{}
	y.IssuedAt, y.NotBefore, y.Expires = time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

// craft builds a compact JWS from raw header and payload JSON and raw signature bytes.
func craft(header, payload string, sig []byte) string {
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// signRaw builds a token over arbitrary header/payload JSON with k, so that
// tests can reach the checks that come after the signature.
func signRaw(k ed25519.PrivateKey, header, payload string) string {
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return in + "." + enc.EncodeToString(ed25519.Sign(k, []byte(in)))
}

func verifyErr(tb testing.TB, err error) *lease.VerifyError {
	tb.Helper()
	var ve *lease.VerifyError
	if !errors.As(err, &ve) {
		tb.Fatalf("error %v (%T) is not a *lease.VerifyError", err, err)
	}
	return ve
}

func wantReason(tb testing.TB, c *lease.Claims, err error, want lease.Reason) *lease.VerifyError {
	tb.Helper()
	if err == nil {
		tb.Fatalf("Verify succeeded (%+v), want %s", c, want)
	}
	if c != nil {
		tb.Errorf("Verify returned claims along with error %v", err)
	}
	ve := verifyErr(tb, err)
	if ve.Reason != want {
		tb.Fatalf("reason = %s (%v), want %s", ve.Reason, err, want)
	}
	if lease.ReasonOf(err) != want {
		tb.Fatalf("ReasonOf = %s, want %s", lease.ReasonOf(err), want)
	}
	return ve
}
