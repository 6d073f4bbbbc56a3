package ctl

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/leasing"
)

func (a *app) statusCmd() *cobra.Command {
	var account string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the node and every pool's purchased, active and unused seats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var s adminapi.StatusResponse
			q := ""
			if account != "" {
				q = "?account=" + url.QueryEscape(account)
			}
			if err := a.call(http.MethodGet, "/v1/status"+q, nil, &s); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.out, "cluster  %s\nnode     %s (%s, term %d, applied %d)\nleader   %s\nleases   %d held by %d devices enrolled; %d waiting\n\n",
				s.ClusterID, s.Node.NodeID, s.Node.State, s.Node.Term, s.Node.AppliedIndex, orDash(s.Node.LeaderID), s.Leases, s.Devices, s.Waiting)
			w := a.table()
			fmt.Fprintln(w, "ACCOUNT\tFEATURE\tPURCHASED\tACTIVE\tUNUSED\tLEASE TTL")
			for _, p := range s.Pools {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\n", p.Account, p.Feature, p.Seats, p.Active, p.Unused, p.LeaseTTL)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			a.noteFreshness()
			return nil
		},
	}
	c.Flags().StringVar(&account, "account", "", "only this account's pools")
	return c
}

func (a *app) leasesCmd() *cobra.Command {
	var account, feature, device string
	c := &cobra.Command{
		Use:   "leases",
		Short: "List the leases held now (device, user, feature, lease ID, since, expires)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"account": account, "feature": feature, "device": device} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var ls []adminapi.LeaseView
			if err := a.call(http.MethodGet, "/v1/leases?"+q.Encode(), nil, &ls); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(ls)
			}
			now := time.Now()
			w := a.table()
			fmt.Fprintln(w, "LEASE\tACCOUNT\tFEATURE\tDEVICE\tHOST\tUSER\tKIND\tSINCE\tEXPIRES\tSTATE")
			for _, l := range ls {
				state := "held"
				if l.Revoked {
					state = "revoked, seat frees " + when(l.SeatFreesAt, now)
				} else if now.After(l.Expires) {
					state = "expired, seat frees " + when(l.SeatFreesAt, now)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Account, l.Feature, l.Device, orDash(l.Hostname), orDash(l.User), l.Kind,
					l.Since.Local().Format("2006-01-02 15:04:05"), when(l.Expires, now), state)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(ls) == 0 {
				fmt.Fprintln(a.out, "(no leases)")
			}
			a.noteFreshness()
			return nil
		},
	}
	c.Flags().StringVar(&account, "account", "", "only this account")
	c.Flags().StringVar(&feature, "feature", "", "only this feature")
	c.Flags().StringVar(&device, "device", "", "only this Device Code")
	return c
}

func (a *app) revokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke LEASE-ID",
		Short: "Revoke a lease: it stops renewing and its seat frees at its horizon plus the skew allowance",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := strconv.ParseUint(strings.TrimPrefix(args[0], "L"), 10, 64); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("lease ID %q is not a number", args[0])}
			}
			var l adminapi.LeaseView
			if err := a.call(http.MethodPost, "/v1/leases/"+url.PathEscape(args[0])+"/revoke", nil, &l); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(l)
			}
			fmt.Fprintf(a.out, "revoked lease %d (%s on %s); the device stops renewing it and the seat frees at %s\n",
				l.ID, l.Feature, l.Device, l.SeatFreesAt.Local().Format(time.RFC3339))
			return nil
		},
	}
}

func (a *app) queueCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "queue",
		Short: "List checkouts waiting for a seat, in the order they will be served",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ws []leasing.Waiter
			if err := a.call(http.MethodGet, "/v1/queue", nil, &ws); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(ws)
			}
			now := time.Now()
			w := a.table()
			fmt.Fprintln(w, "POS\tACCOUNT\tFEATURE\tDEVICE\tUSER\tWAITING SINCE\tGIVES UP")
			for _, x := range ws {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Position, x.Account, x.Feature, x.Device, orDash(x.User), when(x.Since, now), when(x.Deadline, now))
			}
			return w.Flush()
		},
	}
}

