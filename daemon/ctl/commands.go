package ctl

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol/api"
)

func (a *app) statusCmd() *cobra.Command {
	var account string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the node and every pool's purchased, active and unused seats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var s api.StatusResponse
			q := ""
			if account != "" {
				q = "?account=" + url.QueryEscape(account)
			}
			return a.show(http.MethodGet, "/v1/status"+q, nil, &s, func(out io.Writer) error {
				return a.printStatus(out, s)
			})
		},
	}
	c.Flags().StringVar(&account, "account", "", "only this account's pools")
	return c
}

func (a *app) printStatus(out io.Writer, s api.StatusResponse) error {
	fmt.Fprintf(out, "cluster  %s\nnode     %s (%s, term %d, applied %d)\nleader   %s\nleases   %d held by %d devices enrolled; %d waiting\n\n",
		s.ClusterID, s.Node.NodeID, s.Node.State, s.Node.Term, s.Node.AppliedIndex, orDash(s.Node.LeaderID), s.Leases, s.Devices, s.Waiting)
	rows := make([]string, len(s.Pools))
	for i, p := range s.Pools {
		rows[i] = fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%s", p.Account, p.Feature, p.Seats, p.Active, p.Unused, p.LeaseTTL)
	}
	if err := a.printer().table("ACCOUNT\tFEATURE\tPURCHASED\tACTIVE\tUNUSED\tLEASE TTL", rows, ""); err != nil {
		return err
	}
	a.noteFreshness()
	return nil
}

func (a *app) leasesCmd() *cobra.Command {
	var account, feature, device string
	c := listCmd(a, list[api.LeaseView]{
		use:   "leases",
		short: "List the leases held now (device, user, feature, lease ID, since, expires)",
		path: func([]string) string {
			q := url.Values{}
			for k, v := range map[string]string{"account": account, "feature": feature, "device": device} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return "/v1/leases?" + q.Encode()
		},
		header: "LEASE\tACCOUNT\tFEATURE\tDEVICE\tHOST\tUSER\tKIND\tSINCE\tEXPIRES\tSTATE",
		row: func(l api.LeaseView) string {
			now := time.Now()
			state := "held"
			if l.Revoked {
				state = "revoked, seat frees " + when(l.SeatFreesAt, now)
			} else if now.After(l.Expires) {
				state = "expired, seat frees " + when(l.SeatFreesAt, now)
			}
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", l.ID, l.Account, l.Feature, l.Device, orDash(l.Hostname), orDash(l.User), l.Kind,
				l.Since.Local().Format("2006-01-02 15:04:05"), when(l.Expires, now), state)
		},
		empty: "(no leases)",
	})
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
			var l api.LeaseView
			return a.show(http.MethodPost, "/v1/leases/"+url.PathEscape(args[0])+"/revoke", nil, &l, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "revoked lease %d (%s on %s); the device stops renewing it and the seat frees at %s\n",
					l.ID, l.Feature, l.Device, l.SeatFreesAt.Local().Format(time.RFC3339))
				return err
			})
		},
	}
}

func (a *app) queueCmd() *cobra.Command {
	return listCmd(a, list[api.Waiter]{
		use:    "queue",
		short:  "List checkouts waiting for a seat, in the order they will be served",
		path:   func([]string) string { return "/v1/queue" },
		header: "POS\tACCOUNT\tFEATURE\tDEVICE\tUSER\tWAITING SINCE\tGIVES UP",
		row: func(x api.Waiter) string {
			now := time.Now()
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", x.Position, x.Account, x.Feature, x.Device, orDash(x.User), when(x.Since, now), when(x.Deadline, now))
		},
	})
}

func (a *app) accountsCmd() *cobra.Command {
	c := &cobra.Command{Use: "accounts", Short: "Create and list accounts"}
	var req api.CreateAccountRequest
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
			var acct api.Account
			return a.show(http.MethodPost, "/v1/accounts", req, &acct, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "created account %s (%s, %s model)\n", acct.ID, acct.Name, acct.Model)
				return err
			})
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "display name")
	create.Flags().StringVar(&req.AdminEmail, "admin-email", "", "the account administrator's (role-based) address")
	create.Flags().StringVar(&model, "model", "floating", "licensing model: standard, floating or mixed")
	create.Flags().StringVar(&subEnd, "subscription-end", "", "when every license of the account expires (2027-01-31 or RFC 3339)")
	create.Flags().BoolVar(&req.AdminMember, "admin-member", false, "make the --admin-email address an Owner member of the account, holding one of its member seats")
	create.Flags().IntVar(&req.MemberSeats, "member-seats", 0, "with --admin-member: the member seats the account starts with (default 1)")
	list := listCmd(a, list[api.Account]{
		use:    "list",
		short:  "List accounts",
		path:   func([]string) string { return "/v1/accounts" },
		header: "ID\tNAME\tMODEL\tPOOLS\tADMIN\tSUBSCRIPTION END",
		row: func(x api.Account) string {
			end := "-"
			if !x.SubscriptionEnd.IsZero() {
				end = x.SubscriptionEnd.Format("2006-01-02 15:04")
			}
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s", x.ID, x.Name, x.Model, len(x.Pools), orDash(x.AdminEmail), end)
		},
	})
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
			return a.show(http.MethodPut, acctPath(args[0], "pools", args[1]), api.SetPoolRequest{Seats: seats, LeaseTTL: ttl}, &u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s/%s: %d seats purchased, %d active, %d unused\n", u.Account, u.Feature, u.Seats, u.Active, u.Unused)
				return err
			})
		},
	}
	set.Flags().StringVar(&ttl, "lease-ttl", "", "lease TTL for this pool (e.g. 5m); default: the cluster's")
	list := listCmd(a, list[ledger.PoolUsage]{
		use:    "list ACCOUNT",
		short:  "List an account's pools",
		path:   func(args []string) string { return acctPath(args[0], "pools") },
		header: "FEATURE\tPURCHASED\tACTIVE\tUNUSED\tLEASE TTL",
		row: func(p ledger.PoolUsage) string {
			return fmt.Sprintf("%s\t%d\t%d\t%d\t%s", p.Feature, p.Seats, p.Active, p.Unused, p.LeaseTTL)
		},
	})
	c.AddCommand(set, list)
	return c
}

