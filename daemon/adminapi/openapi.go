package adminapi

import (
	"encoding/json"
	wire "github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/offline"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/leasing"
	"github.com/tally-licensing/tally/protocol"
)

// op describes one route for the OpenAPI document. Request and response
// are Go values whose types are turned into JSON schemas by reflection, so
// the document follows the types the handlers really use.
type op struct {
	summary  string
	query    []string // query parameter names
	request  any      // nil: no JSON body
	response any      // nil: no body
	status   int      // success status (200 when zero)
	public   bool     // no admin token needed
	produces string   // non-JSON success media type
}

// operations documents every route; TestOpenAPICoversEveryRoute checks it
// matches the router both ways.
var operations = map[string]op{
	"GET /healthz":                {summary: "The process is alive", public: true, produces: "text/plain"},
	"GET /readyz":                 {summary: "Raft has a leader and this node has applied up to its commit index", public: true, produces: "text/plain"},
	"GET /metrics":                {summary: "Prometheus metrics (a cluster-wide token; or unauthenticated on tallyd --metrics-addr)", produces: "text/plain"},
	"GET /v1/openapi.json":        {summary: "This document", public: true},
	"GET /v1/jwks":                {summary: "The cluster's lease-signing public keys (JWKS)", public: true, produces: "application/jwk-set+json"},
	"GET /.well-known/jwks.json":  {summary: "The cluster's lease-signing public keys (JWKS)", public: true, produces: "application/jwk-set+json"},
	"POST /v1/device-approvals":   {summary: "Approve a device's browser-approved sign-in: the member enters the code the device shows, with their email and password", public: true, request: ApproveDeviceRequest{}, status: http.StatusNoContent},
	"POST /v1/sessions":           {summary: "Sign a member in to the console (owner, administrator or assistant); the token works like an admin token of the member's access until it expires", public: true, request: SessionRequest{}, response: SessionResponse{}, status: http.StatusCreated},
	"DELETE /v1/sessions/current": {summary: "Sign the caller's console session out", status: http.StatusNoContent},

	"GET /v1/status":              {summary: "Node state and every pool's purchased, active and unused seats", query: []string{"account"}, response: StatusResponse{}},
	"GET /v1/leases":              {summary: "Leases held now", query: []string{"account", "feature", "device"}, response: []LeaseView{}},
	"POST /v1/leases/{id}/revoke": {summary: "Revoke a lease (its seat frees at horizon plus skew)", response: LeaseView{}},
	"GET /v1/queue":               {summary: "Checkouts waiting for a seat", query: []string{"account"}, response: []leasing.Waiter{}},
	"GET /v1/accounts":            {summary: "List accounts", query: []string{"account"}, response: []wire.Account{}},
	"POST /v1/accounts":           {summary: "Create an account", request: CreateAccountRequest{}, response: wire.Account{}, status: http.StatusCreated},
	"GET /v1/accounts/{account}":  {summary: "Show an account", response: wire.Account{}},

	"GET /v1/accounts/{account}/pools":                 {summary: "An account's pools with seat usage", response: []ledger.PoolUsage{}},
	"PUT /v1/accounts/{account}/pools/{feature}":       {summary: "Create a pool or set its seats", request: SetPoolRequest{}, response: []ledger.PoolUsage{}},
	"GET /v1/accounts/{account}/enroll-tokens":         {summary: "List device enrollment tokens", response: []ledger.EnrollToken{}},
	"POST /v1/accounts/{account}/enroll-tokens":        {summary: "Create a device enrollment token (secret shown once)", request: CreateTokenRequest{}, response: TokenResponse{}, status: http.StatusCreated},
	"DELETE /v1/accounts/{account}/enroll-tokens/{id}": {summary: "Revoke an enrollment token", status: http.StatusNoContent},
	"GET /v1/devices":                                  {summary: "Enrolled devices with their signed-in members, last heartbeat and agent version", query: []string{"account"}, response: []DeviceView{}},

	"GET /v1/admin-tokens":         {summary: "List admin tokens with roles and accounts", query: []string{"account"}, response: []ledger.AdminToken{}},
	"POST /v1/admin-tokens":        {summary: "Create an admin token (secret shown once)", request: CreateTokenRequest{}, response: TokenResponse{}, status: http.StatusCreated},
	"DELETE /v1/admin-tokens/{id}": {summary: "Revoke an admin token", status: http.StatusNoContent},

	"GET /v1/cluster":                                    {summary: "Cluster members, leader and replication state", response: ClusterView{}},
	"POST /v1/cluster/join-bundle":                       {summary: "Create a bundle for a new node to join", request: JoinBundleRequest{}, response: JoinBundle{}},
	"POST /v1/cluster/nodes":                             {summary: "Add a node (leader only)", request: AddNodeRequest{}, response: ClusterView{}},
	"DELETE /v1/cluster/nodes/{id}":                      {summary: "Remove a node (leader only)", status: http.StatusNoContent},
	"POST /v1/cluster/transfer-leader":                   {summary: "Hand leadership to another node", request: TransferRequest{}, response: ClusterView{}},
	"GET /v1/backup":                                     {summary: "A consistent snapshot of the ledger, its secrets left out (cluster-admin)", response: Backup{}},
	"POST /v1/backup":                                    {summary: "A consistent snapshot of the ledger, its secrets sealed under the passphrase (cluster-admin)", request: BackupRequest{}, response: Backup{}},
	"GET /v1/audit":                                      {summary: "Page or export the audit log", query: []string{"account", "type", "actor", "since", "until", "after", "limit", "format", "order"}, response: AuditPage{}},
	"GET /v1/accounts/{account}/usage-history":           {summary: "An account's daily peak of concurrent leases over the last days (default 30)", query: []string{"days"}, response: UsageHistory{}},
	"GET /v1/vendors":                                    {summary: "Vendor public keys the cluster trusts", response: []wire.VendorView{}},
	"POST /v1/vendors":                                   {summary: "Trust a vendor's public key (entitlements it signs may be imported)", request: wire.TrustVendorRequest{}, response: wire.VendorView{}},
	"DELETE /v1/vendors/{kid}":                           {summary: "Stop trusting a vendor key", status: http.StatusNoContent},
	"POST /v1/accounts/{account}/entitlements":           {summary: "Import a vendor-signed entitlement", request: wire.ImportEntitlementRequest{}, response: wire.EntitlementView{}},
	"GET /v1/accounts/{account}/entitlements":            {summary: "An account's entitlements", response: []wire.EntitlementView{}},
	"GET /v1/accounts/{account}/entitlements/{serial}":   {summary: "One entitlement, with its JWS", response: wire.EntitlementView{}},
	"GET /v1/accounts/{account}/denials":                 {summary: "Refused checkouts per day, feature, team and reason", query: []string{"from", "to"}, response: wire.DenialsView{}},
	"POST /v1/accounts/{account}/offline/grant":          {summary: "Grant a lease to an air-gapped device from its signed request file", request: wire.OfflineGrantRequest{}, response: offline.LeaseFile{}},
	"POST /v1/accounts/{account}/offline/return":         {summary: "Take back an air-gapped device's lease from its signed return file", request: wire.OfflineReturnRequest{}},
	"POST /v1/accounts/{account}/offline/enroll":         {summary: "Enroll an air-gapped device from its request file", request: wire.OfflineEnrollRequest{}, response: protocol.EnrollResponse{}},
	"GET /v1/accounts/{account}/report":                  {summary: "True-up report per entitlement and feature (signed=true: a JWS for the vendor)", query: []string{"from", "to", "signed"}, response: wire.SignedReport{}},
	"GET /v1/usage-report":                               {summary: "Seat-days per pool over a period", query: []string{"from", "to", "account", "format"}, response: UsageReport{}},
	"GET /v1/accounts/{account}/products":                {summary: "An account's products with purchased and assigned quantities", response: []ledger.ProductUsage{}},
	"PUT /v1/accounts/{account}/products/{code}":         {summary: "Create or change a product", request: SetProductRequest{}, response: []ledger.ProductUsage{}},
	"GET /v1/accounts/{account}/licenses":                {summary: "Search named licenses", query: []string{"type", "user", "ext", "status"}, response: []ledger.LicenseView{}},
	"POST /v1/accounts/{account}/licenses/assign":        {summary: "Assign a base license", request: AssignRequest{}, response: ledger.LicenseView{}},
	"GET /v1/licenses/{id}":                              {summary: "Show a license", response: ledger.LicenseView{}},
	"POST /v1/licenses/{id}/unassign":                    {summary: "Unassign a license", request: LicenseChangeRequest{}, response: ledger.LicenseView{}},
	"POST /v1/licenses/{id}/reassign":                    {summary: "Give a license to another user", request: LicenseChangeRequest{}, response: ledger.LicenseView{}},
	"POST /v1/licenses/{id}/addons":                      {summary: "Attach an add-on", request: LicenseChangeRequest{}, response: ledger.LicenseView{}},
	"DELETE /v1/licenses/{id}/addons/{code}":             {summary: "Detach an add-on", response: ledger.LicenseView{}},
	"PUT /v1/licenses/{id}/extension":                    {summary: "Set a license's extension and number", request: LicenseChangeRequest{}, response: ledger.LicenseView{}},
	"POST /v1/licenses/{id}/terminate":                   {summary: "Terminate a license", request: LicenseChangeRequest{}, response: ledger.LicenseView{}},
	"GET /v1/accounts/{account}/assignments":             {summary: "Export assignments", query: []string{"product"}, response: ExportResponse{}},
	"POST /v1/accounts/{account}/assignments/import":     {summary: "Import assignments (JSON rows)", request: ImportRequest{}, response: ledger.ImportReport{}},
	"POST /v1/accounts/{account}/assignments/import.csv": {summary: "Import assignments from a CSV body", query: []string{"product", "dry_run"}, response: ledger.ImportReport{}},

	"GET /v1/accounts/{account}/policy":                 {summary: "An account's stored and effective floating policy", response: PolicyView{}},
	"PUT /v1/accounts/{account}/policy":                 {summary: "Replace an account's floating policy (overage and subscription end need a cluster-wide token)", request: PolicyRequest{}, response: PolicyView{}},
	"GET /v1/accounts/{account}/pools/{feature}/policy": {summary: "A pool's stored and effective floating policy", response: PolicyView{}},
	"PUT /v1/accounts/{account}/pools/{feature}/policy": {summary: "Replace a pool's floating policy", request: PolicyRequest{}, response: PolicyView{}},
	"POST /v1/accounts/{account}/devices/{code}/move":   {summary: "Move a device's node-locked seats to another device", request: DeviceOpRequest{}, response: ledger.Lease{}},
	"POST /v1/accounts/{account}/devices/{code}/free":   {summary: "Free a device's node-locked seats", request: DeviceOpRequest{}, response: ledger.Lease{}},
	"DELETE /v1/accounts/{account}/devices/{code}":      {summary: "Remove a device and revoke its leases (its seats free at horizon plus skew); its Device Code may then enroll again", response: ledger.Device{}},
	"GET /v1/events": {summary: "Administrator events (overage started, reminders, ended) and reminders due", query: []string{"account", "after"}, response: EventsView{}},

	"GET /v1/accounts/{account}/usage":                           {summary: "Member seats: active, pending, unassigned, unused, per team", response: ledger.MemberUsage{}},
	"GET /v1/accounts/{account}/users":                           {summary: "List members", query: []string{"team"}, response: []ledger.UserView{}},
	"POST /v1/accounts/{account}/users":                          {summary: "Add a member", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/users/bulk":                     {summary: "Add many members at once (all or nothing)", request: MemberRequest{}, response: ledger.MembersResult{}},
	"GET /v1/accounts/{account}/users/{email}":                   {summary: "Show a member", response: ledger.UserView{}},
	"POST /v1/accounts/{account}/users/{email}/sign-out":         {summary: "Sign a member out of one device or all (revokes the leases held under those sign-ins)", request: SignOutRequest{}, response: []ledger.DeviceSignIn{}},
	"GET /v1/accounts/{account}/sign-ins":                        {summary: "Members signed in on the account's devices", response: []ledger.DeviceSignIn{}},
	"DELETE /v1/accounts/{account}/users/{email}":                {summary: "Delete a member (returns their seat)", response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/users/{email}/role":              {summary: "Change a member's role", request: MemberRequest{}, response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/users/{email}/password":          {summary: "Set a member's password (stored as argon2id)", request: MemberRequest{}, response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/users/{email}/plan":              {summary: "Move a member to another plan or period", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/invitations":                    {summary: "Invite a member (pending until accepted; holds a seat)", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/invitations/{email}/accept":     {summary: "Accept an invitation", request: MemberRequest{}, response: ledger.MembersResult{}},
	"DELETE /v1/accounts/{account}/invitations/{email}":          {summary: "Cancel an invitation", response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/invitations/expire":             {summary: "Expire invitations past their date now", response: ledger.MembersResult{}},
	"GET /v1/accounts/{account}/teams":                           {summary: "Teams with their seat distribution", response: []ledger.TeamUsage{}},
	"POST /v1/accounts/{account}/teams":                          {summary: "Create a team", request: MemberRequest{}, response: ledger.MembersResult{}},
	"DELETE /v1/accounts/{account}/teams/{team}":                 {summary: "Delete a team", response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/teams/{team}/members/{email}":    {summary: "Add a member to a team", response: ledger.MembersResult{}},
	"DELETE /v1/accounts/{account}/teams/{team}/members/{email}": {summary: "Remove a member from a team", response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/teams/{team}/admins/{email}":     {summary: "Make a team member the team's administrator", response: ledger.MembersResult{}},
	"DELETE /v1/accounts/{account}/teams/{team}/admins/{email}":  {summary: "Stop a member administering a team", response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/teams/{team}/plan":               {summary: "Move a team to another plan or period", request: MemberRequest{}, response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/seat-policy":                     {summary: "Who gets a seat: explicit list, email domain or everyone", request: MemberRequest{}, response: ledger.MembersResult{}},
	"GET /v1/accounts/{account}/seat-requests":                   {summary: "The account's requests for more member seats", response: []ledger.SeatRequest{}},
	"POST /v1/accounts/{account}/seat-requests":                  {summary: "Ask the cluster operator for more member seats (e-mailed to the operator, recorded in the audit log)", request: wire.SeatRequestRequest{}, response: wire.SeatRequestRequest{}, status: http.StatusCreated},
	"PUT /v1/accounts/{account}/prices":                          {summary: "Set the plan prices (per seat and period) behind the estimate of the next charge", request: ledger.Prices{}, response: ledger.MemberUsage{}},
	"PUT /v1/accounts/{account}/seats":                           {summary: "Set the account's purchased member seats", request: MemberRequest{}, response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/subscription":                    {summary: "Set the account's plan and contract period", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/subscription/renew":             {summary: "Renew the subscription (keep the seats, or shrink to the seats in use)", request: MemberRequest{}, response: ledger.MembersResult{}},
	"PUT /v1/accounts/{account}/admin-email":                     {summary: "Set the address that gets the account's reminders", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/activate":                       {summary: "Activate a member's seat on a device", request: MemberRequest{}, response: ledger.MembersResult{}},
	"POST /v1/accounts/{account}/signin":                         {summary: "Check a member's password", request: MemberRequest{}, response: SignInResponse{}},
}

// openAPIPublic lists the operations documented as needing no token.
func openAPIPublic() []string {
	var out []string
	for k, o := range operations {
		if o.public {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// OpenAPIPaths lists "METHOD /path" of every operation in the document.
func OpenAPIPaths() []string {
	out := make([]string, 0, len(operations))
	for k := range operations {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// DefaultOpenAPIServer is the servers entry's default node when the
// document is built outside a request.
const DefaultOpenAPIServer = "localhost:7444"

// OpenAPI builds the OpenAPI 3.1 document, its servers entry defaulting to
// DefaultOpenAPIServer.
func OpenAPI() ([]byte, error) { return openAPIFor(DefaultOpenAPIServer) }

// openAPIFor builds the document with server (host:port) as the servers
// entry's default: the node that serves it.
func openAPIFor(server string) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, k := range OpenAPIPaths() {
		o := operations[k]
		method, path, _ := strings.Cut(k, " ")
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range o.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		status := o.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case o.response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(o.response))}}
		case o.produces != "":
			ok["content"] = map[string]any{o.produces: map[string]any{}}
		}
		responses := errorResponses(k, o)
		responses[itoa(status)] = ok
		operation := map[string]any{"summary": o.summary, "operationId": operationID(k), "responses": responses}
		if len(params) > 0 {
			operation["parameters"] = params
		}
		if o.request != nil {
			operation["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(o.request))}}}
		}
		if o.public {
			operation["security"] = []any{}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = operation
	}
	var codes []string
	for _, c := range allCodes {
		codes = append(codes, string(c))
	}
	g.defs[errorSchemaName] = errorSchema()
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Tally admin API", "version": "1",
			"license":     map[string]any{"name": "Proprietary", "identifier": "LicenseRef-Tally"},
			"description": "Administer a Tally license cluster. Authenticate with an admin token: Authorization: Bearer tat_…. Every error answers {\"error\":{\"code\",\"message\"}} (schema Error) with a stable code: " + strings.Join(codes, ", ") + "; each operation lists the codes it can answer under its error statuses."},
		"servers": []any{map[string]any{
			"url":         "https://{node}",
			"description": "Any node of the cluster (followers pass writes to the leader)",
			"variables":   map[string]any{"node": map[string]any{"default": server, "description": "a node's admin address, host:port"}},
		}},
		"paths":      paths,
		"components": map[string]any{"schemas": g.defs, "securitySchemes": map[string]any{"adminToken": map[string]any{"type": "http", "scheme": "bearer"}}},
		"security":   []any{map[string]any{"adminToken": []any{}}},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func operationID(k string) string {
	r := strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_", "-", "_", " ", "")
	return strings.ToLower(r.Replace(k))
}

type schemaGen struct{ defs map[string]any }

var timeType = reflect.TypeOf(time.Time{})
var durationType = reflect.TypeOf(time.Duration(0))

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder for recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// object lists a struct's JSON fields, flattening embedded structs as
// encoding/json does.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var fill func(t reflect.Type)
	fill = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					fill(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
		}
	}
	fill(t)
	return map[string]any{"type": "object", "properties": props}
}

func (a *api) openapi(w http.ResponseWriter, r *http.Request) {
	server := r.Host
	if server == "" {
		server = DefaultOpenAPIServer
	}
	b, err := openAPIFor(server)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
