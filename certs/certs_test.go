package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func newTestCA(t testing.TB, id string) *CA {
	t.Helper()
	ca, err := NewCA(id, testNow)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func mustParseCert(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatalf("ParseCertPEM: %v", err)
	}
	return c
}

// issueDevice makes a device key, CSR and certificate.
func issueDevice(t testing.TB, ca *CA, account, code string, validity time.Duration) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CreateCSR(key, code)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignDevice(csr, account, code, testNow, validity)
	if err != nil {
		t.Fatalf("SignDevice: %v", err)
	}
	return key, certPEM
}

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "tally-abc")
	c := ca.Cert
	if got, want := c.Subject.CommonName, "Tally cluster CA tally-abc"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if !slices.Equal(c.Subject.Organization, []string{"Tally"}) {
		t.Errorf("O = %v", c.Subject.Organization)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if !c.NotBefore.Equal(testNow.Add(-time.Hour)) {
		t.Errorf("NotBefore = %v, want now-1h", c.NotBefore)
	}
	if !c.NotAfter.Equal(testNow.Add(CAValidity)) || CAValidity < 10*365*24*time.Hour {
		t.Errorf("NotAfter = %v, want now+10y", c.NotAfter)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T is not ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v: want a positive random 128-bit number", c.SerialNumber)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	other := newTestCA(t, "tally-abc")
	if other.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs got the same serial number")
	}
	if !bytes.Equal(mustParseCert(t, ca.CertPEM()).Raw, c.Raw) {
		t.Error("CertPEM does not round-trip")
	}
	if _, err := NewCA("", testNow); err == nil {
		t.Error("NewCA with an empty cluster ID succeeded")
	}
}

func TestSaveLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "tally-1")
	if err := ca.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for name, want := range map[string]fs.FileMode{"ca.pem": 0o644, "ca.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", name, got, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("dir holds %d entries, want ca.pem and ca.key only (temp files left behind?)", len(entries))
	}

	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !bytes.Equal(loaded.Cert.Raw, ca.Cert.Raw) || !loaded.Key.Equal(ca.Key) {
		t.Fatal("LoadCA returned a different CA")
	}
	// The loaded CA works: it issues a certificate the original pool accepts.
	_, devPEM := issueDevice(t, loaded, "acme", "dev-1", 24*time.Hour)
	if _, err := VerifyDevice(ca.Pool(), []*x509.Certificate{mustParseCert(t, devPEM)}, testNow); err != nil {
		t.Fatalf("certificate from the loaded CA: %v", err)
	}

	// Save refuses to overwrite the key, and leaves it untouched.
	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	err = newTestCA(t, "tally-2").Save(dir)
	if err == nil {
		t.Fatal("Save over an existing ca.key succeeded")
	}
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") || !strings.Contains(err.Error(), "ca.key") {
		t.Errorf("Save error = %v; want it to say it refuses to overwrite ca.key", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if !bytes.Equal(before, after) {
		t.Error("ca.key changed")
	}
	if again, err := LoadCA(dir); err != nil || !bytes.Equal(again.Cert.Raw, ca.Cert.Raw) {
		t.Errorf("after the refused Save, LoadCA = %v; the original CA should be intact", err)
	}

	// A mismatched key.
	otherKey, err := EncodeKeyPEM(newTestCA(t, "tally-3").Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "ca.key"), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "ca.key does not match ca.pem") {
		t.Errorf("LoadCA with a mismatched key: err = %v, want \"ca.key does not match ca.pem\"", err)
	}

	// Missing files.
	if _, err := LoadCA(t.TempDir()); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCA of an empty dir: err = %v, want a not-exist error", err)
	}
	if err := ca.Save(filepath.Join(dir, "missing")); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

