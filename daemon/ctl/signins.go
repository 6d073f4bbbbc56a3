package ctl

import (
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol/api"
)

// signOutCmd is `tallyctl users sign-out ACCOUNT EMAIL [--device CODE]`.
func (a *app) signOutCmd() *cobra.Command {
	var device string
	c := &cobra.Command{
		Use:   "sign-out ACCOUNT EMAIL [--device CODE]",
		Short: "Sign a member out of a device (or every device); the leases held under the sign-in are revoked",
		Long: "End the member's sign-ins made with `tally-agent login`. Their leases are revoked: the agent drops the\n" +
			"tokens at its next heartbeat, and each seat comes back when its token's horizon (plus the skew allowance) passes.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var left []ledger.DeviceSignIn
			return a.show(http.MethodPost, acctPath(args[0], "users", args[1], "sign-out"), api.SignOutRequest{Device: device}, &left, func(out io.Writer) error {
				where := "every device"
				if device != "" {
					where = "device " + device
				}
				fmt.Fprintf(out, "%s signed out of %s\n", args[1], where)
				return nil
			})
		},
	}
	c.Flags().StringVar(&device, "device", "", "only this device (Device Code, any case; O and 0, I/L and 1 are the same)")
	return c
}

// signedInSummary is a device's signed-in members for the devices table.
func signedInSummary(d api.DeviceView) string {
	s := ""
	for i, m := range d.SignedIn {
		if i > 0 {
			s += ","
		}
		s += m.Email
	}
	return orDash(s)
}

// seatBasisText says what one seat covers under a policy.
func seatBasisText(basis string, memberDevices int) string {
	switch basis {
	case ledger.BasisMember:
		if memberDevices > 0 {
			return fmt.Sprintf("per member (named user, up to %d devices each)", memberDevices)
		}
		return "per member (named user, any number of devices)"
	case ledger.BasisNodeLocked:
		return "node-locked (the device keeps its seat whoever signs in)"
	}
	return "per device (one seat per device, however many members sign in on it)"
}
