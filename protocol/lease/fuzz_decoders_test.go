package lease_test

import (
	"testing"

	"github.com/tally-licensing/tally/protocol/lease"
)

// FuzzParseKeySet: a JWKS from outside (a file, the server list) never
// panics the parser, and a set it accepts only verifies with its own keys.
func FuzzParseKeySet(f *testing.F) {
	s := newSigner(f, 1)
	doc, err := lease.NewKeySet(s.PublicKey()).MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"","kid":"a"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	tok := mustSign(f, s, sampleClaims())
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := lease.ParseKeySet(data)
		if err != nil {
			return
		}
		_, _ = ks.Verify(tok, expectFor(sampleClaims()))
	})
}

// FuzzParsePrivateKey: a signing key file never panics the parser.
func FuzzParsePrivateKey(f *testing.F) {
	pem, err := lease.MarshalPrivateKey(seedKey(1))
	if err == nil {
		f.Add(pem)
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := lease.ParsePrivateKey(data)
		if err == nil && len(k) == 0 {
			t.Fatal("no error and no key")
		}
	})
}
