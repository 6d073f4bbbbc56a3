package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// AuditPage is one page of GET /v1/audit.
type AuditPage struct {
	Records []ledger.AuditRecord `json:"records"`
	// Next is the cursor for the following page (pass it as after=).
	Next uint64 `json:"next"`
	More bool   `json:"more"`
}

// UsageReport answers GET /v1/usage-report.
type UsageReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// HistoryFrom is the oldest audit record kept: seat-days before it are
	// only counted for leases still active or ended after it.
	HistoryFrom time.Time             `json:"history_from"`
	Pools       []ledger.PoolSeatDays `json:"pools"`
}

// UsageHistory is an account's daily peak of concurrent leases, for the
// console's chart. Seats is what the account has bought now (all pools),
// drawn as the reference line.
type UsageHistory struct {
	Account     string       `json:"account"`
	Seats       int          `json:"seats"`
	HistoryFrom time.Time    `json:"history_from"`
	Points      []UsagePoint `json:"points"`
}

// UsagePoint is one day of UsageHistory.
type UsagePoint struct {
	Day   string `json:"day"`
	Peak  int    `json:"peak"`
	Seats int    `json:"seats"`
}
