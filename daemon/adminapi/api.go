// Package adminapi is tallyd's administrator API: JSON over HTTPS under /v1,
// authenticated with admin tokens. tallyctl and the web console use it.
//
// Design: docs/design.md#authority.
package adminapi

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"

	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/daemon/console"
	"github.com/tally-licensing/tally/daemon/leasing"
	"github.com/tally-licensing/tally/protocol"
	wire "github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// Config configures the API.
type Config struct {
	Store   *store.Store
	Leasing *leasing.Service
	Logger  *slog.Logger
	// JWKS returns the cluster's public keys.
	JWKS func() ([]byte, error)
	// Propose stamps and replicates an administrative command, forwarding
	// it to the leader when this node follows.
	Propose func(ctx context.Context, c ledger.Command) (ledger.Result, error)
	// ProposeLocal replicates a command forwarded by another node; it never
	// forwards again, so a confused cluster cannot bounce a command around.
	ProposeLocal func(ctx context.Context, c ledger.Command) (ledger.Result, error)
	// NodeCAs verifies the certificates of nodes calling internal endpoints.
	NodeCAs *x509.CertPool
	Cluster ClusterConfig
	Now     func() time.Time
	// Metrics serves /metrics (Prometheus); nil answers 404.
	Metrics http.Handler
	// Ready is nil when the node may answer from its ledger, and otherwise
	// a retryable error saying why not (a restarted node replaying its
	// log). Until then everything but /healthz, /readyz and node-to-node
	// endpoints answers 503. nil Ready means always ready.
	Ready func() error
	// CatchUp brings a follower's ledger up to the leader's commit index
	// (read index). It runs before a write is validated on a follower, and
	// before an admin token unknown to the follower is refused. nil skips
	// it (a single node, tests).
	CatchUp func(context.Context) error
	// Brake slows password guessing; the node shares one between console
	// sign-in and device sign-in (tally-agent login). Nil: a LedgerBrake
	// over Store and Propose.
	Brake SignInBrake
	// SignReport signs a true-up report with this node's lease-signing key
	// (nil: reports are served unsigned only).
	SignReport func(entitlement.Report) (string, error)
	// Enroll enrolls a device from its request file (air-gapped devices);
	// nil refuses offline enrollment.
	Enroll func(context.Context, protocol.EnrollRequest) (protocol.EnrollResponse, error)
}

type api struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	signIns SignInBrake
	// nodes verifies the chains of nodes calling internal endpoints,
	// remembering those that verified (certs.NodeVerifier).
	nodes *certs.NodeVerifier
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Brake == nil && cfg.Store != nil {
		cfg.Brake = &LedgerBrake{Read: cfg.Store.Read, Propose: cfg.Propose, Logger: cfg.Logger}
	}
	a := &api{cfg: cfg, log: cfg.Logger, now: cfg.Now, signIns: cfg.Brake, nodes: certs.NewNodeVerifier(cfg.NodeCAs)}
	mux, _, _ := a.routes()
	return a.gate(mux)
}

// Routes lists the patterns of every authenticated route (method and
// path), for the OpenAPI document and the tests that walk them all.
func Routes() []string {
	_, r, _ := (&api{}).routes()
	return r
}

// PublicRoutes lists the routes served without a token.
func PublicRoutes() []string {
	_, _, p := (&api{}).routes()
	return p
}