func TestLoadCAPool(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "tally-1")
	file := filepath.Join(dir, "ca.pem")
	if err := WriteFileAtomic(file, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCAPool(file)
	if err != nil {
		t.Fatalf("LoadCAPool: %v", err)
	}
	if !pool.Equal(ca.Pool()) {
		t.Error("pool differs from ca.Pool()")
	}
	_, devPEM := issueDevice(t, ca, "acme", "d1", time.Hour)
	if _, err := VerifyDevice(pool, []*x509.Certificate{mustParseCert(t, devPEM)}, testNow); err != nil {
		t.Errorf("verify against the loaded pool: %v", err)
	}

	empty := filepath.Join(dir, "empty.pem")
	keyPEM, _ := EncodeKeyPEM(ca.Key)
	if err := WriteFileAtomic(empty, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAPool(empty); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Errorf("LoadCAPool of a key file: err = %v, want a no-certificate error", err)
	}
	if _, err := LoadCAPool(filepath.Join(dir, "nope.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCAPool of a missing file: err = %v", err)
	}
}

func TestIssueNode(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	hosts := []string{"license.example.com", "10.1.2.3", "[fd00::7]", "", "License.Example.com", "127.0.0.1"}
	certPEM, keyPEM, err := ca.IssueNode("node-1", hosts, testNow)
	if err != nil {
		t.Fatalf("IssueNode: %v", err)
	}
	c := mustParseCert(t, certPEM)
	if c.Subject.CommonName != "node-1" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if want := []string{"localhost", "license.example.com"}; !slices.Equal(c.DNSNames, want) {
		t.Errorf("DNSNames = %v, want %v", c.DNSNames, want)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "10.1.2.3", "fd00::7"}; !slices.Equal(ips, want) {
		t.Errorf("IPAddresses = %v, want %v", ips, want)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "tally://node/node-1" {
		t.Errorf("URIs = %v, want tally://node/node-1", c.URIs)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
	}
	if c.IsCA {
		t.Error("node certificate is a CA")
	}
	if !c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.Add(NodeValidity)) {
		t.Errorf("validity %v .. %v, want now-1h .. now+2y", c.NotBefore, c.NotAfter)
	}
	if NodeValidity < 2*365*24*time.Hour || NodeValidity > 825*24*time.Hour {
		t.Errorf("NodeValidity = %v", NodeValidity)
	}
	if err := c.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	for _, name := range []string{"localhost", "license.example.com", "10.1.2.3", "127.0.0.1", "::1", "fd00::7"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, CurrentTime: testNow}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.example.com", CurrentTime: testNow}); err == nil {
		t.Error("node certificate verified for a host it does not name")
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() || !key.PublicKey.Equal(c.PublicKey) {
		t.Error("node key is not the P-256 key of the certificate")
	}
	if _, err := KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("KeyPair: %v", err)
	}

	id, err := NodeID(c)
	if err != nil || id != "node-1" {
		t.Errorf("NodeID = %q, %v; want node-1", id, err)
	}
	if _, err := NodeID(ca.Cert); err == nil {
		t.Error("NodeID of the CA certificate succeeded")
	}
	_, devPEM := issueDevice(t, ca, "acme", "dev-1", time.Hour)
	if _, err := NodeID(mustParseCert(t, devPEM)); err == nil {
		t.Error("NodeID of a device certificate succeeded")
	}

	for _, bad := range []struct {
		id    string
		hosts []string
	}{{"", nil}, {"node 1", nil}, {"n1", []string{"bad host"}}, {"n1", []string{"exämple.com"}}, {"n1", []string{"a..b"}}} {
		if _, _, err := ca.IssueNode(bad.id, bad.hosts, testNow); err == nil {
			t.Errorf("IssueNode(%q, %q) succeeded", bad.id, bad.hosts)
		}
	}
}

