package protocol

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes are part of the
// protocol: scripts match on them (tally-agent checkout prints them), so a code
// is never renamed or reused for another meaning.
type Code string

const (
	// Seats and features.
	CodeNoSeat              Code = "no_seat"
	CodeUnknownFeature      Code = "unknown_feature"
	CodeUnknownAccount      Code = "unknown_account"
	CodeSubscriptionExpired Code = "subscription_expired"

	// Devices and enrollment.
	CodeNotEnrolled        Code = "not_enrolled"
	CodeCertificateRefused Code = "certificate_refused"
	CodeEnrollTokenInvalid Code = "enroll_token_invalid"
	CodeEnrollTokenExpired Code = "enroll_token_expired"
	CodeEnrollTokenRevoked Code = "enroll_token_revoked"
	CodeDeviceConflict     Code = "device_conflict"
	// CodeClockRollback: the device clock is behind the latest server time
	// the agent has seen, so it will not serve cached tokens against it.
	CodeClockRollback Code = "clock_rollback"

	// Leases.
	CodeLeaseNotFound Code = "lease_not_found"
	CodeLeaseExpired  Code = "lease_expired"
	CodeLeaseRevoked  Code = "lease_revoked"
	CodeNotHolder     Code = "not_holder"

	// Administration.
	CodeInvalidArgument Code = "invalid_argument"
	CodeAlreadyExists   Code = "already_exists"
	CodeNotFound        Code = "not_found"
	CodeSeatsInUse      Code = "seats_in_use"
	CodeUnauthorized    Code = "unauthorized"
	// Members and seats: a rule of the account refuses the change
	// (role, seat policy, team plan), or an invitation ran out.
	CodeNotAllowed        Code = "not_allowed"
	CodeInvitationExpired Code = "invitation_expired"
	// CodeForbidden: the caller is authenticated but its role or account
	// scope does not allow the request.
	CodeForbidden Code = "forbidden"

	// Transport and server state.
	CodeBadRequest         Code = "bad_request"
	CodeUnsupportedVersion Code = "unsupported_version"
	CodeUnknownRequest     Code = "unknown_request"
	CodeNotLeader          Code = "not_leader"
	CodeUnavailable        Code = "unavailable"
	CodeTimeout            Code = "timeout"
	CodeInternal           Code = "internal"
)

// Error is a protocol error: a stable code and a message for people.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is lets errors.Is match on code alone: errors.Is(err, &Error{Code: CodeNoSeat}).
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf builds a protocol error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the protocol code carried by err, or "" when err is not a
// protocol error.
func CodeOf(err error) Code {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Temporary reports whether a request failing with code may succeed if retried
// unchanged, possibly against another node.
func (c Code) Temporary() bool {
	switch c {
	case CodeNotLeader, CodeUnavailable, CodeTimeout:
		return true
	}
	return false
}

// Policy refusals: an administrator's policy, not a shortage of
// seats, stands in the way of a grant.
const (
	CodePolicyDenied   Code = "policy_denied"
	CodeTeamCapReached Code = "team_cap_reached"
	CodeOverageExpired Code = "overage_expired"
	CodeMaxCheckout    Code = "max_checkout_reached"
	CodeLeaseLingering Code = "lease_lingering"
)

// Security refusals (issue 13).
const (
	// CodeIdempotencyConflict: a request ID was reused by another caller,
	// or by the same caller for a different request.
	CodeIdempotencyConflict Code = "idempotency_conflict"
	// CodeEnrollTokenUsedUp: the enrollment token has enrolled as many
	// devices as it may, or may not enroll this Device Code.
	CodeEnrollTokenUsedUp Code = "enroll_token_used_up"
	// CodeTooManyRequests: a per-source or per-member limit (sign-in brake,
	// connection limits) holds the request back; retry after the delay.
	CodeTooManyRequests Code = "too_many_requests"
)

// Who holds a seat: where an account manages members, a checkout is for a
// member signed in on the device (tally-agent login), and the ledger checks
// that member at apply time.
const (
	// CodeNotSignedIn: the caller has no (or no longer a) member sign-in on
	// this device.
	CodeNotSignedIn Code = "not_signed_in"
	// CodeNotAMember: the signed-in address is not an active member (deleted,
	// or an invitation still pending).
	CodeNotAMember Code = "not_a_member"
	// CodeAssistantNoSeat: Assistants and Administrator Assistants manage an
	// account but never hold a seat of its products.
	CodeAssistantNoSeat Code = "assistant_no_seat"
	// CodeNoLicense: the feature belongs to a product with named licenses and
	// none is assigned to the member.
	CodeNoLicense Code = "no_license"
	// CodeApprovalPending: a browser-approved sign-in is still waiting for
	// the member to enter its code (RFC 8628's authorization_pending).
	CodeApprovalPending Code = "authorization_pending"
)

// Vendor entitlements (protocol/entitlement): the account's valid
// entitlements do not cover a grant, or an administrator's change goes
// beyond them.
const (
	CodeNotEntitled      Code = "not_entitled"
	CodeEntitlementLimit Code = "entitlement_limit"
)

// CodeConfirmationRequired: the change takes something from someone (an
// assigned license, say); the caller must confirm it (--force, force: true).
const CodeConfirmationRequired Code = "confirmation_required"