func (a *api) routes() (mux *http.ServeMux, routes, public []string) {
	mux = http.NewServeMux()
	open := func(pattern string, h http.HandlerFunc) {
		public = append(public, pattern)
		mux.Handle(pattern, capBody(pattern, h))
	}
	open("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	open("GET /readyz", a.readyz)
	open("GET /v1/jwks", a.jwks)
	open("GET /v1/openapi.json", a.openapi)
	open("GET /.well-known/jwks.json", a.jwks)
	open("POST /v1/sessions", a.createSession)
	open("POST /v1/device-approvals", a.approveDevice)
	auth := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		routes = append(routes, pattern)
		mux.Handle(pattern, capBody(pattern, a.authenticated(pattern, h)))
	}
	mux.Handle("POST "+PathInternalPropose, capBody(PathInternalPropose, http.HandlerFunc(a.internalPropose)))
	// Metrics list every account and pool: a cluster-wide token reads them
	// here, or the operator serves them on a listener of their choosing
	// (tallyd --metrics-addr).
	auth("GET /metrics", a.metrics)
	auth("GET /v1/status", a.status)
	auth("GET /v1/leases", a.listLeases)
	auth("POST /v1/leases/{id}/revoke", a.revokeLease)
	auth("GET /v1/queue", a.queue)
	auth("GET /v1/accounts", a.listAccounts)
	auth("POST /v1/accounts", a.createAccount)
	auth("GET /v1/accounts/{account}", a.getAccount)
	auth("GET /v1/accounts/{account}/pools", a.listPools)
	auth("PUT /v1/accounts/{account}/pools/{feature}", a.setPool)
	auth("GET /v1/accounts/{account}/enroll-tokens", a.listEnrollTokens)
	auth("POST /v1/accounts/{account}/enroll-tokens", a.createEnrollToken)
	auth("DELETE /v1/accounts/{account}/enroll-tokens/{id}", a.revokeEnrollToken)
	auth("GET /v1/devices", a.listDevices)
	auth("POST /v1/admin-tokens", a.createAdminToken)
	a.registerCluster(auth, mux)
	auth("DELETE /v1/admin-tokens/{id}", a.revokeAdminToken)
	auth("GET /v1/admin-tokens", a.listAdminTokens)
	a.registerLicenses(auth)
	a.registerPolicy(auth)
	a.registerMembers(auth)
	a.registerBilling(auth)
	a.registerSignIns(auth)
	a.registerAudit(auth)
	a.registerVendors(auth)
	a.registerOffline(auth)
	auth("DELETE /v1/sessions/current", a.endSession)
	// The web console: static pages calling the API above.
	mux.Handle("GET /", console.Handler())
	return mux, routes, public
}

type ctxKey struct{}

// authenticated checks the bearer admin token against the ledger.
func (a *api) authenticated(pattern string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A follower hands changes to the leader whole, credential and all,
		// rather than forwarding a command in its own name (internal.go);
		// the leader authenticates and authorizes the caller itself.
		if a.proxyWriteToLeader(w, r) {
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "missing admin token: send Authorization: Bearer <token> (tallyctl reads TALLY_TOKEN)"))
			return
		}
		tok, err := authtoken.Parse(authtoken.Admin, raw)
		if err != nil {
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "%v", err))
			return
		}
		var rec ledger.AdminToken
		var known bool
		a.cfg.Store.Read(func(st *ledger.State) { rec, known = st.AdminToken(tok.ID) })
		if !known && a.catchUpHere() {
			// Perhaps created a moment ago through another node.
			if err := a.cfg.CatchUp(r.Context()); err != nil {
				writeError(w, err)
				return
			}
			a.cfg.Store.Read(func(st *ledger.State) { rec, known = st.AdminToken(tok.ID) })
		}
		if !known || !authtoken.Matches(rec.Hash, tok.Secret) {
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "admin token is not valid for this cluster"))
			return
		}
		if rec.Revoked {
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "admin token %s was revoked", rec.ID))
			return
		}
		if err := a.checkSession(rec); err != nil {
			writeError(w, err)
			return
		}
		// Role and account scope are checked here, on whichever node
		// answers, before anything is served or forwarded (scope.go).
		r, err = a.authorize(pattern, rec, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && a.catchUpHere() {
			// A write is validated against this node's ledger (import
			// plans, existence checks): make it as new as the leader's.
			if err := a.cfg.CatchUp(r.Context()); err != nil {
				writeError(w, err)
				return
			}
		}
		served, err := a.serveFreshness(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if !served {
			return // proxied to the leader
		}
		actor := "admin-token:" + rec.ID
		if rec.Session != "" {
			actor = memberActor(rec.Account, rec.Session)
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, actor)
		a.idempotent(w, r.WithContext(ctx), actor, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				writeError(w, err)
			}
		})
	})
}