func TestSignDevice(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	key, certPEM := issueDevice(t, ca, "acme-corp", "LAPTOP-0042", 30*24*time.Hour)
	c := mustParseCert(t, certPEM)
	if c.Subject.CommonName != "LAPTOP-0042" || !slices.Equal(c.Subject.Organization, []string{"acme-corp"}) {
		t.Errorf("subject = %v", c.Subject)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "tally://device/acme-corp/LAPTOP-0042" {
		t.Errorf("URIs = %v", c.URIs)
	}
	if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses) != 0 {
		t.Errorf("unexpected SANs: %v %v %v", c.DNSNames, c.IPAddresses, c.EmailAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("usage = %v / %v", c.ExtKeyUsage, c.KeyUsage)
	}
	if !c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.Add(30*24*time.Hour)) {
		t.Errorf("validity %v .. %v", c.NotBefore, c.NotAfter)
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		t.Error("certificate does not carry the CSR's key")
	}
	id, err := DeviceIdentity(c)
	if err != nil || id != (DeviceID{Account: "acme-corp", DeviceCode: "LAPTOP-0042"}) {
		t.Errorf("DeviceIdentity = %+v, %v", id, err)
	}

	// Names in the CSR are ignored.
	evilCSR, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "evil", Organization: []string{"other-account"}},
		DNSNames:       []string{"license.example.com"},
		EmailAddresses: []string{"evil@example.com"},
		URIs:           []*url.URL{{Scheme: "tally", Host: "device", Path: "/other-account/evil"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	evilPEM, err := ca.SignDevice(evilCSR, "acme-corp", "dev-7", testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ec := mustParseCert(t, evilPEM)
	if ec.Subject.CommonName != "dev-7" || !slices.Equal(ec.Subject.Organization, []string{"acme-corp"}) ||
		len(ec.DNSNames) != 0 || len(ec.EmailAddresses) != 0 || len(ec.URIs) != 1 || ec.URIs[0].String() != "tally://device/acme-corp/dev-7" {
		t.Errorf("CSR names leaked into the certificate: subject %v, SANs %v %v %v", ec.Subject, ec.DNSNames, ec.EmailAddresses, ec.URIs)
	}

	// Ed25519 keys are accepted.
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edCSR, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ed"}}, edKey)
	if err != nil {
		t.Fatal(err)
	}
	edPEM, err := ca.SignDevice(edCSR, "acme", "ed-1", testNow, time.Hour)
	if err != nil {
		t.Fatalf("SignDevice with an Ed25519 key: %v", err)
	}
	if _, err := VerifyDevice(ca.Pool(), []*x509.Certificate{mustParseCert(t, edPEM)}, testNow); err != nil {
		t.Errorf("Ed25519 device certificate: %v", err)
	}

	// A broken CSR signature.
	good, _ := CreateCSR(key, "dev-1")
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 0x01 // last byte of the signature's s
	if _, err := x509.ParseCertificateRequest(tampered); err != nil {
		t.Fatalf("tampered CSR should still parse: %v", err)
	}
	if _, err := ca.SignDevice(tampered, "acme", "dev-1", testNow, time.Hour); err == nil || !strings.Contains(err.Error(), "CSR signature is invalid") {
		t.Errorf("tampered CSR: err = %v, want \"CSR signature is invalid\"", err)
	}
	if _, err := ca.SignDevice([]byte("not a csr"), "acme", "dev-1", testNow, time.Hour); err == nil {
		t.Error("garbage CSR accepted")
	}

	// Other key types.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rsa"}}, rsaKey)
	if _, err := ca.SignDevice(rsaCSR, "acme", "dev-1", testNow, time.Hour); err == nil || !strings.Contains(err.Error(), "unsupported device key") {
		t.Errorf("RSA CSR: err = %v, want unsupported device key", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384CSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, p384)
	if _, err := ca.SignDevice(p384CSR, "acme", "dev-1", testNow, time.Hour); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("P-384 CSR: err = %v, want a refusal naming P-384", err)
	}

	// Account and Device Code validation.
	for _, tc := range []struct{ account, code, want string }{
		{"", "dev-1", "account is empty"},
		{"acme", "", "Device Code is empty"},
		{"ac me", "dev-1", "account \"ac me\" is invalid"},
		{"acme", "dev/1", "Device Code \"dev/1\" is invalid"},
		{"acme", "dév", "is invalid"},
		{"acme", "..", "is invalid"},
		{"acme", strings.Repeat("x", 65), "at most 64"},
		{strings.Repeat("a", 65), "dev", "at most 64"},
	} {
		_, err := ca.SignDevice(good, tc.account, tc.code, testNow, time.Hour)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SignDevice(%q, %q): err = %v, want %q", tc.account, tc.code, err, tc.want)
		}
	}
	if _, err := ca.SignDevice(good, strings.Repeat("a", 64), "A.b_c-9", testNow, time.Hour); err != nil {
		t.Errorf("64-character account refused: %v", err)
	}
	if _, err := ca.SignDevice(good, "acme", "dev-1", testNow, 0); err == nil {
		t.Error("zero validity accepted")
	}
	if _, err := CreateCSR(key, "bad code"); err == nil {
		t.Error("CreateCSR with an invalid Device Code succeeded")
	}

	// A validity past the CA's own expiry is clamped to it.
	longPEM, err := ca.SignDevice(good, "acme", "dev-1", testNow, 20*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustParseCert(t, longPEM).NotAfter; !got.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %v, want clamped to the CA's %v", got, ca.Cert.NotAfter)
	}
	if _, err := ca.SignDevice(good, "acme", "dev-1", ca.Cert.NotAfter.Add(2*time.Hour), time.Hour); err == nil {
		t.Error("an expired CA issued a certificate")
	}
}

func TestDeviceIdentityMalformed(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	key, _ := NewDeviceKey()
	mk := func(uris ...string) *x509.Certificate {
		var us []*url.URL
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, u)
		}
		c, err := ca.sign(&x509.Certificate{
			Subject: pkix.Name{CommonName: "x"}, NotBefore: testNow, NotAfter: testNow.Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, URIs: us,
		}, &key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, uris := range [][]string{
		nil,
		{"https://device/acme/dev"},
		{"tally://device/acme"},
		{"tally://device/acme/dev/extra"},
		{"tally://device/acme/"},
		{"tally://device/acme/dev?x=1"},
		{"tally://device/ac%20me/dev"},
		{"tally://device/acme/dev-1", "tally://device/acme/dev-2"},
	} {
		_, err := DeviceIdentity(mk(uris...))
		if !errors.Is(err, ErrNotDevice) || !strings.Contains(err.Error(), "certificate is not a Tally device certificate") {
			t.Errorf("DeviceIdentity(%v): err = %v, want ErrNotDevice", uris, err)
		}
	}
	if id, err := DeviceIdentity(mk("spiffe://x/y", "tally://node/n1", "tally://device/acme/dev-1")); err != nil || id.String() != "acme/dev-1" {
		t.Errorf("DeviceIdentity with other URIs around = %v, %v", id, err)
	}
}

func TestPublicKeyFingerprint(t *testing.T) {
	k1, _ := NewDeviceKey()
	k2, _ := NewDeviceKey()
	f1, err := PublicKeyFingerprint(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := PublicKeyFingerprint(k1.Public())
	f2, _ := PublicKeyFingerprint(&k2.PublicKey)
	if f1 != again {
		t.Errorf("fingerprint not stable: %s vs %s", f1, again)
	}
	if f1 == f2 {
		t.Error("two keys have the same fingerprint")
	}
	if len(f1) != 64 || strings.Trim(f1, "0123456789abcdef") != "" {
		t.Errorf("fingerprint %q is not 64 lowercase hex digits", f1)
	}
	// The fingerprint of a certificate's key matches the CSR's.
	ca := newTestCA(t, "tally-1")
	csr, _ := CreateCSR(k1, "dev-1")
	parsed, _ := x509.ParseCertificateRequest(csr)
	fromCSR, _ := PublicKeyFingerprint(parsed.PublicKey)
	certPEM, _ := ca.SignDevice(csr, "acme", "dev-1", testNow, time.Hour)
	fromCert, _ := PublicKeyFingerprint(mustParseCert(t, certPEM).PublicKey)
	if fromCSR != f1 || fromCert != f1 {
		t.Errorf("fingerprints differ: key %s, CSR %s, cert %s", f1, fromCSR, fromCert)
	}
	if _, err := PublicKeyFingerprint("not a key"); err == nil {
		t.Error("fingerprint of a non-key succeeded")
	}
}

func TestVerifyDevice(t *testing.T) {
	ca := newTestCA(t, "tally-1")
	pool := ca.Pool()
	_, devPEM := issueDevice(t, ca, "acme", "dev-1", 24*time.Hour)
	dev := mustParseCert(t, devPEM)

	id, err := VerifyDevice(pool, []*x509.Certificate{dev}, testNow)
	if err != nil || id != (DeviceID{"acme", "dev-1"}) {
		t.Fatalf("VerifyDevice = %+v, %v", id, err)
	}
	// Backdating: valid a little before the issuing time.
	if _, err := VerifyDevice(pool, []*x509.Certificate{dev}, testNow.Add(-30*time.Minute)); err != nil {
		t.Errorf("30 minutes of skew: %v", err)
	}
	// The CA itself in the chain is harmless.
	if _, err := VerifyDevice(pool, []*x509.Certificate{dev, ca.Cert}, testNow); err != nil {
		t.Errorf("chain with the CA: %v", err)
	}

	other := newTestCA(t, "tally-2")
	_, foreignPEM := issueDevice(t, other, "acme", "dev-1", 24*time.Hour)
	nodePEM, _, err := ca.IssueNode("node-1", []string{"license.example.com"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewDeviceKey()
	serverOnly, err := ca.sign(&x509.Certificate{
		Subject: pkix.Name{CommonName: "dev-2"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, URIs: []*url.URL{deviceURI("acme", "dev-2")},
	}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	expiredAt := dev.NotAfter.UTC().Format(time.RFC3339)
	validFrom := dev.NotBefore.UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name    string
		chain   []*x509.Certificate
		now     time.Time
		reason  string
		mention string
	}{
		{"empty chain", nil, testNow, ReasonNoCertificate, "no device certificate"},
		{"nil leaf", []*x509.Certificate{nil}, testNow, ReasonNoCertificate, "no device certificate"},
		{"another cluster", []*x509.Certificate{mustParseCert(t, foreignPEM)}, testNow, ReasonUnknownAuthority, "another Tally cluster"},
		{"another cluster with its CA", []*x509.Certificate{mustParseCert(t, foreignPEM), other.Cert}, testNow, ReasonUnknownAuthority, "not signed by this cluster's CA"},
		{"expired", []*x509.Certificate{dev}, dev.NotAfter.Add(time.Second), ReasonExpired, "expired at " + expiredAt},
		{"expired long ago", []*x509.Certificate{dev}, testNow.AddDate(1, 0, 0), ReasonExpired, expiredAt},
		{"not yet valid", []*x509.Certificate{dev}, dev.NotBefore.Add(-time.Second), ReasonNotYetValid, "not valid until " + validFrom},
		{"node certificate", []*x509.Certificate{mustParseCert(t, nodePEM)}, testNow, ReasonNotADevice, "not a Tally device certificate"},
		{"CA certificate", []*x509.Certificate{ca.Cert}, testNow, ReasonNotADevice, "not a Tally device certificate"},
		{"no ClientAuth", []*x509.Certificate{serverOnly}, testNow, ReasonBadUsage, "client authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := VerifyDevice(pool, tc.chain, tc.now)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("VerifyDevice = %+v, %v; want a *RefusedError", id, err)
			}
			if re.Reason != tc.reason {
				t.Errorf("Reason = %q, want %q (err: %v)", re.Reason, tc.reason, re.Err)
			}
			if !strings.Contains(re.Error(), tc.mention) {
				t.Errorf("Error() = %q; want it to mention %q", re.Error(), tc.mention)
			}
			if re.Err == nil {
				t.Error("Err is nil")
			}
			if id != (DeviceID{}) {
				t.Errorf("refused, yet returned %+v", id)
			}
		})
	}

	// Reasons surface through the x509 error chain.
	_, err = VerifyDevice(pool, []*x509.Certificate{mustParseCert(t, foreignPEM)}, testNow)
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("unknown_authority does not wrap x509.UnknownAuthorityError: %v", err)
	}
	_, err = VerifyDevice(pool, []*x509.Certificate{dev}, testNow.AddDate(1, 0, 0))
	var cie x509.CertificateInvalidError
	if !errors.As(err, &cie) || cie.Reason != x509.Expired {
		t.Errorf("expired does not wrap x509.CertificateInvalidError{Expired}: %v", err)
	}

	if _, err := VerifyDevice(nil, []*x509.Certificate{dev}, testNow); err == nil {
		t.Error("VerifyDevice with a nil pool succeeded")
	}
}

func TestRefusedErrorMessages(t *testing.T) {
	// Every reason, even without detail, is a sentence.
	for _, r := range []string{ReasonNoCertificate, ReasonUnknownAuthority, ReasonExpired, ReasonNotYetValid, ReasonNotADevice, ReasonBadUsage, "weird"} {
		msg := (&RefusedError{Reason: r}).Error()
		if msg == "" || strings.Contains(msg, "%!") {
			t.Errorf("reason %s: message %q", r, msg)
		}
	}
	wrapped := &RefusedError{Reason: ReasonExpired, Err: errors.New("x")}
	if !errors.Is(wrapped, wrapped.Err) {
		t.Error("RefusedError does not unwrap")
	}
}

func TestPEMHelpers(t *testing.T) {
	key, _ := NewDeviceKey()
	pk8, err := EncodeKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pk8, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("EncodeKeyPEM is not PKCS#8: %s", pk8)
	}
	got, err := ParseKeyPEM(pk8)
	if err != nil || !got.Equal(key) {
		t.Fatalf("ParseKeyPEM(PKCS#8) = %v", err)
	}
	sec1DER, _ := x509.MarshalECPrivateKey(key)
	sec1 := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
		pemEncode("EC PRIVATE KEY", sec1DER)...)
	if got, err := ParseKeyPEM(sec1); err != nil || !got.Equal(key) {
		t.Errorf("ParseKeyPEM(SEC 1 with EC PARAMETERS) = %v", err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	if _, err := ParseKeyPEM(pemEncode("PRIVATE KEY", edDER)); err == nil || !strings.Contains(err.Error(), "want ECDSA") {
		t.Errorf("ParseKeyPEM(Ed25519) err = %v", err)
	}
	if _, err := ParseKeyPEM([]byte("nothing")); err == nil {
		t.Error("ParseKeyPEM(garbage) succeeded")
	}
	if _, err := EncodeKeyPEM(nil); err == nil {
		t.Error("EncodeKeyPEM(nil) succeeded")
	}

	ca := newTestCA(t, "tally-1")
	bundle := append(bytes.Clone(pk8), ca.CertPEM()...)
	if c, err := ParseCertPEM(bundle); err != nil || !bytes.Equal(c.Raw, ca.Cert.Raw) {
		t.Errorf("ParseCertPEM skipping a key block: %v", err)
	}
	if _, err := ParseCertPEM(pk8); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE block") {
		t.Errorf("ParseCertPEM without a certificate: err = %v", err)
	}
	if _, err := ParseCertPEM(pemEncode("CERTIFICATE", []byte("junk"))); err == nil {
		t.Error("ParseCertPEM(junk DER) succeeded")
	}

	devKey, devPEM := issueDevice(t, ca, "acme", "dev-1", time.Hour)
	devKeyPEM, _ := EncodeKeyPEM(devKey)
	pair, err := KeyPair(devPEM, devKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf == nil || pair.Leaf.Subject.CommonName != "dev-1" {
		t.Errorf("KeyPair Leaf = %v", pair.Leaf)
	}
	if _, err := KeyPair(devPEM, pk8); err == nil || !strings.Contains(err.Error(), "load TLS key pair") {
		t.Errorf("KeyPair with the wrong key: err = %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "two" || fi.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %o", b, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in dir; temp files left behind", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "nodir", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if err := writeFileNoClobber(p, []byte("three"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("writeFileNoClobber over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("no-clobber write changed the file: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in dir after a refused write; temp file left behind", len(entries))
	}
}

func TestSplitHostsNoLoopbackDuplicates(t *testing.T) {
	names, ips, err := splitHosts([]string{"localhost", "::1", "127.0.0.1", " LOCALHOST. "})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || len(ips) != 2 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("names %v ips %v", names, ips)
	}
}
