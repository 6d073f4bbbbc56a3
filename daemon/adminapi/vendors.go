package adminapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	wire "github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// Vendor keys, entitlements, denials and signed true-up reports
// (docs/vendors.md). Trusting a vendor key and importing an entitlement are
// commercial terms, so only cluster-wide tokens do them (clusterOnly); an
// account's administrators read their entitlements, denials and reports.
func (a *api) registerVendors(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/vendors", a.listVendors)
	auth("POST /v1/vendors", a.trustVendor)
	auth("DELETE /v1/vendors/{kid}", a.untrustVendor)
	auth("POST /v1/accounts/{account}/entitlements", a.importEntitlement)
	auth("GET /v1/accounts/{account}/entitlements", a.listEntitlements)
	auth("GET /v1/accounts/{account}/entitlements/{serial}", a.getEntitlement)
	auth("GET /v1/accounts/{account}/denials", a.denials)
	auth("GET /v1/accounts/{account}/report", a.trueUpReport)
}

func (a *api) listVendors(w http.ResponseWriter, r *http.Request) error {
	out := []wire.VendorView{}
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, k := range st.VendorKeys() {
			p, _ := entitlement.MarshalPublicKey(k.PublicKey)
			out = append(out, wire.VendorView{KeyID: k.KeyID, Name: k.Name, PublicKey: string(p), Added: k.Added})
		}
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) trustVendor(w http.ResponseWriter, r *http.Request) error {
	var req wire.TrustVendorRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	pub, err := entitlement.ParsePublicKey([]byte(req.PublicKey))
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "public_key: %v", err)
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdTrustVendor, Payload: &ledger.TrustVendor{Name: strings.TrimSpace(req.Name), PublicKey: pub}}); err != nil {
		return err
	}
	kid := entitlement.KeyID(pub)
	a.log.Info("vendor key trusted", "kid", kid, "vendor", req.Name, "by", caller(r))
	writeJSON(w, http.StatusOK, wire.VendorView{KeyID: kid, Name: req.Name, PublicKey: req.PublicKey, Added: a.now()})
	return nil
}

func (a *api) untrustVendor(w http.ResponseWriter, r *http.Request) error {
	kid := r.PathValue("kid")
	var key ledger.VendorKey
	var found bool
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, k := range st.VendorKeys() {
			if k.KeyID == kid {
				key, found = k, true
			}
		}
	})
	if !found {
		return protocol.Errorf(protocol.CodeNotFound, "vendor key %s is not trusted", kid)
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdTrustVendor, Payload: &ledger.TrustVendor{Name: key.Name, PublicKey: key.PublicKey, Remove: true}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) importEntitlement(w http.ResponseWriter, r *http.Request) error {
	var req wire.ImportEntitlementRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	jws := strings.TrimSpace(req.Entitlement)
	// The CA binding is checked here, not in Apply: the ledger does not hold
	// the CA certificate, and every node has the same one.
	e, err := entitlement.ParseUnverified(jws)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if b := e.Cluster; b != nil && b.CASHA256 != "" && a.cfg.Cluster.CA != nil {
		if fp := entitlement.CAFingerprint(a.cfg.Cluster.CA.Cert); fp != b.CASHA256 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "entitlement %s is bound to the cluster CA %s; this cluster's CA is %s", e.Serial, b.CASHA256, fp)
		}
	}
	account := r.PathValue("account")
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdImportEntitlement, Payload: &ledger.ImportEntitlement{Account: account, JWS: jws}}); err != nil {
		return err
	}
	a.log.Info("entitlement imported", "account", account, "serial", e.Serial, "by", caller(r))
	v, err := a.entitlementView(account, e.Serial)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func entitlementView(e ledger.AccountEntitlement, now time.Time) wire.EntitlementView {
	v := wire.EntitlementView{Account: e.Account, Serial: e.Serial, Digest: e.Digest, Vendor: e.Vendor, VendorKey: e.VendorKey,
		Customer: e.Customer, Supersedes: e.Supersedes, Model: e.Model, NotBefore: e.NotBefore, Expires: e.Expires, Imported: e.Imported}
	for _, f := range e.Features {
		v.Features = append(v.Features, wire.EntitlementFeature{Name: f.Name, Seats: f.Seats, Overage: f.Overage, AddOns: f.AddOns})
	}
	switch {
	case now.Before(e.NotBefore):
		v.State = "starts " + e.NotBefore.UTC().Format(time.RFC3339)
	case !now.Before(e.Expires):
		v.State = "ended " + e.Expires.UTC().Format(time.RFC3339)
	default:
		v.Valid, v.State = true, "valid until "+e.Expires.UTC().Format(time.RFC3339)
	}
	return v
}

func (a *api) entitlementView(account, serial string) (wire.EntitlementView, error) {
	var out wire.EntitlementView
	var found, known bool
	now := a.now()
	a.cfg.Store.Read(func(st *ledger.State) {
		_, known = st.Account(account)
		for _, e := range st.Entitlements(account) {
			if e.Serial == serial {
				out, found = entitlementView(e, now), true
				out.JWS = e.JWS
			}
		}
	})
	switch {
	case !known:
		return out, protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	case !found:
		return out, protocol.Errorf(protocol.CodeNotFound, "account %s has no entitlement %q", account, serial)
	}
	return out, nil
}

func (a *api) listEntitlements(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	out := []wire.EntitlementView{}
	var known bool
	now := a.now()
	a.cfg.Store.Read(func(st *ledger.State) {
		_, known = st.Account(account)
		for _, e := range st.Entitlements(account) {
			out = append(out, entitlementView(e, now))
		}
	})
	if !known {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) getEntitlement(w http.ResponseWriter, r *http.Request) error {
	v, err := a.entitlementView(r.PathValue("account"), r.PathValue("serial"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// dayRange reads from= and to= as dates (YYYY-MM-DD).
func dayRange(r *http.Request) (from, to string, err error) {
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		out  *string
	}{{"from", &from}, {"to", &to}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseTime(p.name, v)
		if err != nil {
			return "", "", err
		}
		*p.out = t.UTC().Format(time.DateOnly)
	}
	return from, to, nil
}

func (a *api) denials(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	from, to, err := dayRange(r)
	if err != nil {
		return err
	}
	out := wire.DenialsView{Account: account, From: from, To: to, Denials: []wire.DenialView{}}
	var known bool
	a.cfg.Store.Read(func(st *ledger.State) {
		_, known = st.Account(account)
		for _, d := range st.Denials(account, from, to) {
			out.Denials = append(out.Denials, wire.DenialView{Day: d.Day, Feature: d.Feature, Team: d.Team, Code: string(d.Code), Count: d.Count})
			out.Total += d.Count
		}
	})
	if !known {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// trueUpReport answers with the account's usage per entitlement and feature
// over [from, to) (default: the last 30 days), signed by this node's
// lease-signing key when signed=true.
func (a *api) trueUpReport(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	q := r.URL.Query()
	now := a.now()
	from, err := parseTime("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseTime("to", q.Get("to"))
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -30)
	}
	if !to.After(from) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	var rep entitlement.Report
	var known bool
	a.cfg.Store.Read(func(st *ledger.State) {
		_, known = st.Account(account)
		if known {
			rep = st.TrueUp(account, from, to)
		}
	})
	if !known {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	rep.Generated = now
	if q.Get("signed") != "true" {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	if a.cfg.SignReport == nil {
		return protocol.Errorf(protocol.CodeUnavailable, "this node cannot sign reports")
	}
	jws, err := a.cfg.SignReport(rep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.SignedReport{Report: jws})
	return nil
}
