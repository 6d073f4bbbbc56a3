package protocol

import "net/http"

// HTTPStatus is the HTTP status that answers an error with this code on
// Tally's HTTP surfaces (the admin API and the agent's local API), so that
// both map the same code the same way.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeUnauthorized, CodeNotSignedIn, CodeCertificateRefused, CodeEnrollTokenInvalid, CodeEnrollTokenExpired, CodeEnrollTokenRevoked, CodeEnrollTokenUsedUp:
		return http.StatusUnauthorized
	case CodeNotFound, CodeUnknownAccount, CodeUnknownFeature, CodeLeaseNotFound, CodeUnknownRequest:
		return http.StatusNotFound
	case CodeNoSeat, CodeClockRollback, CodeAlreadyExists, CodeSeatsInUse, CodeDeviceConflict, CodeNotHolder,
		CodeTeamCapReached, CodeOverageExpired, CodeMaxCheckout, CodeLeaseLingering, CodeEntitlementLimit, CodeConfirmationRequired, CodeIdempotencyConflict:
		return http.StatusConflict
	case CodeLeaseExpired, CodeLeaseRevoked, CodeSubscriptionExpired, CodeInvitationExpired:
		return http.StatusGone
	case CodeBadRequest, CodeInvalidArgument, CodeUnsupportedVersion:
		return http.StatusBadRequest
	case CodeNotEnrolled, CodePolicyDenied, CodeNotAllowed, CodeForbidden, CodeNotAMember, CodeAssistantNoSeat, CodeNoLicense, CodeNotEntitled:
		return http.StatusForbidden
	case CodeNotLeader, CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
