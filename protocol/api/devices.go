package api

import (
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// SignOutRequest names the device to sign the member out of; empty signs
// them out of every device.
type SignOutRequest struct {
	Device string `json:"device,omitempty"`
}

// DeviceView is an enrolled device with the members signed in on it, when
// it last heartbeated and the agent version it reported.
type DeviceView struct {
	ledger.Device
	SignedIn []DeviceMember `json:"signed_in"`
}

// DeviceMember is one member signed in on a device.
type DeviceMember struct {
	Email  string    `json:"email"`
	OSUser string    `json:"os_user,omitempty"`
	Since  time.Time `json:"since"`
}

// ApproveDeviceRequest approves a browser-approved sign-in: the member
// proves themselves with their password here, on their own browser, so that
// it is never typed on the shared machine that shows the code.
type ApproveDeviceRequest struct {
	Account  string `json:"account"`
	UserCode string `json:"user_code"`
	Email    string `json:"email"`
	Password string `json:"password"`
}
