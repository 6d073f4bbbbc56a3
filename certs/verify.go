package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Reasons a device certificate is refused (RefusedError.Reason).
const (
	ReasonNoCertificate    = "no_certificate"
	ReasonUnknownAuthority = "unknown_authority"
	ReasonExpired          = "expired"
	ReasonNotYetValid      = "not_yet_valid"
	ReasonNotADevice       = "not_a_device"
	ReasonBadUsage         = "bad_usage"
)

// RefusedError is why VerifyDevice refused a certificate. Reason is one of
// the Reason constants; Err holds the underlying detail (for logs and
// errors.As). Error is a sentence for the device's owner.
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Unwrap() error { return e.Err }

func (e *RefusedError) Error() string {
	var inv x509.CertificateInvalidError
	hasInv := errors.As(e.Err, &inv) && inv.Cert != nil
	switch e.Reason {
	case ReasonNoCertificate:
		return "no device certificate was presented (enroll this device with an enrollment token first)"
	case ReasonUnknownAuthority:
		return "device certificate is not signed by this cluster's CA (it may belong to another Tally cluster; re-enroll with this cluster's enrollment token)"
	case ReasonExpired:
		if hasInv && inv.Cert.IsCA {
			return fmt.Sprintf("this cluster's CA certificate expired at %s (the cluster administrator must replace the CA, then devices re-enroll)", stamp(inv.Cert.NotAfter))
		}
		if hasInv {
			return fmt.Sprintf("device certificate expired at %s (re-enroll this device with an enrollment token to get a new certificate)", stamp(inv.Cert.NotAfter))
		}
		return "device certificate has expired (re-enroll this device with an enrollment token to get a new certificate)"
	case ReasonNotYetValid:
		if hasInv {
			return fmt.Sprintf("device certificate is not valid until %s (check the clocks on this device and on the license server)", stamp(inv.Cert.NotBefore))
		}
		return "device certificate is not valid yet (check the clocks on this device and on the license server)"
	case ReasonNotADevice:
		return "the certificate presented is not a Tally device certificate (it may be a node certificate); use the certificate this device received at enrollment, or re-enroll"
	case ReasonBadUsage:
		return "the certificate presented is not valid for client authentication, so it cannot identify a device; re-enroll this device to get a proper device certificate"
	}
	if e.Err != nil {
		return fmt.Sprintf("device certificate refused (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("device certificate refused (%s)", e.Reason)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// VerifyDevice verifies a certificate chain a device presented (chain[0] is
// the leaf, the rest optional intermediates) against pool at time now, and
// returns the device it identifies. Refusals are *RefusedError; a nil pool
// is a programming error and is reported as a plain error (it would
// otherwise mean "trust the system roots").
//
// Checks, in order: a certificate is present; it is within its validity
// period (reported as expired or not_yet_valid with the relevant time); it
// chains to pool (unknown_authority otherwise); it allows ClientAuth
// (bad_usage); it carries a tally://device/ URI SAN (not_a_device). Any
// other chain failure is reported as unknown_authority, with the x509 error
// in Err.
func VerifyDevice(pool *x509.CertPool, chain []*x509.Certificate, now time.Time) (DeviceID, error) {
	if pool == nil {
		return DeviceID{}, errors.New("verify device certificate: no cluster CA pool configured")
	}
	if len(chain) == 0 || chain[0] == nil {
		return DeviceID{}, &RefusedError{Reason: ReasonNoCertificate, Err: errors.New("the peer presented no certificate")}
	}
	leaf := chain[0]
	opts := x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(chain) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range chain[1:] {
			if c != nil {
				opts.Intermediates.AddCert(c)
			}
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		return DeviceID{}, &RefusedError{Reason: refusalReason(err, now), Err: fmt.Errorf("verify device certificate %q: %w", leaf.Subject.CommonName, err)}
	}
	id, err := DeviceIdentity(leaf)
	if err != nil {
		return DeviceID{}, &RefusedError{Reason: ReasonNotADevice, Err: err}
	}
	return id, nil
}

func refusalReason(err error, now time.Time) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			if inv.Cert != nil && now.Before(inv.Cert.NotBefore) {
				return ReasonNotYetValid
			}
			return ReasonExpired
		case x509.IncompatibleUsage:
			return ReasonBadUsage
		}
	}
	return ReasonUnknownAuthority
}
