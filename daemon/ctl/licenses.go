package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/assignments"
	"github.com/tally-licensing/tally/protocol/api"
)

func (a *app) productsCmd() *cobra.Command {
	c := &cobra.Command{Use: "products", Short: "An account's catalogue of base licenses and add-ons, with purchased quantities"}
	var req api.SetProductRequest
	var addon bool
	set := &cobra.Command{
		Use:   "set ACCOUNT CODE QUANTITY",
		Short: "Add a product to the catalogue or change how many licenses of it are purchased",
		Long: `Add a product to an account's catalogue or change its purchased quantity.

A base product (the default) is assigned to users: Phone System, Developer…
An add-on (--addon) is attached to an assigned base license: call_recording,
team_chat… Each purchased license gets a UUID. Lowering the quantity removes
unassigned licenses and is refused when too few are unassigned.

A base product's holders check out the pool feature --feature (the product
code by default); their lease tokens carry the codes of the add-ons attached
to their license.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := strconv.Atoi(args[2])
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("quantity %q is not a whole number", args[2])}
			}
			req.Quantity = q
			if addon {
				req.Kind = ledger.ProductAddOn
			}
			var p ledger.ProductUsage
			return a.show(http.MethodPut, acctPath(args[0], "products", args[1]), req, &p, func(out io.Writer) error {
				fmt.Fprintf(out, "%s/%s (%s): %d purchased, %d assigned, %d free\n", p.Account, p.Code, p.Kind, p.Quantity, p.Assigned, p.Free)
				return nil
			})
		},
	}
	set.Flags().StringVar(&req.Name, "name", "", "display name (Phone System)")
	set.Flags().BoolVar(&addon, "addon", false, "the product is an add-on code")
	set.Flags().StringVar(&req.Feature, "feature", "", "pool feature the base license's holders check out (default: the code)")
	set.Flags().BoolVar(&req.Extension, "extension", false, "assignments carry an extension key and a number (DID)")
	list := listCmd(a, list[ledger.ProductUsage]{
		use:    "list ACCOUNT",
		short:  "List an account's products with purchased, assigned and free licenses",
		path:   func(args []string) string { return acctPath(args[0], "products") },
		header: "CODE\tNAME\tKIND\tFEATURE\tEXTENSION\tPURCHASED\tASSIGNED\tFREE",
		row: func(p ledger.ProductUsage) string {
			feat, ext := "-", "-"
			if p.Kind == ledger.ProductBase {
				feat = p.PoolFeature()
				if p.Extension {
					ext = "yes"
				}
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d", p.Code, orDash(p.Name), p.Kind, feat, ext, p.Quantity, p.Assigned, p.Free)
		},
	})
	c.AddCommand(set, list)
	return c
}

func (a *app) licensesCmd() *cobra.Command {
	c := &cobra.Command{Use: "licenses", Short: "Assign, search and terminate named licenses (by UUID)"}
	var account, typ, user, ext, status string
	list := &cobra.Command{
		Use:   "list --account ACCOUNT [--type CODE] [--user EMAIL] [--ext KEY-OR-NUMBER]",
		Short: "Search an account's licenses by license type, user and extension key or number",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			acct, err := a.accountOrOnly(account)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"type": typ, "user": user, "ext": ext, "status": status} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var ls []ledger.LicenseView
			return a.show(http.MethodGet, acctPath(acct, "licenses")+"?"+q.Encode(), nil, &ls, func(out io.Writer) error {
				w := a.table()
				fmt.Fprintln(w, "LICENSE\tTYPE\tKIND\tUSER\tEXT\tNUMBER\tADD-ONS")
				for _, l := range ls {
					u, addons := l.User, strings.Join(l.AddOnCodes, ",")
					if l.Kind == ledger.ProductAddOn {
						u = l.ParentUser
						addons = "on " + orDash(l.Parent)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Product, l.Kind, orDash(u), orDash(l.ExtKey), orDash(l.Number), orDash(addons))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				if len(ls) == 0 {
					fmt.Fprintln(out, "(no licenses)")
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&account, "account", "", "the account (may be left out when there is only one)")
	list.Flags().StringVar(&typ, "type", "", "only this license type (product code)")
	list.Flags().StringVar(&user, "user", "", "only this user's licenses")
	list.Flags().StringVar(&ext, "ext", "", "only the license with this extension key or number")
	list.Flags().StringVar(&status, "status", "", "assigned or free")

	var areq api.AssignRequest
	var assignAccount string
	assign := &cobra.Command{
		Use:   "assign PRODUCT USER",
		Short: "Assign a free base license of PRODUCT to USER, with an extension and add-ons",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			acct, err := a.accountOrOnly(assignAccount)
			if err != nil {
				return err
			}
			areq.Product, areq.User = args[0], args[1]
			var v ledger.LicenseView
			if err := a.call(http.MethodPost, acctPath(acct, "licenses", "assign"), areq, &v); err != nil {
				return codeErr(err)
			}
			return a.printLicense(v, "assigned")
		},
	}
	assign.Flags().StringVar(&assignAccount, "account", "", "the account (may be left out when there is only one)")
	assign.Flags().StringVar(&areq.LicenseID, "license", "", "this license UUID rather than any free one")
	assign.Flags().StringVar(&areq.ExtKey, "ext", "", "extension key (extension-based products)")
	assign.Flags().StringVar(&areq.Number, "number", "", "number (DID), e.g. +15550100101")
	assign.Flags().StringSliceVar(&areq.AddOns, "addon", nil, "add-on code to attach (repeatable)")

	op := func(use, short, verb, method, suffix string, nargs int, body func(args []string) any) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				var v ledger.LicenseView
				var in any
				if body != nil {
					in = body(args)
				}
				path := "/v1/licenses/" + url.PathEscape(args[0]) + suffix
				if method == http.MethodDelete {
					path += "/" + url.PathEscape(args[1])
				}
				if err := a.call(method, path, in, &v); err != nil {
					return codeErr(err)
				}
				return a.printLicense(v, verb)
			},
		}
	}
	var force bool
	terminate := op("terminate UUID", "Terminate a license (base or add-on): it leaves the subscription and its purchased count (--force when someone holds it)", "terminated", http.MethodPost, "/terminate", 1,
		func([]string) any { return api.LicenseChangeRequest{Force: force} })
	terminate.Flags().BoolVar(&force, "force", false, "terminate even though the license is assigned (its user loses it)")
	var number string
	setExt := op("set-extension UUID EXT-KEY", "Change an assigned license's extension key and number", "updated", http.MethodPut, "/extension", 2,
		func(args []string) any {
			return api.LicenseChangeRequest{ExtKey: args[1], Number: number}
		})
	setExt.Flags().StringVar(&number, "number", "", "number (DID)")
	show := &cobra.Command{
		Use: "show UUID", Short: "Show one license", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v ledger.LicenseView
			if err := a.call(http.MethodGet, "/v1/licenses/"+url.PathEscape(args[0]), nil, &v); err != nil {
				return codeErr(err)
			}
			return a.printLicense(v, "")
		},
	}
	c.AddCommand(list, assign, show, setExt,
		op("unassign UUID", "Take a base license back from its user; its add-ons and extension are freed", "unassigned", http.MethodPost, "/unassign", 1, nil),
		op("reassign UUID USER", "Give an assigned base license (with its extension and add-ons) to another user", "reassigned", http.MethodPost, "/reassign", 2,
			func(args []string) any { return api.LicenseChangeRequest{User: args[1]} }),
		op("attach UUID ADDON", "Attach a free add-on license of code ADDON to an assigned base license", "updated", http.MethodPost, "/addons", 2,
			func(args []string) any { return api.LicenseChangeRequest{AddOn: args[1]} }),
		op("detach UUID ADDON", "Remove the ADDON add-on from a base license (the add-on license becomes free)", "updated", http.MethodDelete, "/addons", 2, nil),
		terminate,
	)
	return c
}

func (a *app) printLicense(v ledger.LicenseView, verb string) error {
	return a.printer().print(v, func(out io.Writer) error {
		if verb != "" {
			fmt.Fprintf(out, "%s %s license %s\n", verb, v.Product, v.ID)
		}
		fmt.Fprintf(out, "  account  %s\n  kind     %s\n", v.Account, v.Kind)
		if v.Kind == ledger.ProductAddOn {
			fmt.Fprintf(out, "  on       %s (%s)\n", orDash(v.Parent), orDash(v.ParentUser))
			return nil
		}
		fmt.Fprintf(out, "  user     %s\n  ext      %s\n  number   %s\n  add-ons  %s\n", orDash(v.User), orDash(v.ExtKey), orDash(v.Number), orDash(strings.Join(v.AddOnCodes, ", ")))
		return nil
	})
}

// accountOrOnly returns account, or the cluster's only account when it is
// empty.
func (a *app) accountOrOnly(account string) (string, error) {
	if account != "" {
		return account, nil
	}
	var accts []api.Account
	if err := a.call(http.MethodGet, "/v1/accounts", nil, &accts); err != nil {
		return "", codeErr(err)
	}
	if len(accts) != 1 {
		return "", &ExitError{Code: 2, Err: fmt.Errorf("there are %d accounts: name one with --account", len(accts))}
	}
	return accts[0].ID, nil
}

func (a *app) importCmd() *cobra.Command {
	c := &cobra.Command{Use: "import", Short: "Mass configuration: assign licenses, extensions and add-ons from a CSV"}
	sample := &cobra.Command{
		Use:   "sample",
		Short: "Print the CSV template: Ext Key, Number, User, Addon license 1..N",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.out.Write(assignments.Sample())
			return err
		},
	}
	var product string
	var dryRun bool
	imp := &cobra.Command{
		Use:   "assignments ACCOUNT FILE.csv",
		Short: "Validate a CSV and apply it as one all-or-nothing change (- reads stdin)",
		Long: `Validate a CSV of Ext Key, Number, User, Addon license 1..N rows and apply it
as one all-or-nothing change to the account's base product (--product, or the
account's only extension-based product). Each row gives its user that
product's license with exactly the listed extension, number and add-ons;
users not in the file keep what they have.

Before anything changes, every row is checked: unknown user, unknown add-on
code, duplicate extension key or number (within the file and against other
assignments), malformed number, more assignments than purchased licenses.
If any row is bad, every bad row is listed with its line number and nothing
is applied. --dry-run checks and reports without applying.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runImport(cmd.InOrStdin(), args[0], args[1], product, dryRun)
		},
	}
	imp.Flags().StringVar(&product, "product", "", "the base product to assign (default: the account's only extension-based one)")
	imp.Flags().BoolVar(&dryRun, "dry-run", false, "validate and report, change nothing")
	c.AddCommand(sample, imp)
	return c
}