// catchUpHere reports whether this node must catch up with the leader
// before deciding on its own ledger: it follows, and can.
func (a *api) catchUpHere() bool {
	return a.cfg.CatchUp != nil && !a.cfg.Store.IsLeader()
}

// caller is who made the request, for logs and the audit log:
// admin-token:ID or member:ACCOUNT/EMAIL for a console session.
func caller(r *http.Request) string {
	actor, _ := r.Context().Value(ctxKey{}).(string)
	return actor
}

func writeError(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = protocol.Errorf(protocol.CodeInternal, "%v", err)
	}
	var body ErrorBody
	body.Error.Code = string(pe.Code)
	body.Error.Message = pe.Message
	writeJSON(w, pe.Code.HTTPStatus(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decode(r *http.Request, v any) error { return decodeLimit(r, v, 1<<20) }

// DefaultMaxBody caps the request body of every route but the bulk ones.
const DefaultMaxBody = 1 << 20

// capBody bounds the body every route may be sent, read or not: the bulk
// routes take what their imports allow, all others DefaultMaxBody.
func capBody(pattern string, h http.Handler) http.Handler {
	limit := int64(DefaultMaxBody)
	switch {
	case strings.Contains(pattern, "/assignments/import"):
		limit = MaxImportBytes
	case strings.HasSuffix(pattern, "/users/bulk") || strings.HasSuffix(pattern, "/invitations"):
		limit = 8 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeError(w, protocol.Errorf(protocol.CodeBadRequest, "request body of %d bytes exceeds this route's limit of %d", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

func decodeLimit(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "malformed request body: %v", err)
	}
	return nil
}

// apply replicates a command and turns a ledger refusal into an error.
func (a *api) apply(r *http.Request, c ledger.Command) (ledger.Result, error) {
	if c.Actor == "" {
		c.Actor = caller(r) // the audit log's "who"
	}
	res, err := a.cfg.Propose(r.Context(), c)
	if err != nil {
		return res, err
	}
	if res.Error != nil {
		return res, res.Error
	}
	return res, nil
}

func (a *api) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := a.cfg.JWKS()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(b)
}

func (a *api) status(w http.ResponseWriter, r *http.Request) error {
	now := a.now()
	resp := StatusResponse{Node: wire.NodeStatus(a.cfg.Store.Status()), ServerTime: now, Waiting: len(a.cfg.Leasing.Waiting())}
	a.cfg.Store.Read(func(st *ledger.State) {
		resp.ClusterID = st.ClusterID()
		resp.Settings = wire.SettingsOf(st.Settings())
		resp.Pools = st.Usage(r.URL.Query().Get("account"), now)
		resp.Leases = len(st.Leases(ledger.LeaseFilter{Account: r.URL.Query().Get("account")}))
		resp.Devices = len(st.Devices(r.URL.Query().Get("account")))
	})
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *api) listLeases(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := ledger.LeaseFilter{Account: q.Get("account"), Feature: q.Get("feature"), Device: q.Get("device")}
	var out []LeaseView
	a.cfg.Store.Read(func(st *ledger.State) {
		skew := st.Settings().MaxSkew
		for _, l := range st.Leases(f) {
			v := LeaseView{ID: l.ID, Account: l.Account, Feature: l.Feature, Device: l.Device, User: l.User, Kind: l.Kind,
				Since: l.Since, Expires: l.Horizon, SeatFreesAt: l.Horizon.Add(skew), Revoked: l.Revoked, License: l.License, AddOns: l.AddOns}
			if d, ok := st.Device(ledger.DeviceRef{Account: l.Account, Code: l.Device}); ok {
				v.Hostname = d.Hostname
			}
			out = append(out, v)
		}
	})
	for i := range out {
		out[i].LastSeen, _ = a.cfg.Leasing.LastSeen(out[i].ID)
	}
	if out == nil {
		out = []LeaseView{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) revokeLease(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "L"), 10, 64)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "lease ID %q is not a number", r.PathValue("id"))
	}
	l, err := a.cfg.Leasing.Revoke(r.Context(), id, caller(r))
	if err != nil {
		return err
	}
	a.log.Info("lease revoked", "lease", id, "by", caller(r))
	var skew time.Duration
	a.cfg.Store.Read(func(st *ledger.State) { skew = st.Settings().MaxSkew })
	writeJSON(w, http.StatusOK, LeaseView{ID: l.ID, Account: l.Account, Feature: l.Feature, Device: l.Device, User: l.User, Kind: l.Kind,
		Since: l.Since, Expires: l.Horizon, SeatFreesAt: l.Horizon.Add(skew), Revoked: true})
	return nil
}

func (a *api) queue(w http.ResponseWriter, r *http.Request) error {
	out := []leasing.Waiter{}
	acct := r.URL.Query().Get("account")
	for _, w := range a.cfg.Leasing.Waiting() {
		if acct == "" || w.Account == acct {
			out = append(out, w)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) listAccounts(w http.ResponseWriter, r *http.Request) error {
	out := []wire.Account{}
	acct := r.URL.Query().Get("account")
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, x := range st.Accounts() {
			if acct == "" || x.ID == acct {
				out = append(out, wire.AccountOf(x))
			}
		}
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) getAccount(w http.ResponseWriter, r *http.Request) error {
	var acct ledger.Account
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { acct, ok = st.Account(r.PathValue("account")) })
	if !ok {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", r.PathValue("account"))
	}
	writeJSON(w, http.StatusOK, wire.AccountOf(acct))
	return nil
}

func (a *api) createAccount(w http.ResponseWriter, r *http.Request) error {
	var req CreateAccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	create := ledger.CreateAccount{ID: req.ID, Name: req.Name, AdminEmail: req.AdminEmail, Model: req.Model, SubscriptionEnd: req.SubscriptionEnd}
	cmd := ledger.Command{Type: ledger.CmdCreateAccount, Payload: &create}
	switch {
	case req.AdminMember:
		// One command: the account and its administrator member together.
		cmd = ledger.Command{Type: ledger.CmdCreateAccountWithAdmin, Payload: &ledger.CreateAccountWithAdmin{Account: create, Seats: max(1, req.MemberSeats)}}
	case req.MemberSeats != 0:
		return protocol.Errorf(protocol.CodeInvalidArgument, "member_seats goes with admin_member; set an account's seats with PUT /v1/accounts/{account}/seats")
	}
	if _, err := a.apply(r, cmd); err != nil {
		return err
	}
	a.log.Info("account created", "account", req.ID, "by", caller(r))
	return a.getAccountByID(w, req.ID, http.StatusCreated)
}

func (a *api) getAccountByID(w http.ResponseWriter, id string, status int) error {
	var acct ledger.Account
	a.cfg.Store.Read(func(st *ledger.State) { acct, _ = st.Account(id) })
	writeJSON(w, status, wire.AccountOf(acct))
	return nil
}

func (a *api) listPools(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	var out []ledger.PoolUsage
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) {
		_, ok = st.Account(account)
		out = st.Usage(account, a.now())
	})
	if !ok {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	if out == nil {
		out = []ledger.PoolUsage{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) setPool(w http.ResponseWriter, r *http.Request) error {
	var req SetPoolRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.LeaseTTL != "" {
		d, err := time.ParseDuration(req.LeaseTTL)
		if err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "lease_ttl %q: %v", req.LeaseTTL, err)
		}
		ttl = d
	}
	account, feature := r.PathValue("account"), r.PathValue("feature")
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdSetPool, Payload: &ledger.SetPool{Account: account, Feature: feature, Seats: req.Seats, LeaseTTL: ttl}}); err != nil {
		return err
	}
	a.log.Info("pool seats set", "account", account, "feature", feature, "seats", req.Seats, "by", caller(r))
	var out ledger.PoolUsage
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, u := range st.Usage(account, a.now()) {
			if u.Feature == feature {
				out = u
			}
		}
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) listEnrollTokens(w http.ResponseWriter, r *http.Request) error {
	var out []ledger.EnrollToken
	a.cfg.Store.Read(func(st *ledger.State) { out = st.EnrollTokens(r.PathValue("account")) })
	for i := range out {
		out[i].Hash = ""
	}
	if out == nil {
		out = []ledger.EnrollToken{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// DefaultEnrollTTL is how long an enrollment token lasts unless asked.
const DefaultEnrollTTL = 7 * 24 * time.Hour

func (a *api) createEnrollToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	ttl := DefaultEnrollTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "ttl %q must be a positive duration such as 24h", req.TTL)
		}
		ttl = d
	}
	tok, err := authtoken.New(authtoken.Enroll)
	if err != nil {
		return err
	}
	account := r.PathValue("account")
	expires := a.now().Add(ttl)
	uses := req.Uses
	if uses == 0 {
		uses = 1 // a token made by hand enrolls one device unless told
	}
	if uses < 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "uses %d must be at least 1", req.Uses)
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdCreateEnrollToken, Payload: &ledger.EnrollToken{
		ID: tok.ID, Account: account, Name: req.Name, Hash: tok.Hash(), Expires: expires, MaxUses: uses, Devices: req.Devices,
	}}); err != nil {
		return err
	}
	a.log.Info("enrollment token created", "account", account, "token", tok.ID, "expires", expires, "by", caller(r))
	writeJSON(w, http.StatusCreated, TokenResponse{ID: tok.ID, Token: tok.String(), Account: account, Expires: expires})
	return nil
}

