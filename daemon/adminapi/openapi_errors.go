package adminapi

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tally-licensing/tally/protocol"
)

// Every error the admin API answers is {"error":{"code","message"}} with a
// stable code (protocol.Code) and the HTTP status that code maps to. The
// OpenAPI document names, per operation, the codes it can answer: the ones
// every operation of its kind can (authentication, a malformed body, an
// unknown path element, a write meeting no leader) plus the ones its own
// rules add (opErrors).

// errorSchemaName is the error body's schema in components.schemas.
const errorSchemaName = "Error"

// opErrors are the codes particular operations add, by "METHOD /path".
var opErrors = map[string][]protocol.Code{
	"POST /v1/accounts":                                      {protocol.CodeAlreadyExists},
	"PUT /v1/accounts/{account}/pools/{feature}":             {protocol.CodeSeatsInUse, protocol.CodeEntitlementLimit},
	"PUT /v1/accounts/{account}/policy":                      {protocol.CodeEntitlementLimit},
	"PUT /v1/accounts/{account}/pools/{feature}/policy":      {protocol.CodeUnknownFeature, protocol.CodeEntitlementLimit},
	"GET /v1/accounts/{account}/pools/{feature}/policy":      {protocol.CodeUnknownFeature},
	"POST /v1/licenses/{id}/terminate":                       {protocol.CodeConfirmationRequired},
	"POST /v1/accounts/{account}/licenses/assign":            {protocol.CodeAlreadyExists, protocol.CodeNoSeat},
	"POST /v1/licenses/{id}/addons":                          {protocol.CodeNoSeat},
	"PUT /v1/licenses/{id}/extension":                        {protocol.CodeAlreadyExists},
	"PUT /v1/accounts/{account}/products/{code}":             {protocol.CodeSeatsInUse},
	"POST /v1/accounts/{account}/users":                      {protocol.CodeAlreadyExists, protocol.CodeNoSeat},
	"POST /v1/accounts/{account}/users/bulk":                 {protocol.CodeAlreadyExists, protocol.CodeNoSeat},
	"POST /v1/accounts/{account}/invitations":                {protocol.CodeAlreadyExists, protocol.CodeNoSeat},
	"POST /v1/accounts/{account}/invitations/{email}/accept": {protocol.CodeInvitationExpired},
	"PUT /v1/accounts/{account}/users/{email}/role":          {protocol.CodeNoSeat},
	"PUT /v1/accounts/{account}/seats":                       {protocol.CodeSeatsInUse},
	"POST /v1/accounts/{account}/activate":                   {protocol.CodeNoSeat, protocol.CodeNotAllowed},
	"POST /v1/accounts/{account}/signin":                     {protocol.CodeUnauthorized, protocol.CodeTooManyRequests},
	"POST /v1/sessions":                                      {protocol.CodeUnauthorized, protocol.CodeTooManyRequests},
	"POST /v1/device-approvals":                              {protocol.CodeUnauthorized, protocol.CodeTooManyRequests},
	"POST /v1/accounts/{account}/teams":                      {protocol.CodeAlreadyExists},
	"POST /v1/accounts/{account}/subscription/renew":         {protocol.CodeInvalidArgument},
	"POST /v1/accounts/{account}/assignments/import":         {protocol.CodeNoSeat},
	"POST /v1/cluster/nodes":                                 {protocol.CodeAlreadyExists},
	"POST /v1/leases/{id}/revoke":                            {protocol.CodeLeaseNotFound},
	"POST /v1/accounts/{account}/devices/{code}/move":        {protocol.CodeNoSeat},
	"POST /v1/accounts/{account}/entitlements":               {protocol.CodeAlreadyExists},
	"POST /v1/accounts/{account}/assignments/import.csv":     {protocol.CodeNoSeat},
}

// errorCodes are the codes operation k (documented as o) can answer.
func errorCodes(k string, o op) []protocol.Code {
	method, path, _ := strings.Cut(k, " ")
	set := map[protocol.Code]bool{protocol.CodeInternal: true}
	if !o.public {
		set[protocol.CodeUnauthorized], set[protocol.CodeForbidden] = true, true
	}
	if o.request != nil || len(o.query) > 0 {
		set[protocol.CodeBadRequest], set[protocol.CodeInvalidArgument] = true, true
	}
	if strings.Contains(path, "{") {
		set[protocol.CodeNotFound] = true
	}
	if strings.Contains(path, "{account}") {
		set[protocol.CodeUnknownAccount] = true
	}
	if method != http.MethodGet {
		// Writes go through the leader: none elected, or it did not answer.
		set[protocol.CodeNotLeader], set[protocol.CodeUnavailable], set[protocol.CodeTimeout] = true, true, true
		if method != http.MethodDelete {
			set[protocol.CodeInvalidArgument] = true
		}
	}
	for _, c := range opErrors[k] {
		set[c] = true
	}
	out := make([]protocol.Code, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// errorResponses groups an operation's codes by HTTP status into OpenAPI
// responses, each naming its codes (in the description and, for tools, in
// x-error-codes) with the shared error schema.
func errorResponses(k string, o op) map[string]any {
	byStatus := map[int][]string{}
	for _, c := range errorCodes(k, o) {
		byStatus[c.HTTPStatus()] = append(byStatus[c.HTTPStatus()], string(c))
	}
	out := map[string]any{}
	for status, codes := range byStatus {
		out[strconv.Itoa(status)] = map[string]any{
			"description":   http.StatusText(status) + ": " + strings.Join(codes, ", "),
			"x-error-codes": codes,
			"content":       map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + errorSchemaName}}},
		}
	}
	return out
}

// errorSchema is {"error":{"code","message"}}, the code one of every code
// the API answers.
func errorSchema() map[string]any {
	codes := make([]string, 0, len(allCodes))
	for _, c := range allCodes {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	return map[string]any{
		"type":        "object",
		"description": "Every error answer. code is stable (scripts may switch on it); message is for people.",
		"required":    []string{"error"},
		"properties": map[string]any{
			"error": map[string]any{
				"type":     "object",
				"required": []string{"code", "message"},
				"properties": map[string]any{
					"code":    map[string]any{"type": "string", "enum": codes},
					"message": map[string]any{"type": "string"},
				},
			},
		},
	}
}

// allCodes are the codes the admin API answers with.
var allCodes = []protocol.Code{
	protocol.CodeInvalidArgument, protocol.CodeBadRequest, protocol.CodeAlreadyExists, protocol.CodeNotFound,
	protocol.CodeUnknownAccount, protocol.CodeUnknownFeature, protocol.CodeLeaseNotFound, protocol.CodeUnauthorized,
	protocol.CodeForbidden, protocol.CodeNotAllowed, protocol.CodeSeatsInUse, protocol.CodeNoSeat,
	protocol.CodeConfirmationRequired, protocol.CodeEntitlementLimit, protocol.CodeNotEntitled, protocol.CodeInvitationExpired,
	protocol.CodeNotLeader, protocol.CodeUnavailable, protocol.CodeTimeout, protocol.CodeInternal,
	protocol.CodeTooManyRequests,
}