func (a *app) accountsCmd() *cobra.Command {
	c := &cobra.Command{Use: "accounts", Short: "Create and list accounts"}
	var req adminapi.CreateAccountRequest
	var model, subEnd string
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Create an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.ID = args[0]
			req.Model = ledger.Model(model)
			if subEnd != "" {
				t, err := parseDate(subEnd)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				req.SubscriptionEnd = t
			}
			var acct ledger.Account
			if err := a.call(http.MethodPost, "/v1/accounts", req, &acct); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(acct)
			}
			fmt.Fprintf(a.out, "created account %s (%s, %s model)\n", acct.ID, acct.Name, acct.Model)
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "display name")
	create.Flags().StringVar(&req.AdminEmail, "admin-email", "", "the account administrator's (role-based) address")
	create.Flags().StringVar(&model, "model", "floating", "licensing model: standard, floating or mixed")
	create.Flags().StringVar(&subEnd, "subscription-end", "", "when every license of the account expires (2027-01-31 or RFC 3339)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var accts []ledger.Account
			if err := a.call(http.MethodGet, "/v1/accounts", nil, &accts); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(accts)
			}
			w := a.table()
			fmt.Fprintln(w, "ID\tNAME\tMODEL\tPOOLS\tADMIN\tSUBSCRIPTION END")
			for _, x := range accts {
				end := "-"
				if !x.SubscriptionEnd.IsZero() {
					end = x.SubscriptionEnd.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", x.ID, x.Name, x.Model, len(x.Pools), orDash(x.AdminEmail), end)
			}
			return w.Flush()
		},
	}
	c.AddCommand(create, list)
	return c
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: use 2027-01-31 or RFC 3339 (2027-01-31T00:00:00Z)", s)
}

func (a *app) poolsCmd() *cobra.Command {
	c := &cobra.Command{Use: "pools", Short: "Create pools and set their seats"}
	var ttl string
	set := &cobra.Command{
		Use:   "set-seats ACCOUNT FEATURE SEATS",
		Short: "Create a pool or change its purchased seats (lowering below the seats in use is refused)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			seats, err := strconv.Atoi(args[2])
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("seats %q is not a whole number", args[2])}
			}
			var u ledger.PoolUsage
			if err := a.call(http.MethodPut, acctPath(args[0], "pools", args[1]), adminapi.SetPoolRequest{Seats: seats, LeaseTTL: ttl}, &u); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(u)
			}
			fmt.Fprintf(a.out, "%s/%s: %d seats purchased, %d active, %d unused\n", u.Account, u.Feature, u.Seats, u.Active, u.Unused)
			return nil
		},
	}
	set.Flags().StringVar(&ttl, "lease-ttl", "", "lease TTL for this pool (e.g. 5m); default: the cluster's")
	list := &cobra.Command{
		Use:   "list ACCOUNT",
		Short: "List an account's pools",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var us []ledger.PoolUsage
			if err := a.call(http.MethodGet, acctPath(args[0], "pools"), nil, &us); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(us)
			}
			w := a.table()
			fmt.Fprintln(w, "FEATURE\tPURCHASED\tACTIVE\tUNUSED\tLEASE TTL")
			for _, p := range us {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", p.Feature, p.Seats, p.Active, p.Unused, p.LeaseTTL)
			}
			return w.Flush()
		},
	}
	c.AddCommand(set, list)
	return c
}

