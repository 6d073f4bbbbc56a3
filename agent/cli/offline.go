package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/offline"
)

// newOfflineCommand is `tally-agent offline …`: leases and enrollment by
// file for a device with no network path to any node.
func newOfflineCommand(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "offline",
		Short: "Air-gapped devices: enroll, take and give back leases by files an administrator carries",
		Long: `For a device that cannot reach any tallyd node. Each step writes a file to carry to a
machine that reaches the cluster, or installs the file brought back:

  tally-agent offline enroll-request > enroll-req.json        # the agent runs with --enroll-token
  tallyctl offline enroll ACCOUNT enroll-req.json > enroll.json
  tally-agent offline enroll-install enroll.json

  tally-agent offline request cad --borrow 30d > req.jws
  tallyctl offline grant req.jws > lease.json
  tally-agent offline install lease.json                     # checkouts of cad now get this lease
  tally-agent offline return cad > return.jws                # stops using it at once
  tallyctl offline return return.jws                         # the seat comes back now, not at the lease's end`,
	}
	readFile := func(name string) ([]byte, error) {
		if name == "-" {
			return io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		}
		return os.ReadFile(name)
	}
	var token string
	enrollReq := &cobra.Command{
		Use:   "enroll-request",
		Short: "Print an enrollment request file for this device (not yet enrolled)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sdk.New(g.socketPath()).OfflineEnrollRequest(cmd.Context(), token)
			if err != nil {
				return report(cmd, false, err)
			}
			return printJSON(cmd.OutOrStdout(), r)
		},
	}
	enrollReq.Flags().StringVar(&token, "enroll-token", os.Getenv(EnrollTokenEnv), "enrollment token (default: the agent's own, or $"+EnrollTokenEnv+")")
	enrollInstall := &cobra.Command{
		Use:   "enroll-install FILE",
		Short: "Install the enrollment file from tallyctl offline enroll",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readFile(args[0])
			if err != nil {
				return report(cmd, false, err)
			}
			var resp protocol.EnrollResponse
			if err := json.Unmarshal(b, &resp); err != nil {
				return report(cmd, false, protocol.Errorf(protocol.CodeBadRequest, "%s is not an enrollment file: %v", args[0], err))
			}
			if err := sdk.New(g.socketPath()).OfflineEnrollInstall(cmd.Context(), resp); err != nil {
				return report(cmd, false, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s enrolled in %s\n", resp.DeviceCode, resp.Account)
			return nil
		},
	}
	var borrow string
	request := &cobra.Command{
		Use:   "request FEATURE --borrow DURATION",
		Short: "Print a signed request for a lease this device keeps offline (e.g. --borrow 30d)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDays(borrow)
			if err != nil {
				return report(cmd, false, protocol.Errorf(protocol.CodeBadRequest, "--borrow: %v", err))
			}
			f, err := sdk.New(g.socketPath()).OfflineRequest(cmd.Context(), args[0], d)
			if err != nil {
				return report(cmd, false, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), f)
			return nil
		},
	}
	request.Flags().StringVar(&borrow, "borrow", "", "how long the device keeps the lease: 30d, 12h, … (within the pool's borrow limit)")
	install := &cobra.Command{
		Use:   "install FILE",
		Short: "Install a lease file from tallyctl offline grant; checkouts get it until it ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readFile(args[0])
			if err != nil {
				return report(cmd, false, err)
			}
			var f offline.LeaseFile
			if err := json.Unmarshal(b, &f); err != nil {
				return report(cmd, false, protocol.Errorf(protocol.CodeBadRequest, "%s is not a lease file: %v", args[0], err))
			}
			l, err := sdk.New(g.socketPath()).OfflineInstall(cmd.Context(), f)
			if err != nil {
				return report(cmd, false, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lease %d on %s installed, valid until %s\n", l.ID, l.Feature, l.Expires.Format(time.RFC3339))
			return nil
		},
	}
	ret := &cobra.Command{
		Use:   "return FEATURE",
		Short: "Stop using the offline lease on FEATURE and print the signed return file for tallyctl offline return",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := sdk.New(g.socketPath()).OfflineReturn(cmd.Context(), args[0])
			if err != nil {
				return report(cmd, false, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), f)
			return nil
		},
	}
	c.AddCommand(enrollReq, enrollInstall, request, install, ret)
	return c
}

// parseDays reads a Go duration or a number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("a duration is required (e.g. 30d or 12h)")
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 {
			return 0, fmt.Errorf("%q is not a whole number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is neither a number of days (30d) nor a duration (12h)", s)
	}
	return d, nil
}