func (a *app) runImport(stdin io.Reader, account, file, product string, dryRun bool) error {
	var in io.Reader
	if file == "-" {
		in = stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("open CSV: %w", err)}
		}
		defer f.Close()
		in = f
	}
	bar := newProgress(a.errOut)
	rows, bad, err := assignments.Parse(in, func(n int) { bar.show("parsing", int64(n), 0, "rows") })
	bar.done()
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s: %w", file, err)}
	}
	req := api.ImportRequest{Product: product, Rows: rows, DryRun: dryRun || len(bad) > 0}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode import: %w", err)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.timeout)
	defer cancel()
	var rep ledger.ImportReport
	err = c.DoBody(ctx, http.MethodPost, acctPath(account, "assignments", "import"), body,
		func(r io.Reader) io.Reader {
			uploaded := false
			return &countingReader{r: r, fn: func(n int64) {
				if uploaded {
					return
				}
				bar.show("uploading", n, int64(len(body)), "bytes")
				if uploaded = n >= int64(len(body)); uploaded {
					// The server validates, then applies, before it answers.
					bar.show("validating", int64(len(rows)), 0, "rows")
				}
			}}
		}, &rep)
	bar.done()
	if err != nil {
		return codeErr(err)
	}
	// Rows that were not CSV rows at all never reached the server; list
	// them with the server's findings, in line order.
	if len(bad) > 0 {
		rep.Errors = mergeRowErrors(bad, rep.Errors)
		rep.Rows += len(bad)
		rep.Applied = false
	}
	if a.opts.json {
		if err := a.printer().writeJSON(rep); err != nil {
			return err
		}
		if len(rep.Errors) > 0 {
			return &ExitError{Code: 1}
		}
		return nil
	}
	if len(rep.Errors) > 0 {
		return &ExitError{Code: 1, Err: errors.New(ledger.ImportError(rep).Message)}
	}
	verb := "would apply"
	if rep.Applied {
		verb = "applied"
	}
	fmt.Fprintf(a.out, "%s %d rows to %s/%s: %d assigned, %d updated, %d unchanged\n", verb, rep.Rows, rep.Account, rep.Product, rep.Created, rep.Updated, rep.Unchanged)
	return nil
}

func mergeRowErrors(a, b []ledger.RowError) []ledger.RowError {
	out := make([]ledger.RowError, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j >= len(b) || (i < len(a) && a[i].Line <= b[j].Line) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

func (a *app) exportCmd() *cobra.Command {
	c := &cobra.Command{Use: "export", Short: "Write configuration back out"}
	var product, output string
	exp := &cobra.Command{
		Use:   "assignments ACCOUNT",
		Short: "Write an account's assignments as an import CSV (Ext Key, Number, User, Addon license 1..N)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if product != "" {
				q = "?product=" + url.QueryEscape(product)
			}
			var resp api.ExportResponse
			return a.show(http.MethodGet, acctPath(args[0], "assignments")+q, nil, &resp, func(out io.Writer) error {
				w := out
				if output != "" && output != "-" {
					f, err := os.Create(output)
					if err != nil {
						return fmt.Errorf("create %s: %w", output, err)
					}
					defer f.Close()
					w = f
				}
				return assignments.Write(w, resp.Rows)
			})
		},
	}
	exp.Flags().StringVar(&product, "product", "", "the base product (default: the account's only extension-based one)")
	exp.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	c.AddCommand(exp)
	return c
}
