package api

import "github.com/tally-licensing/tally/cluster/ledger"

// SetProductRequest is PUT /v1/accounts/{account}/products/{code}.
type SetProductRequest struct {
	Name      string             `json:"name,omitempty"`
	Kind      ledger.ProductKind `json:"kind,omitempty"`
	Feature   string             `json:"feature,omitempty"`
	Extension bool               `json:"extension,omitempty"`
	Quantity  int                `json:"quantity"`
}

// AssignRequest is POST /v1/accounts/{account}/licenses/assign.
type AssignRequest struct {
	Product   string   `json:"product"`
	User      string   `json:"user"`
	LicenseID string   `json:"license_id,omitempty"`
	ExtKey    string   `json:"ext_key,omitempty"`
	Number    string   `json:"number,omitempty"`
	AddOns    []string `json:"addons,omitempty"`
}

// LicenseChangeRequest is the body of the per-license operations.
type LicenseChangeRequest struct {
	User   string `json:"user,omitempty"`
	AddOn  string `json:"addon,omitempty"`
	ExtKey string `json:"ext_key,omitempty"`
	Number string `json:"number,omitempty"`
	// Force confirms a terminate of a license someone holds; without it
	// the server refuses with confirmation_required, naming who loses it.
	Force bool `json:"force,omitempty"`
}

// ImportRequest is POST /v1/accounts/{account}/assignments/import. Product
// may be empty when the account has a single base product with extensions
// (or a single base product).
type ImportRequest struct {
	Product string                 `json:"product,omitempty"`
	Rows    []ledger.AssignmentRow `json:"rows"`
	DryRun  bool                   `json:"dry_run,omitempty"`
}

// ExportResponse is GET /v1/accounts/{account}/assignments.
type ExportResponse struct {
	Account string                 `json:"account"`
	Product string                 `json:"product"`
	Rows    []ledger.AssignmentRow `json:"rows"`
}
