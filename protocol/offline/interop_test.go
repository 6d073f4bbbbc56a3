package offline_test

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/offline"
)

// TestFilesInteropWithGoJose: a request file signed by go-jose, as agents
// before protocol/jws wrote them (ES256, x5c of the device certificate),
// verifies; one written now verifies with go-jose; a go-jose file signed by
// another key than its certificate's is refused.
func TestFilesInteropWithGoJose(t *testing.T) {
	ca, err := certs.NewCA("c1", t0)
	if err != nil {
		t.Fatal(err)
	}
	cert := func(key *ecdsa.PrivateKey) []byte {
		csr, err := certs.CreateCSR(key, "AAAA-BBBB-CCCC")
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.SignDevice(csr, "lab", "AAAA-BBBB-CCCC", t0, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key, _ := certs.NewDeviceKey()
	certPEM := cert(key)
	req := offline.LeaseRequest{Account: "lab", Device: "AAAA-BBBB-CCCC", Feature: "cad", Borrow: protocol.Duration(48 * time.Hour), Nonce: "n", IssuedAt: t0}
	goJose := func(signer *ecdsa.PrivateKey, certPEM []byte) string {
		block, _ := pem.Decode(certPEM)
		payload, _ := json.Marshal(req)
		opts := (&jose.SignerOptions{}).WithType(offline.TypeRequest).WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(block.Bytes)})
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signer}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := obj.CompactSerialize()
		return out
	}

	got, err := offline.Verify(goJose(key, certPEM), offline.TypeRequest)
	if err != nil {
		t.Fatalf("go-jose's file: %v", err)
	}
	var back offline.LeaseRequest
	if err := offline.Decode(got.Payload, &back); err != nil || back.Feature != "cad" {
		t.Fatalf("decoded %+v, %v", back, err)
	}

	ours, err := offline.Sign(offline.TypeRequest, req, key, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseSigned(ours, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Verify(&key.PublicKey); err != nil {
		t.Fatalf("go-jose verifies ours: %v", err)
	}

	// Signed by a key other than the certificate's: forged.
	thief, _ := certs.NewDeviceKey()
	if _, err := offline.Verify(goJose(thief, certPEM), offline.TypeRequest); err == nil || !strings.Contains(err.Error(), "forged") {
		t.Fatalf("a file signed by another key: %v", err)
	}
	if _, err := offline.Verify(goJose(key, certPEM), offline.TypeReturn); err == nil {
		t.Fatal("a request verified as a return")
	}
}