func (a *app) enrollTokensCmd() *cobra.Command {
	c := &cobra.Command{Use: "enroll-tokens", Short: "Create, list and revoke device enrollment tokens"}
	var req adminapi.CreateTokenRequest
	create := &cobra.Command{
		Use:   "create ACCOUNT",
		Short: "Create an enrollment token (printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t adminapi.TokenResponse
			if err := a.call(http.MethodPost, acctPath(args[0], "enroll-tokens"), req, &t); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(t)
			}
			fmt.Fprintln(a.out, t.Token)
			fmt.Fprintf(a.errOut, "enrollment token %s for account %s, valid until %s; it is shown only once\n", t.ID, t.Account, t.Expires.Local().Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "a note on what the token is for")
	create.Flags().StringVar(&req.TTL, "ttl", "168h", "how long the token may be used")
	create.Flags().IntVar(&req.Uses, "uses", 1, "how many devices the token may enroll")
	create.Flags().StringSliceVar(&req.Devices, "device", nil, "only these Device Codes may enroll with it (repeat or comma-separate)")
	list := &cobra.Command{
		Use:   "list ACCOUNT",
		Short: "List an account's enrollment tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts []ledger.EnrollToken
			if err := a.call(http.MethodGet, acctPath(args[0], "enroll-tokens"), nil, &ts); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(ts)
			}
			now := time.Now()
			w := a.table()
			fmt.Fprintln(w, "ID\tNAME\tEXPIRES\tUSES\tSTATE")
			for _, t := range ts {
				state := "valid"
				switch {
				case t.Revoked:
					state = "revoked"
				case now.After(t.Expires):
					state = "expired"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", t.ID, orDash(t.Name), t.Expires.Local().Format("2006-01-02 15:04"), t.Uses, state)
			}
			return w.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ACCOUNT TOKEN-ID",
		Short: "Revoke an enrollment token; devices already enrolled are not affected",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.call(http.MethodDelete, acctPath(args[0], "enroll-tokens", args[1]), nil, nil); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(map[string]string{"revoked": args[1]})
			}
			fmt.Fprintf(a.out, "revoked enrollment token %s\n", args[1])
			return nil
		},
	}
	c.AddCommand(create, list, revoke)
	return c
}

func (a *app) devicesCmd() *cobra.Command {
	c := &cobra.Command{Use: "devices", Short: "Enrolled devices: list, remove, and move or free node-locked seats"}
	var account string
	list := &cobra.Command{
		Use:   "list",
		Short: "List enrolled devices with their Device Codes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if account != "" {
				q = "?account=" + url.QueryEscape(account)
			}
			var ds []ledger.Device
			if err := a.call(http.MethodGet, "/v1/devices"+q, nil, &ds); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(ds)
			}
			w := a.table()
			fmt.Fprintln(w, "ACCOUNT\tDEVICE CODE\tHOST\tENROLLED")
			for _, d := range ds {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Account, d.Code, orDash(d.Hostname), d.Enrolled.Local().Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&account, "account", "", "only this account")
	c.AddCommand(list)
	c.AddCommand(a.deviceSeatCmds()...)
	return c
}

func (a *app) adminTokensCmd() *cobra.Command {
	c := &cobra.Command{Use: "admin-tokens", Aliases: []string{"tokens"}, Short: "Create, list and revoke admin API tokens"}
	c.AddCommand(a.adminTokensListCmd())
	var req adminapi.CreateTokenRequest
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an admin token (printed once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t adminapi.TokenResponse
			if err := a.call(http.MethodPost, "/v1/admin-tokens", req, &t); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(t)
			}
			fmt.Fprintln(a.out, t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "who or what the token is for")
	create.Flags().StringVar(&req.Role, "role", "", "cluster-admin, account-owner, account-admin or read-only (default: cluster-admin, or account-admin with --account)")
	create.Flags().StringVar(&req.Account, "account", "", "limit the token to this account")
	revoke := &cobra.Command{
		Use:   "revoke TOKEN-ID",
		Short: "Revoke an admin token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.call(http.MethodDelete, "/v1/admin-tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return codeErr(err)
			}
			if a.opts.json {
				return a.printJSON(map[string]string{"revoked": args[0]})
			}
			fmt.Fprintf(a.out, "revoked admin token %s\n", args[0])
			return nil
		},
	}
	c.AddCommand(create, revoke)
	return c
}

// acctPath is an admin API path under one account, every part escaped.
func acctPath(account string, parts ...string) string {
	p := "/v1/accounts/" + url.PathEscape(account)
	for _, x := range parts {
		p += "/" + url.PathEscape(x)
	}
	return p
}
