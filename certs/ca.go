// Package certs is Tally's small PKI: the cluster CA, node (server)
// certificates, and the device certificates issued at enrollment.
//
// Every key is ECDSA P-256, except that device certificates may also carry
// an Ed25519 key chosen by the agent. Every certificate is backdated by one
// hour (NotBefore = now-1h) to tolerate clock skew, and carries a 128-bit
// random serial number. Nothing in this package reads the clock: functions
// that depend on time take it as an argument.
//
// Identities live in URI SANs:
//
//	tally://node/<nodeID>
//	tally://device/<account>/<deviceCode>
//
// Design: docs/design.md#authority.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	// CAValidity is how long a cluster CA is valid (from its creation).
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeValidity is how long a node certificate is valid. It stays under
	// the 825 days Apple platforms accept for any TLS server certificate.
	NodeValidity = 2 * 365 * 24 * time.Hour
	// Backdate is how far NotBefore is set before the issuing time, to
	// tolerate clock skew between the issuer and the verifiers.
	Backdate = time.Hour

	// CAFile and CAKeyFile are the names Save and LoadCA use.
	CAFile    = "ca.pem"
	CAKeyFile = "ca.key"

	// Organization is the O of the CA and node certificates.
	Organization = "Tally"
)

// CA is a cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA creates a self-signed cluster CA valid for ten years.
func NewCA(clusterID string, now time.Time) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("create cluster CA: cluster ID is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Tally cluster CA " + clusterID, Organization: []string{Organization}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM is the CA certificate in PEM form (what agents and tallyctl get as
// ca.pem).
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Pool is a fresh certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Save writes dir/ca.pem (0644) and dir/ca.key (0600), each atomically. It
// refuses to overwrite an existing ca.key (the error wraps fs.ErrExist): a
// cluster's CA key is never replaced by accident. The directory must exist.
func (ca *CA) Save(dir string) error {
	keyPath := filepath.Join(dir, CAKeyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		return fmt.Errorf("save cluster CA: %s already exists; refusing to overwrite an existing CA key: %w", keyPath, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save cluster CA: %w", err)
	}
	keyPEM, err := EncodeKeyPEM(ca.Key)
	if err != nil {
		return fmt.Errorf("save cluster CA: %w", err)
	}
	// The certificate first: a Save that fails half way leaves no key, so
	// it can simply be retried.
	if err := WriteFileAtomic(filepath.Join(dir, CAFile), ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("save cluster CA: %w", err)
	}
	if err := writeFileNoClobber(keyPath, keyPEM, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("save cluster CA: %s already exists; refusing to overwrite an existing CA key: %w", keyPath, err)
		}
		return fmt.Errorf("save cluster CA: %w", err)
	}
	return nil
}

// LoadCA reads dir/ca.pem and dir/ca.key and checks that they belong
// together.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load cluster CA: %s is not a CA certificate (subject %q)", certPath, cert.Subject.String())
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %s: %w", keyPath, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("load cluster CA: %s does not match %s", CAKeyFile, CAFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCAPool reads a PEM file of CA certificates (a cluster's ca.pem) into a
// pool. It is an error for the file to hold no certificate.
func LoadCAPool(pemFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("load CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("load CA certificates: %s: certificate %d: %w", pemFile, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("load CA certificates: %s holds no PEM CERTIFICATE block (expected the cluster's ca.pem)", pemFile)
	}
	return pool, nil
}

// sign issues a certificate for pub from tmpl, filling in the serial number
// and clamping NotAfter to the CA's own expiry (a certificate cannot outlive
// the CA that vouches for it).
func (ca *CA) sign(tmpl *x509.Certificate, pub any) (*x509.Certificate, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("the CA has no certificate or key")
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	if !tmpl.NotAfter.After(tmpl.NotBefore) {
		return nil, fmt.Errorf("the cluster CA expired at %s; it cannot issue certificates", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	return cert, nil
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// newSerial is a random, positive serial number of up to 128 bits.
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
