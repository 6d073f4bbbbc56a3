package ctl

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/protocol/api"
)

// offlineCmd: leases and enrollment by file for air-gapped devices
// (docs/agents.md#air-gapped-devices).
func (a *app) offlineCmd() *cobra.Command {
	c := &cobra.Command{Use: "offline", Short: "Air-gapped devices: grant and take back leases, and enroll, by signed files"}
	var account string
	read := func(name string) (string, error) {
		var b []byte
		var err error
		if name == "-" {
			b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			b, err = os.ReadFile(name)
		}
		return strings.TrimSpace(string(b)), err
	}
	// accountOf is the account a signed device file names (the server
	// checks it against the device certificate that signed it).
	accountOf := func(jws string) (string, error) {
		if account != "" {
			return account, nil
		}
		parts := strings.Split(jws, ".")
		if len(parts) != 3 {
			return "", errors.New("not a signed device file (want a compact JWS from tally-agent offline)")
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return "", fmt.Errorf("not a signed device file: %w", err)
		}
		var p struct {
			Account string `json:"account"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Account == "" {
			return "", errors.New("the file names no account; pass --account")
		}
		return p.Account, nil
	}
	grant := &cobra.Command{
		Use:   "grant REQUEST-FILE",
		Short: "Turn a device's signed request (tally-agent offline request) into a lease file for it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := read(args[0])
			if err != nil {
				return err
			}
			acct, err := accountOf(req)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := a.call(http.MethodPost, acctPath(acct, "offline", "grant"), api.OfflineGrantRequest{Request: req}, &out); err != nil {
				return codeErr(err)
			}
			_, err = fmt.Fprintln(a.out, string(out))
			return err
		},
	}
	ret := &cobra.Command{
		Use:   "return RETURN-FILE",
		Short: "Give an air-gapped device's lease back from its signed return file: the seat is free at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := read(args[0])
			if err != nil {
				return err
			}
			acct, err := accountOf(f)
			if err != nil {
				return err
			}
			var out map[string]any
			return a.show(http.MethodPost, acctPath(acct, "offline", "return"), api.OfflineReturnRequest{Return: f}, &out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "lease %v of device %v returned\n", out["returned"], out["device"])
				return err
			})
		},
	}
	enroll := &cobra.Command{
		Use:   "enroll ACCOUNT REQUEST-FILE",
		Short: "Enroll a device from its request file (tally-agent offline enroll-request); prints the file to install",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := read(args[1])
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := a.call(http.MethodPost, acctPath(args[0], "offline", "enroll"), api.OfflineEnrollRequest{Request: req}, &out); err != nil {
				return codeErr(err)
			}
			_, err = fmt.Fprintln(a.out, string(out))
			return err
		},
	}
	for _, x := range []*cobra.Command{grant, ret} {
		x.Flags().StringVar(&account, "account", "", "the account (default: the one the file names)")
	}
	c.AddCommand(grant, ret, enroll)
	return c
}
