package ctl

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/lease"
)

func (a *app) jwksCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "jwks",
		Short: "Fetch the cluster's public lease-signing keys (JWKS) for offline verification",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			if err := a.call(http.MethodGet, "/v1/jwks", nil, &raw); err != nil {
				return codeErr(err)
			}
			if _, err := lease.ParseKeySet(raw); err != nil {
				return fmt.Errorf("the server's JWKS does not parse: %w", err)
			}
			if out == "" {
				_, err := a.out.Write(raw)
				return err
			}
			if err := certs.WriteFileAtomic(out, raw, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "wrote %s\n", out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of stdout")
	return c
}

// VerifyResult is tallyctl verify's --json output.
type VerifyResult struct {
	Valid  bool          `json:"valid"`
	Reason string        `json:"reason,omitempty"`
	Error  string        `json:"error,omitempty"`
	Claims *lease.Claims `json:"claims,omitempty"`
	KeyID  string        `json:"kid,omitempty"`
}

func (a *app) verifyCmd() *cobra.Command {
	var jwksFile, device, feature, issuer string
	var leeway time.Duration
	var at string
	c := &cobra.Command{
		Use:   "verify --jwks FILE TOKEN",
		Short: "Verify a lease token offline against the cluster's JWKS and say why it fails",
		Long: `Verify checks a lease token with nothing but the cluster's public keys:
signature, key ID, issuer, Device Code (aud), feature and time. It needs no
connection to the cluster. TOKEN may be "-" to read it from standard input.
Exit status is 0 for a valid token and 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jwksFile == "" {
				return &ExitError{Code: 2, Err: errors.New("--jwks FILE is required (tallyctl jwks -o jwks.json fetches it)")}
			}
			raw, err := os.ReadFile(jwksFile)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("read JWKS: %w", err)}
			}
			ks, err := lease.ParseKeySet(raw)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("JWKS %s: %w", jwksFile, err)}
			}
			token := args[0]
			if token == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return err
				}
				token = string(b)
			}
			token = strings.TrimSpace(token)
			now := time.Now()
			if at != "" {
				if now, err = parseDate(at); err != nil {
					return &ExitError{Code: 2, Err: err}
				}
			}
			claims, verr := ks.Verify(token, lease.Expect{Issuer: issuer, Device: device, Feature: feature, Now: now, Leeway: leeway})
			res := VerifyResult{Valid: verr == nil, Claims: claims}
			if _, kid, err := lease.ParseUnverified(token); err == nil {
				res.KeyID = kid
			}
			if verr != nil {
				res.Reason = string(lease.ReasonOf(verr))
				res.Error = verr.Error()
				var ve *lease.VerifyError
				if errors.As(verr, &ve) && ve.Claims != nil {
					res.Claims = ve.Claims
				}
			}
			if a.opts.json {
				if err := a.printer().writeJSON(res); err != nil {
					return err
				}
				if verr != nil {
					return &ExitError{Code: 1}
				}
				return nil
			}
			if verr != nil {
				return &ExitError{Code: 1, Err: fmt.Errorf("token is NOT valid (%s): %v", res.Reason, verr)}
			}
			w := a.table()
			fmt.Fprintf(w, "valid\tyes (key %s)\n", res.KeyID)
			fmt.Fprintf(w, "issuer\t%s\n", claims.Issuer)
			fmt.Fprintf(w, "account\t%s\n", claims.Account)
			fmt.Fprintf(w, "device\t%s\n", claims.Device)
			fmt.Fprintf(w, "user\t%s\n", orDash(claims.User))
			fmt.Fprintf(w, "feature\t%s\n", claims.Feature)
			if len(claims.AddOns) > 0 {
				fmt.Fprintf(w, "add-ons\t%s\n", strings.Join(claims.AddOns, ", "))
			}
			fmt.Fprintf(w, "lease\t%d (%s)\n", claims.LeaseID, claims.Kind)
			fmt.Fprintf(w, "issued\t%s\n", claims.IssuedAt.Local().Format(time.RFC3339))
			fmt.Fprintf(w, "expires\t%s\n", when(claims.Expires, now))
			return w.Flush()
		},
	}
	c.Flags().StringVar(&jwksFile, "jwks", "", "the cluster's JWKS file")
	c.Flags().StringVar(&device, "device", "", "require this Device Code (aud)")
	c.Flags().StringVar(&feature, "feature", "", "require this feature")
	c.Flags().StringVar(&issuer, "issuer", "", "require this cluster ID (iss)")
	c.Flags().DurationVar(&leeway, "leeway", 0, "clock skew to tolerate on nbf and exp")
	c.Flags().StringVar(&at, "at", "", "verify as of this time instead of now (RFC 3339)")
	return c
}