func (a *api) revokeEnrollToken(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdRevokeEnrollToken, Payload: &ledger.RevokeEnrollToken{
		Account: r.PathValue("account"), ID: r.PathValue("id"),
	}}); err != nil {
		return err
	}
	a.log.Info("enrollment token revoked", "account", r.PathValue("account"), "token", r.PathValue("id"), "by", caller(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) listDevices(w http.ResponseWriter, r *http.Request) error {
	var out []DeviceView
	a.cfg.Store.Read(func(st *ledger.State) { out = deviceViews(st, r.URL.Query().Get("account")) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	tok, err := authtoken.New(authtoken.Admin)
	if err != nil {
		return err
	}
	want := &ledger.AdminToken{ID: tok.ID, Name: req.Name, Hash: tok.Hash(), Role: req.Role, Account: req.Account}
	if err := checkTokenGrant(callerToken(r), want); err != nil {
		return err
	}
	if err := checkTokenRank(callerToken(r), *want); err != nil {
		return err
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdCreateAdminToken, Payload: want}); err != nil {
		return err
	}
	a.log.Info("admin token created", "token", tok.ID, "name", req.Name, "by", caller(r))
	writeJSON(w, http.StatusCreated, TokenResponse{ID: tok.ID, Token: tok.String(), Account: want.Account, Role: string(want.TokenRole())})
	return nil
}

func (a *api) revokeAdminToken(w http.ResponseWriter, r *http.Request) error {
	if caller := callerToken(r); caller.Account != "" && caller.TokenRole() != ledger.RoleAccountOwner {
		var target ledger.AdminToken
		a.cfg.Store.Read(func(st *ledger.State) { target, _ = st.AdminToken(r.PathValue("id")) })
		if target.TokenRole() == ledger.RoleAccountOwner {
			return protocol.Errorf(protocol.CodeForbidden, "only an account owner can revoke owner tokens")
		}
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdRevokeAdminToken, Payload: &ledger.RevokeAdminToken{ID: r.PathValue("id")}}); err != nil {
		return err
	}
	a.log.Info("admin token revoked", "token", r.PathValue("id"), "by", caller(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) listAdminTokens(w http.ResponseWriter, r *http.Request) error {
	out := []ledger.AdminToken{}
	a.cfg.Store.Read(func(st *ledger.State) { out = append(out, st.AdminTokens(r.URL.Query().Get("account"))...) })
	for i := range out {
		out[i].Role = string(out[i].TokenRole())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
