package entitlement

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

// Bundle is what an application needs, beside the vendor's public key, to
// check a lease against its entitlement offline. The agent serves it
// (`tally-agent entitlement --json`, GET /v1/entitlements on its socket).
type Bundle struct {
	// Entitlements are the account's entitlements (compact JWS).
	Entitlements []string `json:"entitlements"`
	// CA is the cluster CA certificate (PEM).
	CA string `json:"ca"`
	// KeyCerts are certificates, issued by the cluster CA, for the
	// cluster's lease-signing keys (PEM, one block each).
	KeyCerts []string `json:"key_certs"`
}

// SigningKeyURIPrefix starts the URI SAN of a lease-signing key certificate:
// tally://signing-key/<clusterID>.
const SigningKeyURIPrefix = "tally://signing-key/"

// Expect is what VerifyLease checks beyond the chain.
type Expect struct {
	Device  string        // if set, the lease's aud must be it
	Feature string        // if set, the lease's feat must be it
	Now     time.Time     // zero: time.Now()
	Leeway  time.Duration // clock skew allowed on the lease's times
}

// Error says why a lease is not inside its entitlement.
type Error struct{ msg string }

func (e *Error) Error() string { return "entitlement: " + e.msg }

func fail(format string, a ...any) error { return &Error{msg: fmt.Sprintf(format, a...)} }

// VerifyLease checks, with nothing but the vendor's public key(s) and the
// bundle: the entitlement the lease names (ent) is signed by the vendor and
// is the one in the bundle with that digest; the CA in the bundle is the
// one the entitlement binds (ca_sha256) and the lease's cluster is the one
// it binds (id); the key that signed the lease is certified by that CA for
// that cluster; the lease's signature, audience, feature and times verify;
// the feature and every add-on lie inside the entitlement; the lease was
// issued inside the entitlement's validity and ends no later than it.
func VerifyLease(token string, b Bundle, want Expect, vendorKeys ...ed25519.PublicKey) (*lease.Claims, *Signed, error) {
	unverified, _, err := lease.ParseUnverified(token)
	if err != nil {
		return nil, nil, fmt.Errorf("entitlement: lease: %w", err)
	}
	if unverified.Entitlement == "" {
		return nil, nil, fail("the lease names no entitlement (no ent claim): it was not granted under a vendor entitlement")
	}
	serial, digest, ok := strings.Cut(unverified.Entitlement, ":")
	if !ok || serial == "" || digest == "" {
		return nil, nil, fail("the lease's ent claim %q is not serial:digest", unverified.Entitlement)
	}
	var ent *Signed
	for _, jws := range b.Entitlements {
		if Digest(jws) == digest {
			if ent, err = Verify(jws, vendorKeys...); err != nil {
				return nil, nil, err
			}
			break
		}
	}
	if ent == nil {
		return nil, nil, fail("entitlement %s (digest %s) is not in the bundle", serial, digest)
	}
	if ent.Serial != serial {
		return nil, nil, fail("the lease names serial %s but the entitlement with its digest is %s", serial, ent.Serial)
	}
	ca, err := parseCA(b.CA)
	if err != nil {
		return nil, nil, err
	}
	if bind := ent.Cluster; bind != nil && bind.CASHA256 != "" {
		if got := CAFingerprint(ca); got != bind.CASHA256 {
			return nil, nil, fail("entitlement %s binds the cluster CA %s, but the bundle's CA is %s: the lease comes from another cluster", ent.Serial, bind.CASHA256, got)
		}
	}
	keys, cluster, err := certifiedKeys(ca, b.KeyCerts, want.Now)
	if err != nil {
		return nil, nil, err
	}
	if bind := ent.Cluster; bind != nil && bind.ID != "" && bind.ID != cluster {
		return nil, nil, fail("entitlement %s binds cluster %s, but the bundle's keys belong to cluster %s", ent.Serial, bind.ID, cluster)
	}
	claims, err := lease.NewKeySet(keys...).Verify(token, lease.Expect{Issuer: cluster, Device: want.Device, Feature: want.Feature, Now: want.Now, Leeway: want.Leeway})
	if err != nil {
		return nil, nil, fmt.Errorf("entitlement: lease: %w", err)
	}
	if claims.Entitlement != ent.Claim() {
		return nil, nil, fail("the lease names %s, not entitlement %s", claims.Entitlement, ent.Claim())
	}
	if err := Inside(claims, &ent.Entitlement, want.Leeway); err != nil {
		return nil, nil, err
	}
	return claims, ent, nil
}

