package offline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/offline"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// device returns a device key and its certificate from a fresh CA.
func device(t *testing.T) (*certs.CA, []byte, func() ([]byte, error)) {
	t.Helper()
	ca, err := certs.NewCA("c1", t0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := certs.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.CreateCSR(key, "AAAA-BBBB-CCCC")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignDevice(csr, "lab", "AAAA-BBBB-CCCC", t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sign := func() ([]byte, error) {
		jws, err := offline.Sign(offline.TypeRequest, offline.LeaseRequest{Account: "lab", Device: "AAAA-BBBB-CCCC", Feature: "cad",
			Borrow: protocol.Duration(48 * time.Hour), Nonce: "0123456789abcdef0123456789abcdef", IssuedAt: t0}, key, cert)
		return []byte(jws), err
	}
	return ca, cert, sign
}

func TestSignedFilesVerifyAndRefuseChanges(t *testing.T) {
	_, cert, sign := device(t)
	raw, err := sign()
	if err != nil {
		t.Fatal(err)
	}
	jws := string(raw)
	got, err := offline.Verify(jws, offline.TypeRequest)
	if err != nil {
		t.Fatal(err)
	}
	var req offline.LeaseRequest
	if err := offline.Decode(got.Payload, &req); err != nil || req.Feature != "cad" || req.Borrow.D() != 48*time.Hour {
		t.Fatalf("decoded %+v, %v", req, err)
	}
	if c, _ := certs.ParseCertPEM(cert); !got.Cert.Equal(c) {
		t.Fatal("the signer is not the device certificate")
	}
	// A return file is not a request, and one changed byte fails.
	if _, err := offline.Verify(jws, offline.TypeReturn); err == nil {
		t.Fatal("a request verified as a return file")
	}
	parts := strings.Split(jws, ".")
	p := []byte(parts[1])
	p[3] ^= 1
	if _, err := offline.Verify(parts[0]+"."+string(p)+"."+parts[2], offline.TypeRequest); err == nil {
		t.Fatal("a changed request verified")
	}
	// Unknown members are refused when decoding.
	if err := offline.Decode([]byte(`{"account":"lab","unlimited":true}`), &req); err == nil {
		t.Fatal("an unknown member decoded")
	}
}

func TestCheckAge(t *testing.T) {
	for _, c := range []struct {
		issued time.Time
		ok     bool
	}{
		{t0, true},
		{t0.Add(-29 * 24 * time.Hour), true},
		{t0.Add(-31 * 24 * time.Hour), false},
		{t0.Add(2 * time.Second), true},
		{t0.Add(time.Hour), false},
		{time.Time{}, false},
	} {
		if err := offline.CheckAge(c.issued, t0, 5*time.Second); (err == nil) != c.ok {
			t.Errorf("issued %v: %v, want ok=%v", c.issued, err, c.ok)
		}
	}
}
