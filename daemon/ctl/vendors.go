package ctl

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/api"
)

// vendorsCmd: the vendor keys the cluster trusts (cluster administrators).
func (a *app) vendorsCmd() *cobra.Command {
	c := &cobra.Command{Use: "vendors", Short: "Vendor public keys whose entitlements this cluster accepts"}
	c.AddCommand(&cobra.Command{
		Use:   "trust NAME VENDOR.pub",
		Short: "Trust a vendor's public key (from tally-vendor keygen)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			var v api.VendorView
			return a.show(http.MethodPost, "/v1/vendors", api.TrustVendorRequest{Name: args[0], PublicKey: string(pub)}, &v, func(out io.Writer) error {
				fmt.Fprintf(out, "trusting vendor %s, key %s\n", v.Name, v.KeyID)
				return nil
			})
		},
	}, listCmd(a, list[api.VendorView]{
		use:    "list",
		short:  "List the trusted vendor keys",
		path:   func([]string) string { return "/v1/vendors" },
		header: "KID\tVENDOR\tADDED",
		row: func(v api.VendorView) string {
			return fmt.Sprintf("%s\t%s\t%s", v.KeyID, v.Name, v.Added.Local().Format("2006-01-02 15:04"))
		},
		empty: "no vendor key is trusted",
	}), &cobra.Command{
		Use:   "remove KID",
		Short: "Stop trusting a vendor key (imported entitlements stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.done(http.MethodDelete, "/v1/vendors/"+url.PathEscape(args[0]), nil,
				map[string]string{"untrusted": args[0]}, "vendor key "+args[0]+" is no longer trusted")
		},
	})
	return c
}

// entitlementsCmd: an account's vendor-signed entitlements.
func (a *app) entitlementsCmd() *cobra.Command {
	c := &cobra.Command{Use: "entitlements", Short: "Vendor-signed entitlements: what an account may hand out"}
	c.AddCommand(&cobra.Command{
		Use:   "import ACCOUNT FILE",
		Short: "Import an entitlement file from the vendor (its pools follow it)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			var v api.EntitlementView
			return a.show(http.MethodPost, acctPath(args[0], "entitlements"), api.ImportEntitlementRequest{Entitlement: strings.TrimSpace(string(b))}, &v, func(out io.Writer) error {
				fmt.Fprintf(out, "imported entitlement %s from %s for %s (%s)\n", v.Serial, v.Vendor, v.Customer, v.State)
				return printEntitlementFeatures(out, v)
			})
		},
	}, listCmd(a, list[api.EntitlementView]{
		use:    "list ACCOUNT",
		short:  "List an account's entitlements",
		path:   func(args []string) string { return acctPath(args[0], "entitlements") },
		header: "SERIAL\tVENDOR\tCUSTOMER\tFEATURES\tSTATE",
		row: func(v api.EntitlementView) string {
			var fs []string
			for _, f := range v.Features {
				fs = append(fs, fmt.Sprintf("%s=%d", f.Name, f.Seats))
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", v.Serial, v.Vendor, v.Customer, strings.Join(fs, ","), v.State)
		},
		empty: "no entitlements: the account is not vendor-managed",
	}), &cobra.Command{
		Use:   "show ACCOUNT SERIAL",
		Short: "Show one entitlement",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.EntitlementView
			return a.show(http.MethodGet, acctPath(args[0], "entitlements", args[1]), nil, &v, func(out io.Writer) error {
				fmt.Fprintf(out, "Entitlement %s (%s)\n  vendor:   %s (key %s)\n  customer: %s\n  valid:    %s to %s\n  digest:   %s\n", v.Serial, v.State, v.Vendor, v.VendorKey, v.Customer, v.NotBefore.Format(time.RFC3339), v.Expires.Format(time.RFC3339), v.Digest)
				if v.Supersedes != "" {
					fmt.Fprintf(out, "  replaces: %s\n", v.Supersedes)
				}
				return printEntitlementFeatures(out, v)
			})
		},
	})
	return c
}

func printEntitlementFeatures(out io.Writer, v api.EntitlementView) error {
	var rows []string
	for _, f := range v.Features {
		rows = append(rows, fmt.Sprintf("  %s\t%d\t%d\t%s", f.Name, f.Seats, f.Overage, orDash(strings.Join(f.AddOns, ","))))
	}
	return printer{out: out}.table("  FEATURE\tSEATS\tOVERAGE\tADD-ONS", rows, "")
}

// signedReport fetches a true-up report signed by the cluster.
func (a *app) signedReport(account, from, to, outFile string) error {
	if account == "" {
		return errors.New("report usage --signed needs --account: a true-up report is per account")
	}
	q := url.Values{"signed": {"true"}}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	var rep api.SignedReport
	if err := a.call(http.MethodGet, acctPath(account, "report")+"?"+q.Encode(), nil, &rep); err != nil {
		return codeErr(err)
	}
	if outFile == "" {
		_, err := fmt.Fprintln(a.out, rep.Report)
		return err
	}
	if err := certs.WriteFileAtomic(outFile, []byte(rep.Report+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "wrote %s: send it to the vendor (tally-vendor verify-report checks it)\n", outFile)
	return nil
}

func (a *app) denialsReportCmd() *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "denials ACCOUNT",
		Short: "Refused checkouts per day, feature, team and reason: the seats people needed and did not get",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if from != "" {
				q.Set("from", from)
			}
			if to != "" {
				q.Set("to", to)
			}
			var v api.DenialsView
			return a.show(http.MethodGet, acctPath(args[0], "denials")+"?"+q.Encode(), nil, &v, func(out io.Writer) error {
				rows := make([]string, 0, len(v.Denials)+1)
				for _, d := range v.Denials {
					rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d", d.Day, d.Feature, orDash(d.Team), d.Code, d.Count))
				}
				rows = append(rows, fmt.Sprintf("total\t\t\t\t%d", v.Total))
				return printer{out: out}.table("DAY\tFEATURE\tTEAM\tREASON\tREFUSED", rows, "")
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD)")
	c.Flags().StringVar(&to, "to", "", "last day (YYYY-MM-DD)")
	return c
}