// Inside reports whether the lease's feature, add-ons and times lie inside
// e. The cluster checks the same before granting.
func Inside(c *lease.Claims, e *Entitlement, leeway time.Duration) error {
	f := e.Feature(c.Feature)
	if f == nil {
		return fail("feature %s is not in entitlement %s (it has %s)", c.Feature, e.Serial, featureNames(e))
	}
	for _, a := range c.AddOns {
		if !slices.Contains(f.AddOns, a) {
			return fail("add-on %s of %s is not in entitlement %s", a, c.Feature, e.Serial)
		}
	}
	if c.IssuedAt.Add(leeway).Before(e.NotBefore) {
		return fail("the lease was issued %s, before entitlement %s starts (%s)", fmtTime(c.IssuedAt), e.Serial, fmtTime(e.NotBefore))
	}
	if !c.IssuedAt.Before(e.Expires) {
		return fail("the lease was issued %s, after entitlement %s ended (%s)", fmtTime(c.IssuedAt), e.Serial, fmtTime(e.Expires))
	}
	if c.Expires.After(e.Expires.Add(leeway)) {
		return fail("the lease runs to %s, past the end of entitlement %s (%s)", fmtTime(c.Expires), e.Serial, fmtTime(e.Expires))
	}
	return nil
}

func featureNames(e *Entitlement) string {
	names := make([]string, len(e.Features))
	for i, f := range e.Features {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// CAFingerprint is the lowercase hex SHA-256 of a certificate's DER, the
// form an entitlement's ca_sha256 binds.
func CAFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func parseCA(p string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fail("the bundle's CA is not a PEM CERTIFICATE")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fail("the bundle's CA: %v", err)
	}
	if !c.IsCA {
		return nil, fail("the bundle's CA certificate is not a CA")
	}
	return c, nil
}

// certifiedKeys returns the lease-signing keys whose certificates chain to
// ca, and the one cluster ID they name.
func certifiedKeys(ca *x509.Certificate, certs []string, now time.Time) ([]ed25519.PublicKey, string, error) {
	if now.IsZero() {
		now = time.Now()
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	var keys []ed25519.PublicKey
	cluster := ""
	var refused []string
	for i, p := range certs {
		pub, id, err := VerifyKeyCert([]byte(p), roots, now)
		if err != nil {
			refused = append(refused, fmt.Sprintf("key certificate %d: %v", i+1, err))
			continue
		}
		if cluster != "" && id != cluster {
			return nil, "", fail("the bundle's key certificates name two clusters (%s and %s)", cluster, id)
		}
		cluster = id
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		if len(refused) > 0 {
			return nil, "", fail("no lease-signing key is certified by the bundle's CA: %s", strings.Join(refused, "; "))
		}
		return nil, "", fail("the bundle has no lease-signing key certificates")
	}
	return keys, cluster, nil
}

// VerifyKeyCert checks one lease-signing key certificate against roots and
// returns its Ed25519 key and the cluster ID in its URI SAN.
func VerifyKeyCert(p []byte, roots *x509.CertPool, now time.Time) (ed25519.PublicKey, string, error) {
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, "", errors.New("not a PEM CERTIFICATE")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", err
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, "", fmt.Errorf("not issued by the cluster CA: %w", err)
	}
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, "", fmt.Errorf("certifies a %T key, not an Ed25519 lease-signing key", c.PublicKey)
	}
	cluster := ""
	for _, u := range c.URIs {
		if s := u.String(); strings.HasPrefix(s, SigningKeyURIPrefix) {
			cluster = strings.TrimPrefix(s, SigningKeyURIPrefix)
		}
	}
	if cluster == "" {
		return nil, "", fmt.Errorf("has no %s<cluster> URI: not a lease-signing key certificate", SigningKeyURIPrefix)
	}
	return pub, cluster, nil
}
