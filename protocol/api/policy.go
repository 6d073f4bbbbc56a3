package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// PolicyRequest replaces the policy of an account or a pool. SubscriptionEnd
// (account only) moves the account's end date; ClearSubscriptionEnd removes it.
type PolicyRequest struct {
	Policy               Policy    `json:"policy"`
	SubscriptionEnd      time.Time `json:"subscription_end,omitempty"`
	ClearSubscriptionEnd bool      `json:"clear_subscription_end,omitempty"`
}

// PolicyView is a scope's stored policy and the effective one after
// inheritance and defaults.
type PolicyView struct {
	Account         string    `json:"account"`
	Feature         string    `json:"feature,omitempty"`
	Stored          Policy    `json:"stored"`
	Effective       Policy    `json:"effective"`
	SubscriptionEnd time.Time `json:"subscription_end,omitempty"`
	// Pool state of the seat cap (pool scope only).
	Seats     int       `json:"seats,omitempty"`
	OverSince time.Time `json:"over_since,omitempty"`
}

// DeviceOpRequest moves a device's node-locked seats to another device (To
// set) or frees them (To empty).
type DeviceOpRequest struct {
	Feature string `json:"feature,omitempty"`
	To      string `json:"to,omitempty"`
}

// EventsView is the administrator events recorded in the ledger and the
// reminders due now (which the notifier, daemon/notify, mails).
type EventsView struct {
	Events  []ledger.Event `json:"events"`
	Pending []ledger.Event `json:"pending_reminders"`
}
