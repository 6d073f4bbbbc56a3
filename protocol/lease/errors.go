package lease

import (
	"errors"
	"strings"
)

// Reason is a stable, machine-readable cause of a failed verification. Reasons
// are part of the public format: applications switch on them and print them,
// so a reason is never renamed or reused for another meaning.
type Reason string

// Reasons are listed in the order Verify checks them: the first failing check
// decides the reason.
const (
	// ReasonMalformed: not a compact JWS, bad base64url, bad JSON, a
	// signature of the wrong size, or (after the signature verified) a
	// missing required claim.
	ReasonMalformed Reason = "malformed"
	// ReasonBadAlgorithm: the header's alg is anything but EdDSA, including
	// "none" and every HMAC/RSA/ECDSA algorithm.
	ReasonBadAlgorithm Reason = "bad_algorithm"
	// ReasonUnknownKey: the header has no kid, or its kid is not in the key set.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonBadSignature: the signature does not verify with the key named by kid.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonWrongIssuer: iss differs from Expect.Issuer.
	ReasonWrongIssuer Reason = "wrong_issuer"
	// ReasonWrongDevice: aud differs from Expect.Device.
	ReasonWrongDevice Reason = "wrong_device"
	// ReasonWrongFeature: feat differs from Expect.Feature.
	ReasonWrongFeature Reason = "wrong_feature"
	// ReasonNotYetValid: now+leeway is before nbf.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonExpired: now-leeway is at or after exp.
	ReasonExpired Reason = "expired"
)

// VerifyError is the error returned by KeySet.Verify and ParseUnverified.
type VerifyError struct {
	// Reason is the stable cause.
	Reason Reason
	// Detail says specifically what was wrong, for people: which kid is
	// unknown, expected versus actual device, when the token expired.
	Detail string
	// Claims is set when the signature verified but a claim check failed
	// (wrong issuer/device/feature, expired, not yet valid, or a missing
	// required claim reported as ReasonMalformed). Those claims are
	// authentic; they are just not acceptable. It is nil otherwise.
	Claims *Claims
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.Grow(32 + len(e.Detail))
	b.WriteString("lease token ")
	switch e.Reason {
	case ReasonMalformed:
		b.WriteString("malformed")
	case ReasonBadAlgorithm:
		b.WriteString("uses an unsupported algorithm")
	case ReasonUnknownKey:
		b.WriteString("signed by an unknown key")
	case ReasonBadSignature:
		b.WriteString("has a bad signature")
	case ReasonWrongIssuer:
		b.WriteString("is for another cluster")
	case ReasonWrongDevice:
		b.WriteString("is for another device")
	case ReasonWrongFeature:
		b.WriteString("is for another feature")
	case ReasonNotYetValid:
		b.WriteString("not yet valid")
	case ReasonExpired:
		b.WriteString("expired")
	default:
		b.WriteString("rejected (")
		b.WriteString(string(e.Reason))
		b.WriteString(")")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Is lets errors.Is match on the reason alone:
// errors.Is(err, &lease.VerifyError{Reason: lease.ReasonExpired}).
func (e *VerifyError) Is(target error) bool {
	t, ok := target.(*VerifyError)
	return ok && t != nil && t.Reason == e.Reason
}

// ReasonOf returns the Reason carried by err (looking through wrapping), or ""
// when err is not a *VerifyError.
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

func failf(r Reason, detail string) *VerifyError {
	return &VerifyError{Reason: r, Detail: detail}
}
