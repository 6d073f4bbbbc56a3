package adminapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// MaxImportBytes bounds an import request: a 10,000-row import is about
// 1 MB of JSON, so this leaves room for ten times that.
const MaxImportBytes = 32 << 20

func (a *api) registerLicenses(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/products", a.listProducts)
	auth("PUT /v1/accounts/{account}/products/{code}", a.setProduct)
	auth("GET /v1/accounts/{account}/licenses", a.listLicenses)
	auth("POST /v1/accounts/{account}/licenses/assign", a.assignLicense)
	auth("GET /v1/licenses/{id}", a.getLicense)
	auth("POST /v1/licenses/{id}/unassign", a.licenseOp(ledger.CmdUnassignLicense))
	auth("POST /v1/licenses/{id}/reassign", a.licenseOp(ledger.CmdReassignLicense))
	auth("POST /v1/licenses/{id}/addons", a.licenseOp(ledger.CmdAttachAddOn))
	auth("DELETE /v1/licenses/{id}/addons/{code}", a.licenseOp(ledger.CmdDetachAddOn))
	auth("PUT /v1/licenses/{id}/extension", a.licenseOp(ledger.CmdSetExtension))
	auth("POST /v1/licenses/{id}/terminate", a.licenseOp(ledger.CmdTerminateLicense))
	auth("GET /v1/accounts/{account}/assignments", a.exportAssignments)
	auth("POST /v1/accounts/{account}/assignments/import", a.importAssignments)
	auth("POST /v1/accounts/{account}/assignments/import.csv", a.importCSV)
}

// newSeed is the randomness license UUIDs are derived from; it is drawn
// here, before proposing, because Apply may not draw any.
func newSeed() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", protocol.Errorf(protocol.CodeInternal, "draw a seed for license IDs: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (a *api) knownAccount(account string) error {
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { _, ok = st.Account(account) })
	if !ok {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	return nil
}

func (a *api) listProducts(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	if err := a.knownAccount(account); err != nil {
		return err
	}
	var out []ledger.ProductUsage
	a.cfg.Store.Read(func(st *ledger.State) { out = st.ProductUsage(account) })
	if out == nil {
		out = []ledger.ProductUsage{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) setProduct(w http.ResponseWriter, r *http.Request) error {
	var req SetProductRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	seed, err := newSeed()
	if err != nil {
		return err
	}
	account, code := r.PathValue("account"), r.PathValue("code")
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdSetProduct, Payload: &ledger.SetProduct{
		Account: account, Code: code, Name: req.Name, Kind: req.Kind, Feature: req.Feature, Extension: req.Extension,
		Quantity: req.Quantity, Seed: seed,
	}}); err != nil {
		return err
	}
	a.log.Info("product quantity set", "account", account, "product", code, "quantity", req.Quantity, "by", caller(r))
	var out ledger.ProductUsage
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, p := range st.ProductUsage(account) {
			if p.Code == code {
				out = p
			}
		}
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) listLicenses(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	if err := a.knownAccount(account); err != nil {
		return err
	}
	q := r.URL.Query()
	f := ledger.LicenseFilter{Product: q.Get("type"), User: q.Get("user"), Ext: q.Get("ext"), Status: q.Get("status")}
	switch f.Status {
	case "", "assigned", "free":
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "status %q: want assigned or free", f.Status)
	}
	var out []ledger.LicenseView
	a.cfg.Store.Read(func(st *ledger.State) { out = st.Licenses(account, f) })
	if out == nil {
		out = []ledger.LicenseView{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) getLicense(w http.ResponseWriter, r *http.Request) error {
	var v ledger.LicenseView
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { v, ok = st.License(r.PathValue("id")) })
	if !ok {
		return protocol.Errorf(protocol.CodeNotFound, "no license %s", r.PathValue("id"))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) assignLicense(w http.ResponseWriter, r *http.Request) error {
	var req AssignRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	account := r.PathValue("account")
	res, err := a.apply(r, ledger.Command{Type: ledger.CmdAssignLicense, Payload: &ledger.AssignLicense{
		Account: account, Product: req.Product, User: req.User, LicenseID: req.LicenseID,
		ExtKey: req.ExtKey, Number: req.Number, AddOns: req.AddOns,
	}})
	if err != nil {
		return err
	}
	a.log.Info("license assigned", "account", account, "license", res.License.ID, "product", res.License.Product, "user", res.License.User, "by", caller(r))
	writeJSON(w, http.StatusOK, res.License)
	return nil
}

// licenseOp serves the operations addressed by license UUID alone; the
// account is the license's own.
func (a *api) licenseOp(op ledger.CommandType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req LicenseChangeRequest
		if r.ContentLength != 0 && r.Method != http.MethodDelete {
			if err := decode(r, &req); err != nil {
				return err
			}
		}
		id := r.PathValue("id")
		var v ledger.LicenseView
		var ok bool
		a.cfg.Store.Read(func(st *ledger.State) { v, ok = st.License(id) })
		if !ok {
			return protocol.Errorf(protocol.CodeNotFound, "no license %s", id)
		}
		if op == ledger.CmdDetachAddOn {
			req.AddOn = r.PathValue("code")
		}
		res, err := a.apply(r, licenseCommand(op, v.Account, id, req))
		if err != nil {
			return err
		}
		a.log.Info("license changed", "op", op, "account", v.Account, "license", id, "product", v.Product, "by", caller(r))
		writeJSON(w, http.StatusOK, res.License)
		return nil
	}
}

