package lease_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/protocol/lease"
)

func TestPrivateKeyPEM(t *testing.T) {
	k, err := lease.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := lease.GenerateKey()
	if bytes.Equal(k, k2) {
		t.Fatal("GenerateKey returned the same key twice")
	}
	pemBytes, err := lease.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("PEM = %s", pemBytes)
	}
	back, err := lease.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) {
		t.Fatal("round trip changed the key")
	}
	// It is plain PKCS#8, readable by the standard library (and openssl).
	block, _ := pem.Decode(pemBytes)
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
	if _, err := lease.MarshalPrivateKey(k[:10]); err == nil {
		t.Fatal("short key marshalled")
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pk8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	cases := []struct {
		name string
		pem  []byte
		want string
	}{
		{"rsa pkcs8", pk8(rsaKey), "RSA (2048 bits)"},
		{"ecdsa pkcs8", pk8(ecKey), "ECDSA (P-256)"},
		{"rsa pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "RSA"},
		{"ec sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "ECDSA"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `"CERTIFICATE"`},
		{"not pem", []byte("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"), "not PEM"},
		{"empty", nil, "not PEM"},
		{"garbage der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), "PKCS#8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := lease.ParsePrivateKey(tc.pem)
			if err == nil {
				t.Fatalf("accepted: %x", k)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "lease: ") {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
