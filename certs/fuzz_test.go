package certs

import (
	"testing"
	"time"
)

// FuzzParsePEM: private-key and certificate PEM from outside (data dirs,
// join bundles, backups, agent state) never panic the parsers.
func FuzzParsePEM(f *testing.F) {
	ca, err := NewCA("fuzz", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	key, _ := EncodeKeyPEM(ca.Key)
	f.Add(ca.CertPEM())
	f.Add(key)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\n\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := ParseKeyPEM(data); err == nil && k == nil {
			t.Fatal("no error and no key")
		}
		if c, err := ParseCertPEM(data); err == nil && c == nil {
			t.Fatal("no error and no certificate")
		}
		_, _ = KeyPair(data, data)
	})
}
