package ctl

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol/api"
)

func (a *app) auditCmd() *cobra.Command {
	var account, typ, actor, since, until string
	var limit int
	var follow, asCSV bool
	var interval time.Duration
	c := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: administrative changes, grants, denials, releases, revocations and reclaims",
		Long: `Show the audit log, oldest first. --follow keeps printing new records
as they are applied. --json prints one JSON record per line (NDJSON), --csv
a CSV export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"account": account, "type": typ, "actor": actor, "since": since, "until": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			var cw *csv.Writer
			if asCSV {
				cw = csv.NewWriter(a.out)
				cw.Write([]string{"seq", "time", "actor", "account", "type", "outcome", "code", "summary", "request_id", "lease"})
			}
			enc := json.NewEncoder(a.out)
			w := a.table()
			if !asCSV && !a.opts.json {
				fmt.Fprintln(w, "SEQ\tTIME\tACTOR\tACCOUNT\tTYPE\tOUTCOME\tSUMMARY")
			}
			var after uint64
			printed := 0
			for {
				q.Set("after", strconv.FormatUint(after, 10))
				page := 1000
				if limit > 0 && limit-printed < page {
					page = limit - printed
				}
				q.Set("limit", strconv.Itoa(page))
				var p api.AuditPage
				if err := a.call(http.MethodGet, "/v1/audit?"+q.Encode(), nil, &p); err != nil {
					return codeErr(err)
				}
				for _, r := range p.Records {
					switch {
					case asCSV:
						lease := ""
						if r.Lease != 0 {
							lease = strconv.FormatUint(r.Lease, 10)
						}
						cw.Write([]string{strconv.FormatUint(r.Seq, 10), r.Time.UTC().Format(time.RFC3339Nano), r.Actor, r.Account, string(r.Type), r.Outcome, r.Code, r.Summary, r.RequestID, lease})
					case a.opts.json:
						if err := enc.Encode(r); err != nil {
							return err
						}
					default:
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, orDash(r.Account), r.Type, outcome(r), r.Summary)
					}
				}
				printed += len(p.Records)
				after = p.Next
				if limit > 0 && printed >= limit {
					break
				}
				if p.More {
					continue
				}
				if !follow {
					break
				}
				// Flush what we have so a follower sees records as they come.
				if cw != nil {
					cw.Flush()
				}
				w.Flush()
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
			if cw != nil {
				cw.Flush()
				return cw.Error()
			}
			return w.Flush()
		},
	}
	f := c.Flags()
	f.StringVar(&account, "account", "", "only records of this account")
	f.StringVar(&typ, "type", "", "only this command type (checkout, release, revoke, reclaim, set_pool, …)")
	f.StringVar(&actor, "actor", "", "only records of this actor (admin-token:ID, device:ACCOUNT/CODE, system)")
	f.StringVar(&since, "since", "", "records at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&until, "until", "", "records before this time (RFC 3339 or YYYY-MM-DD)")
	f.IntVar(&limit, "limit", 0, "print at most this many records (0: all)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new records")
	f.DurationVar(&interval, "interval", time.Second, "how often --follow polls")
	f.BoolVar(&asCSV, "csv", false, "print CSV")
	return c
}

func outcome(r ledger.AuditRecord) string {
	if r.Code != "" {
		return r.Outcome + " (" + r.Code + ")"
	}
	return r.Outcome
}

func (a *app) reportCmd() *cobra.Command {
	c := &cobra.Command{Use: "report", Short: "Reports for billing and capacity planning"}
	var from, to, account string
	var asCSV, signed bool
	var outFile string
	usage := &cobra.Command{
		Use:   "usage",
		Short: "Seat-days per pool over a period, from the lease history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if signed {
				return a.signedReport(account, from, to, outFile)
			}
			if from == "" || to == "" {
				return fmt.Errorf("report usage needs --from and --to (YYYY-MM-DD or RFC 3339)")
			}
			q := url.Values{"from": {from}, "to": {to}}
			if account != "" {
				q.Set("account", account)
			}
			var rep api.UsageReport
			return a.show(http.MethodGet, "/v1/usage-report?"+q.Encode(), nil, &rep, func(out io.Writer) error {
				if asCSV {
					cw := csv.NewWriter(out)
					cw.Write([]string{"account", "feature", "seat_days", "leases", "peak_seats"})
					for _, p := range rep.Pools {
						cw.Write([]string{p.Account, p.Feature, strconv.FormatFloat(p.SeatDays, 'f', 4, 64), strconv.Itoa(p.Leases), strconv.Itoa(p.PeakSeats)})
					}
					cw.Flush()
					return cw.Error()
				}
				fmt.Fprintf(out, "usage from %s to %s\n", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339))
				if !rep.HistoryFrom.IsZero() && rep.HistoryFrom.After(rep.From) {
					fmt.Fprintf(out, "note: the audit history starts at %s; earlier usage is counted only for leases still held or ended after it\n", rep.HistoryFrom.Format(time.RFC3339))
				}
				w := a.table()
				fmt.Fprintln(w, "ACCOUNT\tFEATURE\tSEAT-DAYS\tLEASES\tPEAK SEATS")
				for _, p := range rep.Pools {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", p.Account, p.Feature, strconv.FormatFloat(p.SeatDays, 'f', 3, 64), p.Leases, p.PeakSeats)
				}
				return w.Flush()
			})
		},
	}
	usage.Flags().StringVar(&from, "from", "", "start of the period (YYYY-MM-DD or RFC 3339)")
	usage.Flags().StringVar(&to, "to", "", "end of the period, exclusive")
	usage.Flags().StringVar(&account, "account", "", "only this account")
	usage.Flags().BoolVar(&asCSV, "csv", false, "print CSV")
	usage.Flags().BoolVar(&signed, "signed", false, "a true-up report for the vendor, per entitlement and feature, signed by the cluster (needs --account; default period: the last 30 days)")
	usage.Flags().StringVarP(&outFile, "output", "o", "", "with --signed: write the report to this file")
	c.AddCommand(usage, a.denialsReportCmd())
	return c
}
