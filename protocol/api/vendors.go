package api

import "time"

// Vendor entitlements on the admin API (docs/vendors.md).

// TrustVendorRequest is POST /v1/vendors: PublicKey is the vendor's PEM
// "PUBLIC KEY" (tally-vendor keygen's .pub file).
type TrustVendorRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// VendorView is one trusted vendor key.
type VendorView struct {
	KeyID     string    `json:"kid"`
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"`
	Added     time.Time `json:"added"`
}

// ImportEntitlementRequest is POST /v1/accounts/{account}/entitlements.
type ImportEntitlementRequest struct {
	// Entitlement is the compact JWS the vendor sent.
	Entitlement string `json:"entitlement"`
}

// EntitlementFeature is one feature of an entitlement.
type EntitlementFeature struct {
	Name    string   `json:"name"`
	Seats   int      `json:"seats"`
	Overage int      `json:"overage,omitempty"`
	AddOns  []string `json:"addons,omitempty"`
}

// EntitlementView is an imported entitlement.
type EntitlementView struct {
	Account    string               `json:"account"`
	Serial     string               `json:"serial"`
	Digest     string               `json:"digest"`
	Vendor     string               `json:"vendor"`
	VendorKey  string               `json:"vendor_kid"`
	Customer   string               `json:"customer"`
	Supersedes string               `json:"supersedes,omitempty"`
	Model      string               `json:"model,omitempty"`
	Features   []EntitlementFeature `json:"features"`
	NotBefore  time.Time            `json:"not_before"`
	Expires    time.Time            `json:"expires"`
	Imported   time.Time            `json:"imported"`
	// Valid says whether it covers grants now; State says why not.
	Valid bool   `json:"valid"`
	State string `json:"state"`
	// JWS is the entitlement as signed (GET …/entitlements/{serial} only).
	JWS string `json:"jws,omitempty"`
}

// DenialView is one count of refused checkouts: GET /v1/accounts/{account}/denials.
type DenialView struct {
	Day     string `json:"day"`
	Feature string `json:"feature"`
	Team    string `json:"team,omitempty"`
	Code    string `json:"code"`
	Count   int    `json:"count"`
}

// DenialsView answers GET /v1/accounts/{account}/denials.
type DenialsView struct {
	Account string       `json:"account"`
	From    string       `json:"from,omitempty"`
	To      string       `json:"to,omitempty"`
	Denials []DenialView `json:"denials"`
	Total   int          `json:"total"`
}

// SignedReport answers GET /v1/accounts/{account}/report?signed=true: the
// compact JWS a vendor checks with tally-vendor verify-report.
type SignedReport struct {
	Report string `json:"report"`
}

// OfflineGrantRequest is POST /v1/accounts/{account}/offline/grant: the
// signed request file an air-gapped agent wrote (tally-agent offline request).
type OfflineGrantRequest struct {
	Request string `json:"request"`
}

// OfflineReturnRequest is POST /v1/accounts/{account}/offline/return.
type OfflineReturnRequest struct {
	Return string `json:"return"`
}

// OfflineEnrollRequest is POST /v1/accounts/{account}/offline/enroll.
type OfflineEnrollRequest struct {
	Request string `json:"request"`
}