func (a *app) enrollTokensCmd() *cobra.Command {
	c := &cobra.Command{Use: "enroll-tokens", Short: "Create, list and revoke device enrollment tokens"}
	var req api.CreateTokenRequest
	create := &cobra.Command{
		Use:   "create ACCOUNT",
		Short: "Create an enrollment token (printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t api.TokenResponse
			return a.show(http.MethodPost, acctPath(args[0], "enroll-tokens"), req, &t, func(w io.Writer) error {
				fmt.Fprintln(w, t.Token)
				fmt.Fprintf(a.errOut, "enrollment token %s for account %s, valid until %s; it is shown only once\n", t.ID, t.Account, t.Expires.Local().Format(time.RFC3339))
				return nil
			})
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "a note on what the token is for")
	create.Flags().StringVar(&req.TTL, "ttl", "168h", "how long the token may be used")
	create.Flags().IntVar(&req.Uses, "uses", 1, "how many devices the token may enroll")
	create.Flags().StringSliceVar(&req.Devices, "device", nil, "only these Device Codes may enroll with it (repeat or comma-separate)")
	list := listCmd(a, list[ledger.EnrollToken]{
		use:    "list ACCOUNT",
		short:  "List an account's enrollment tokens",
		path:   func(args []string) string { return acctPath(args[0], "enroll-tokens") },
		header: "ID\tNAME\tEXPIRES\tUSES\tSTATE",
		row: func(t ledger.EnrollToken) string {
			state := "valid"
			switch {
			case t.Revoked:
				state = "revoked"
			case time.Now().After(t.Expires):
				state = "expired"
			}
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%s", t.ID, orDash(t.Name), t.Expires.Local().Format("2006-01-02 15:04"), t.Uses, state)
		},
	})
	revoke := &cobra.Command{
		Use:   "revoke ACCOUNT TOKEN-ID",
		Short: "Revoke an enrollment token; devices already enrolled are not affected",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.done(http.MethodDelete, acctPath(args[0], "enroll-tokens", args[1]), nil,
				map[string]string{"revoked": args[1]}, "revoked enrollment token "+args[1])
		},
	}
	c.AddCommand(create, list, revoke)
	return c
}

func (a *app) devicesCmd() *cobra.Command {
	c := &cobra.Command{Use: "devices", Short: "Enrolled devices: list, remove, and move or free node-locked seats"}
	var account string
	list := listCmd(a, list[api.DeviceView]{
		use:   "list",
		short: "List enrolled devices: Device Code, host, signed-in members, last heartbeat, agent version",
		path: func([]string) string {
			if account != "" {
				return "/v1/devices?account=" + url.QueryEscape(account)
			}
			return "/v1/devices"
		},
		header: "ACCOUNT\tDEVICE CODE\tHOST\tSIGNED IN\tLAST SEEN\tAGENT\tENROLLED",
		row: func(d api.DeviceView) string {
			seen := "never"
			if !d.LastSeen.IsZero() {
				seen = d.LastSeen.Local().Format("2006-01-02 15:04:05")
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", d.Account, d.Code, orDash(d.Hostname), signedInSummary(d), seen, orDash(d.AgentVersion), d.Enrolled.Local().Format("2006-01-02 15:04"))
		},
	})
	list.Flags().StringVar(&account, "account", "", "only this account")
	c.AddCommand(list)
	c.AddCommand(a.deviceSeatCmds()...)
	return c
}

func (a *app) adminTokensCmd() *cobra.Command {
	c := &cobra.Command{Use: "admin-tokens", Aliases: []string{"tokens"}, Short: "Create, list and revoke admin API tokens"}
	c.AddCommand(a.adminTokensListCmd())
	var req api.CreateTokenRequest
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an admin token (printed once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t api.TokenResponse
			return a.show(http.MethodPost, "/v1/admin-tokens", req, &t, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, t.Token)
				return err
			})
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
			return a.done(http.MethodDelete, "/v1/admin-tokens/"+url.PathEscape(args[0]), nil,
				map[string]string{"revoked": args[0]}, "revoked admin token "+args[0])
		},
	}
	c.AddCommand(create, revoke)
	return c
}

func acctPath(account string, parts ...string) string {
	p := "/v1/accounts/" + url.PathEscape(account)
	for _, x := range parts {
		p += "/" + url.PathEscape(x)
	}
	return p
}
