package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

const uriScheme = "tally"

// MaxIDLength is the longest account, Device Code or node ID accepted.
const MaxIDLength = 64

// ErrNotDevice is wrapped by DeviceIdentity's errors.
var ErrNotDevice = errors.New("certificate is not a Tally device certificate")

// DeviceID is the identity a device certificate vouches for.
type DeviceID struct{ Account, DeviceCode string }

func (id DeviceID) String() string { return id.Account + "/" + id.DeviceCode }

// NewDeviceKey generates a device's ECDSA P-256 key.
func NewDeviceKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate device key: %w", err)
	}
	return key, nil
}

// CreateCSR makes a DER PKCS#10 request with CN = deviceCode. The CA
// ignores the names in it; only the key and its proof of possession matter.
func CreateCSR(key *ecdsa.PrivateKey, deviceCode string) ([]byte, error) {
	if key == nil {
		return nil, errors.New("create certificate request: no key")
	}
	if err := validateID("Device Code", deviceCode); err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: deviceCode},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return der, nil
}

// SignDevice issues a device certificate for the key in csrDER. Names in the
// CSR are ignored: the certificate says CN = deviceCode, O = account and
// carries the URI SAN tally://device/<account>/<deviceCode>. It is valid
// from now-1h to now+validity (never beyond the CA's own expiry), for client
// authentication only.
func (ca *CA) SignDevice(csrDER []byte, account, deviceCode string, now time.Time, validity time.Duration) (certPEM []byte, err error) {
	if err := validateID("account", account); err != nil {
		return nil, fmt.Errorf("sign device certificate: %w", err)
	}
	if err := validateID("Device Code", deviceCode); err != nil {
		return nil, fmt.Errorf("sign device certificate: %w", err)
	}
	if validity <= 0 {
		return nil, fmt.Errorf("sign device certificate: validity %s must be positive", validity)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("sign device certificate: parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign device certificate: CSR signature is invalid: %w", err)
	}
	if err := checkDeviceKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("sign device certificate: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: deviceCode, Organization: []string{account}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{deviceURI(account, deviceCode)},
	}
	cert, err := ca.sign(tmpl, csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sign device certificate for %s/%s: %w", account, deviceCode, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), nil
}

func checkDeviceKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("unsupported device key: ECDSA %s (want ECDSA P-256 or Ed25519)", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("unsupported device key type %T (want ECDSA P-256 or Ed25519)", pub)
	}
}

// DeviceIdentity reads the tally://device/<account>/<deviceCode> URI SAN.
// It does not verify the certificate: see VerifyDevice.
func DeviceIdentity(cert *x509.Certificate) (DeviceID, error) {
	if cert == nil {
		return DeviceID{}, fmt.Errorf("%w: no certificate", ErrNotDevice)
	}
	var found []DeviceID
	for _, u := range cert.URIs {
		if !isTallyURI(u, "device") {
			continue
		}
		parts, err := uriPath(u)
		if err != nil || len(parts) != 2 {
			return DeviceID{}, fmt.Errorf("%w: malformed device URI %q", ErrNotDevice, u.String())
		}
		id := DeviceID{Account: parts[0], DeviceCode: parts[1]}
		if validateID("account", id.Account) != nil || validateID("Device Code", id.DeviceCode) != nil {
			return DeviceID{}, fmt.Errorf("%w: malformed device URI %q", ErrNotDevice, u.String())
		}
		found = append(found, id)
	}
	switch len(found) {
	case 0:
		return DeviceID{}, fmt.Errorf("%w: %q has no tally://device/ URI SAN", ErrNotDevice, cert.Subject.CommonName)
	case 1:
		return found[0], nil
	default:
		return DeviceID{}, fmt.Errorf("%w: %q names more than one device", ErrNotDevice, cert.Subject.CommonName)
	}
}

// PublicKeyFingerprint is the hex SHA-256 of the public key's PKIX DER
// encoding. It identifies a device's key across certificate renewals.
func PublicKeyFingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("public key fingerprint: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func deviceURI(account, deviceCode string) *url.URL {
	return &url.URL{
		Scheme:  uriScheme,
		Host:    "device",
		Path:    "/" + account + "/" + deviceCode,
		RawPath: "/" + url.PathEscape(account) + "/" + url.PathEscape(deviceCode),
	}
}

func isTallyURI(u *url.URL, kind string) bool {
	return u != nil && strings.EqualFold(u.Scheme, uriScheme) && u.Host == kind
}

// uriPath splits and unescapes the path of a tally:// URI, refusing
// anything else in it (user info, query, fragment).
func uriPath(u *url.URL) ([]string, error) {
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("unexpected URI components")
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("no path")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		parts[i] = v
	}
	return parts, nil
}

// validateID checks an account, Device Code or node ID: 1-64 characters,
// letters, digits, '.', '_' or '-', starting with a letter or digit (the
// same rule as the ledger's IDs).
func validateID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > MaxIDLength {
		return fmt.Errorf("%s %.20q... is %d characters long; at most %d are allowed", what, s, len(s), MaxIDLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("%s %q is invalid: use 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", what, s, MaxIDLength)
		}
	}
	return nil
}