// licenseCommand is the ledger command of license operation op on license
// id of account.
func licenseCommand(op ledger.CommandType, account, id string, req LicenseChangeRequest) ledger.Command {
	var p any
	switch op {
	case ledger.CmdUnassignLicense:
		p = &ledger.UnassignLicense{Account: account, LicenseID: id}
	case ledger.CmdReassignLicense:
		p = &ledger.ReassignLicense{Account: account, LicenseID: id, User: req.User}
	case ledger.CmdAttachAddOn:
		p = &ledger.AttachAddOn{Account: account, LicenseID: id, AddOn: req.AddOn}
	case ledger.CmdDetachAddOn:
		p = &ledger.DetachAddOn{Account: account, LicenseID: id, AddOn: req.AddOn}
	case ledger.CmdSetExtension:
		p = &ledger.SetExtension{Account: account, LicenseID: id, ExtKey: req.ExtKey, Number: req.Number}
	case ledger.CmdTerminateLicense:
		// The confirmed form: a license someone holds needs force.
		return ledger.Command{Type: ledger.CmdTerminateLicenseConfirmed, Payload: &ledger.TerminateLicenseConfirmed{Account: account, LicenseID: id, Force: req.Force}}
	}
	return ledger.Command{Type: op, Payload: p}
}

// importProduct picks the base product an import or export is about.
func importProduct(st *ledger.State, account, product string) (string, error) {
	if product != "" {
		return product, nil
	}
	var ext, base []string
	for _, p := range st.Products(account) {
		if p.Kind != ledger.ProductBase {
			continue
		}
		base = append(base, p.Code)
		if p.Extension {
			ext = append(ext, p.Code)
		}
	}
	switch {
	case len(ext) == 1:
		return ext[0], nil
	case len(ext) == 0 && len(base) == 1:
		return base[0], nil
	case len(base) == 0:
		return "", protocol.Errorf(protocol.CodeNotFound, "account %s has no base license products; add one with tallyctl products set", account)
	}
	return "", protocol.Errorf(protocol.CodeInvalidArgument, "account %s has several base products (%v); name one with --product", account, base)
}

func (a *api) exportAssignments(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	if err := a.knownAccount(account); err != nil {
		return err
	}
	var out ExportResponse
	var err error
	a.cfg.Store.Read(func(st *ledger.State) {
		out.Account = account
		if out.Product, err = importProduct(st, account, r.URL.Query().Get("product")); err == nil {
			out.Rows = st.Assignments(account, out.Product)
		}
	})
	if err != nil {
		return err
	}
	if out.Rows == nil {
		out.Rows = []ledger.AssignmentRow{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// importAssignments validates an import against this node's ledger and, if
// it is clean and not a dry run, proposes it as one command, which the
// ledger validates again when it applies it. Row errors come back as a
// report with applied=false, not as an HTTP error, so that every bad row
// reaches the administrator.
func (a *api) importAssignments(w http.ResponseWriter, r *http.Request) error {
	var req ImportRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxImportBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "malformed import (at most %d MB): %v", MaxImportBytes>>20, err)
	}
	return a.runImport(w, r, req)
}

// planImport resolves the product and validates an import without changing
// anything.
func (a *api) planImport(r *http.Request, imp *ledger.ImportAssignments, product string) (ledger.ImportReport, error) {
	var rep ledger.ImportReport
	var err error
	a.cfg.Store.Read(func(st *ledger.State) {
		if imp.Product, err = importProduct(st, imp.Account, product); err != nil {
			return
		}
		var perr *protocol.Error
		if rep, perr = st.PlanImport(imp); perr != nil {
			err = perr
		}
	})
	return rep, err
}

// runImport validates an import and, unless it is a dry run or a row is
// bad, applies it as one ledger command.
func (a *api) runImport(w http.ResponseWriter, r *http.Request, req ImportRequest) error {
	account := r.PathValue("account")
	imp := &ledger.ImportAssignments{Account: account, Rows: req.Rows}
	rep, err := a.planImport(r, imp, req.Product)
	if err != nil {
		return err
	}
	if req.DryRun || len(rep.Errors) > 0 {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	res, err := a.cfg.Propose(r.Context(), ledger.Command{Type: ledger.CmdImportAssignments, Actor: caller(r), Payload: imp})
	if err != nil {
		return err
	}
	if res.Import != nil {
		rep = *res.Import
	} else if res.Error != nil {
		return res.Error
	}
	if rep.Applied {
		a.log.Info("assignments imported", "account", account, "product", imp.Product, "rows", rep.Rows, "created", rep.Created, "updated", rep.Updated, "by", caller(r))
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
