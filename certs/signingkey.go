package certs

import (
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"time"
)

// SigningKeyValidity is how long a lease-signing key certificate is valid;
// like a node certificate, it is reissued when the node registers again.
const SigningKeyValidity = NodeValidity

// IssueSigningKey certifies a node's Ed25519 lease-signing key as belonging
// to the cluster: CN is the key's kid, the URI SAN tally://signing-key/<cluster>.
// Applications that check leases against a vendor entitlement follow this
// certificate from the cluster CA the entitlement binds to the key that
// signed the lease (protocol/entitlement.VerifyLease). It is not a TLS
// certificate: it has no extended key usage, and the key cannot sign
// certificates.
func (ca *CA) IssueSigningKey(pub ed25519.PublicKey, kid, clusterID string, now time.Time) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("issue signing-key certificate: key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if err := validateID("cluster ID", clusterID); err != nil {
		return nil, fmt.Errorf("issue signing-key certificate: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: kid, Organization: []string{Organization}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(SigningKeyValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: "tally", Host: "signing-key", Path: "/" + clusterID}},
	}
	cert, err := ca.sign(tmpl, pub)
	if err != nil {
		return nil, fmt.Errorf("issue signing-key certificate for %s: %w", kid, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), nil
}
