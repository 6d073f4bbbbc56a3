package ctl

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol/api"
)

// Members, teams, invitations, seats, subscriptions and usage.

// memberCall runs a members request and prints its result: the user, the
// changed users, or "ok".
func (a *app) memberCall(method, path string, req any, done string) error {
	var res ledger.MembersResult
	return a.show(method, path, req, &res, func(out io.Writer) error {
		switch {
		case res.User != nil:
			u := res.User
			fmt.Fprintf(out, "%s: %s (%s), teams %s\n", u.Email, u.Status, u.Role, orDash(strings.Join(u.Teams, ",")))
		case res.Renewal != nil:
			r := res.Renewal
			fmt.Fprintf(out, "renewed (%s): period now ends %s; seats %d -> %d\n", r.Renewal, r.NewEnd.Format(time.RFC3339), r.SeatsBefore, r.SeatsAfter)
		case len(res.Changed) > 0:
			fmt.Fprintf(out, "%s: %s\n", done, strings.Join(res.Changed, ", "))
		default:
			fmt.Fprintln(out, done)
		}
		return nil
	})
}

// password reads --password, else $TALLY_PASSWORD, else one line of stdin
// when --password-stdin is set.
func password(flag string, stdin bool, in io.Reader) (string, error) {
	if stdin {
		b, err := io.ReadAll(io.LimitReader(in, 4096))
		if err != nil {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if flag != "" {
		return flag, nil
	}
	return os.Getenv("TALLY_PASSWORD"), nil
}

func (a *app) usersCmd() *cobra.Command {
	c := &cobra.Command{Use: "users", Short: "An account's members: add, list, change role or password, delete, sign in"}
	var team string
	list := listCmd(a, list[ledger.UserView]{
		use:   "list ACCOUNT",
		short: "List users with role, status (active, pending, unassigned), seat and teams",
		path: func(args []string) string {
			if team != "" {
				return acctPath(args[0], "users") + "?team=" + url.QueryEscape(team)
			}
			return acctPath(args[0], "users")
		},
		header: "EMAIL\tROLE\tSTATUS\tSEAT\tTEAMS (* ADMINISTERS)\tPLAN",
		row: func(u ledger.UserView) string {
			seat := "-"
			if u.ConsumesSeat {
				seat = "yes"
			}
			teams := make([]string, len(u.Teams))
			for i, t := range u.Teams {
				teams[i] = t
				if slices.Contains(u.AdminOf, t) {
					teams[i] += "*"
				}
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", u.Email, u.Role, u.Status, seat, orDash(strings.Join(teams, ",")), orDash(u.Plan))
		},
	})
	list.Flags().StringVar(&team, "team", "", "only this team's members")

	var role, pw, displayName string
	var pwStdin bool
	var teams []string
	add := &cobra.Command{
		Use:   "add ACCOUNT EMAIL...",
		Short: "Add active users (Owner, Administrator and Member take a seat; assistants do not)",
		Long: `Add users to an account. Emails are unique per account, ignoring case.
With one EMAIL, --password (or --password-stdin, or $TALLY_PASSWORD) sets its
password, hashed with argon2id by the server before it is stored. With several,
they are added together without passwords, all or none.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				return a.memberCall(http.MethodPost, acctPath(args[0], "users", "bulk"), api.MemberRequest{Emails: args[1:], Role: ledger.Role(role)}, "added")
			}
			p, err := password(pw, pwStdin, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return a.memberCall(http.MethodPost, acctPath(args[0], "users"), api.MemberRequest{Email: args[1], DisplayName: displayName, Role: ledger.Role(role), Password: p, Teams: teams}, "added")
		},
	}
	add.Flags().StringVar(&role, "role", "member", "owner, administrator, member, administrator_assistant or assistant")
	add.Flags().StringVar(&pw, "password", "", "the user's password (prefer --password-stdin or $TALLY_PASSWORD)")
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin")
	add.Flags().StringSliceVar(&teams, "team", nil, "teams to put the user in")
	add.Flags().StringVar(&displayName, "name", "", `the user's display name ("John Smith"); an assignment import may name the user by it`)
	show := &cobra.Command{
		Use: "show ACCOUNT EMAIL", Short: "Show one user", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u ledger.UserView
			return a.show(http.MethodGet, acctPath(args[0], "users", args[1]), nil, &u, func(out io.Writer) error {
				fmt.Fprintf(out, "%s: %s (%s), seat %v, teams %s, plan %s\n", u.Email, u.Status, u.Role, u.ConsumesSeat, orDash(strings.Join(u.Teams, ",")), orDash(u.Plan))
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ACCOUNT EMAIL", Short: "Delete a user; their seat returns to the pool", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodDelete, acctPath(args[0], "users", args[1]), nil, "deleted")
		},
	}
	setRole := &cobra.Command{
		Use: "set-role ACCOUNT EMAIL ROLE", Short: "Change a user's role (a seat-consuming role needs a free seat)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPut, acctPath(args[0], "users", args[1], "role"), api.MemberRequest{Role: ledger.Role(args[2])}, "role set")
		},
	}
	var spw string
	var spwStdin bool
	setPw := &cobra.Command{
		Use: "set-password ACCOUNT EMAIL", Short: "Set a user's password (--password-stdin, --password or $TALLY_PASSWORD)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := password(spw, spwStdin, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "users", args[1], "password"), api.MemberRequest{Password: p}, "password set")
		},
	}
	setPw.Flags().StringVar(&spw, "password", "", "the new password")
	setPw.Flags().BoolVar(&spwStdin, "password-stdin", false, "read the password from stdin")
	var periodEnd string
	setPlan := &cobra.Command{
		Use:   "set-plan ACCOUNT EMAIL PLAN",
		Short: "Put one user on another plan (refused if it would split a team: use teams set-plan)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.MemberRequest{Plan: args[2]}
			if err := parseTime(periodEnd, &req.PeriodEnd); err != nil {
				return err
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "users", args[1], "plan"), req, "plan set")
		},
	}
	setPlan.Flags().StringVar(&periodEnd, "period-end", "", "the user's contract period end (RFC 3339; default the account's)")
	var inPw string
	var inStdin bool
	signin := &cobra.Command{
		Use: "signin ACCOUNT EMAIL", Short: "Check a user's password (exit 1 if wrong)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := password(inPw, inStdin, cmd.InOrStdin())
			if err != nil {
				return err
			}
			var res api.SignInResponse
			return a.show(http.MethodPost, acctPath(args[0], "signin"), api.MemberRequest{Email: args[1], Password: p}, &res, func(out io.Writer) error {
				fmt.Fprintf(out, "signed in as %s (%s)\n", res.User.Email, res.User.Role)
				return nil
			})
		},
	}
	signin.Flags().StringVar(&inPw, "password", "", "the password")
	signin.Flags().BoolVar(&inStdin, "password-stdin", false, "read the password from stdin")
	adminEmail := &cobra.Command{
		Use:   "admin-email ACCOUNT EMAIL",
		Short: "Set the account's administrator address (role-based; it holds no seat unless a seat-consuming user has it)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPut, acctPath(args[0], "admin-email"), api.MemberRequest{Email: args[1]}, "administrator address set")
		},
	}
	c.AddCommand(list, add, show, del, setRole, setPw, setPlan, signin, adminEmail, a.signOutCmd())
	return c
}

func parseTime(s string, t *time.Time) error {
	if s == "" {
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if d, derr := time.ParseDuration(s); derr == nil {
			*t = time.Now().UTC().Add(d).Truncate(time.Second)
			return nil
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("time %q: want RFC 3339 (2027-01-31T00:00:00Z) or a duration from now (720h)", s)}
	}
	*t = v
	return nil
}

func (a *app) invitationsCmd() *cobra.Command {
	c := &cobra.Command{Use: "invitations", Aliases: []string{"invite"}, Short: "Invite users; a pending invitation holds a seat until accepted, cancelled or expired"}
	var role, expires string
	var teams []string
	send := &cobra.Command{
		Use: "send ACCOUNT EMAIL", Short: "Invite a user (a seat-consuming role needs a free seat)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPost, acctPath(args[0], "invitations"), api.MemberRequest{Email: args[1], Role: ledger.Role(role), Teams: teams, ExpiresIn: expires}, "invited")
		},
	}
	send.Flags().StringVar(&role, "role", "member", "owner, administrator, member, administrator_assistant or assistant")
	send.Flags().StringVar(&expires, "expires-in", "", "how long the invitation stays open (default 168h)")
	send.Flags().StringSliceVar(&teams, "team", nil, "teams the user joins")
	var pw string
	var pwStdin bool
	accept := &cobra.Command{
		Use: "accept ACCOUNT EMAIL", Short: "Accept an invitation, setting the user's password", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := password(pw, pwStdin, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return a.memberCall(http.MethodPost, acctPath(args[0], "invitations", args[1], "accept"), api.MemberRequest{Password: p}, "accepted")
		},
	}
	accept.Flags().StringVar(&pw, "password", "", "the user's password")
	accept.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin")
	cancel := &cobra.Command{
		Use: "cancel ACCOUNT EMAIL", Short: "Cancel a pending invitation; its seat is freed", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodDelete, acctPath(args[0], "invitations", args[1]), nil, "cancelled")
		},
	}
	expire := &cobra.Command{
		Use: "expire ACCOUNT", Short: "Drop expired invitations now (the leader also does it by itself)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPost, acctPath(args[0], "invitations", "expire"), nil, "nothing expired")
		},
	}
	c.AddCommand(send, accept, cancel, expire)
	return c
}

func (a *app) teamsCmd() *cobra.Command {
	c := &cobra.Command{Use: "teams", Short: "Teams: a member in many teams holds one seat; out of every team they are unassigned"}
	list := listCmd(a, list[ledger.TeamUsage]{
		use:    "list ACCOUNT",
		short:  "List teams with their members and seats",
		path:   func(args []string) string { return acctPath(args[0], "teams") },
		header: "TEAM\tMEMBERS\tSEATS\tACTIVE\tPENDING",
		row: func(t ledger.TeamUsage) string {
			return fmt.Sprintf("%s\t%d\t%d\t%d\t%d", t.Team, t.Members, t.Seats, t.Active, t.Pending)
		},
	})
	create := &cobra.Command{
		Use: "create ACCOUNT TEAM", Short: "Create a team", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPost, acctPath(args[0], "teams"), api.MemberRequest{Name: args[1]}, "team "+args[1]+" created")
		},
	}
	del := &cobra.Command{
		Use: "delete ACCOUNT TEAM", Short: "Delete a team; members in no other team become unassigned", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodDelete, acctPath(args[0], "teams", args[1]), nil, "team "+args[1]+" deleted")
		},
	}
	add := &cobra.Command{
		Use: "add ACCOUNT TEAM EMAIL", Short: "Put a user in a team", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPut, acctPath(args[0], "teams", args[1], "members", args[2]), nil, "added")
		},
	}
	remove := &cobra.Command{
		Use: "remove ACCOUNT TEAM EMAIL", Short: "Take a user out of a team (out of every team: unassigned, still holding the seat)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodDelete, acctPath(args[0], "teams", args[1], "members", args[2]), nil, "removed")
		},
	}
	var removeAdmin bool
	admin := &cobra.Command{
		Use:   "admin ACCOUNT TEAM EMAIL",
		Short: "Make a team member the team's administrator (--remove to stop); they manage its members and invitations in the console",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if removeAdmin {
				return a.memberCall(http.MethodDelete, acctPath(args[0], "teams", args[1], "admins", args[2]), nil, "no longer administers "+args[1])
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "teams", args[1], "admins", args[2]), nil, "administers "+args[1])
		},
	}
	admin.Flags().BoolVar(&removeAdmin, "remove", false, "stop the member administering the team")
	var periodEnd string
	setPlan := &cobra.Command{
		Use: "set-plan ACCOUNT TEAM PLAN", Short: "Move every member of a team to a plan together", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.MemberRequest{Plan: args[2]}
			if err := parseTime(periodEnd, &req.PeriodEnd); err != nil {
				return err
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "teams", args[1], "plan"), req, "plan set")
		},
	}
	setPlan.Flags().StringVar(&periodEnd, "period-end", "", "the team's contract period end (RFC 3339; default the account's)")
	c.AddCommand(list, create, del, add, remove, admin, setPlan)
	return c
}

func (a *app) seatsCmd() *cobra.Command {
	c := &cobra.Command{Use: "seats", Short: "An account's purchased member seats and who may take one"}
	set := &cobra.Command{
		Use:   "set ACCOUNT SEATS",
		Short: "Set the purchased seats (raise any time; lowering below active + pending is refused)",
		Long: `Set how many member seats the account has bought. Under 10 seats the cap is
hard: no one joins a full account. From 10 seats it is soft: members may go
over for 30 days (usage shows since when), after which new members are refused.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("seats %q is not a whole number", args[1])}
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "seats"), api.MemberRequest{Seats: &n}, fmt.Sprintf("%s: %d seats", args[0], n))
		},
	}
	var domain string
	var emails []string
	var none bool
	policy := &cobra.Command{
		Use:   "policy ACCOUNT (--domain DOMAIN | --emails A,B | --none)",
		Short: "Who joins by activating a device: anyone in an email domain, or only listed emails",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.MemberRequest{}
			switch {
			case none:
			case domain != "" && len(emails) > 0:
				return &ExitError{Code: 2, Err: fmt.Errorf("give --domain or --emails, not both")}
			case domain != "":
				req.Mode, req.Domain = "domain", domain
			case len(emails) > 0:
				req.Mode, req.Emails = "list", emails
			default:
				return &ExitError{Code: 2, Err: fmt.Errorf("give --domain, --emails or --none")}
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "seat-policy"), req, "seat policy set")
		},
	}
	policy.Flags().StringVar(&domain, "domain", "", "email domain whose users join on activation")
	policy.Flags().StringSliceVar(&emails, "emails", nil, "the only emails that join on activation")
	policy.Flags().BoolVar(&none, "none", false, "no one joins by activation; invite users instead")
	var note string
	request := &cobra.Command{
		Use:   "request ACCOUNT SEATS --note TEXT",
		Short: "Ask the cluster operator for SEATS more member seats (e-mailed to them; recorded in the audit log)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return &ExitError{Code: 2, Err: fmt.Errorf("seats %q is not a positive whole number", args[1])}
			}
			return a.memberCall(http.MethodPost, acctPath(args[0], "seat-requests"), api.SeatRequestRequest{Seats: n, Note: note},
				fmt.Sprintf("%s: asked the cluster operator for %d more seats", args[0], n))
		},
	}
	request.Flags().StringVar(&note, "note", "", "why, for whom, by when (at most 500 characters)")
	var currency, period string
	var price float64
	prices := &cobra.Command{
		Use:   "prices ACCOUNT --currency EUR --seat-price 12.50 --period month",
		Short: "Set the plan prices (per member seat and period) behind usage's estimate of the next charge; --seat-price 0 and no currency clears them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			minor := int64(math.Round(price * 100))
			p := ledger.Prices{Currency: strings.ToUpper(currency), SeatPrice: minor, Period: period}
			if minor == 0 && currency == "" {
				p = ledger.Prices{}
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "prices"), p, fmt.Sprintf("%s: prices set", args[0]))
		},
	}
	prices.Flags().StringVar(&currency, "currency", "", "ISO 4217 code, e.g. EUR")
	prices.Flags().Float64Var(&price, "seat-price", 0, "price of one member seat per period, e.g. 12.50")
	prices.Flags().StringVar(&period, "period", ledger.PeriodMonth, "billing period: month or year")
	c.AddCommand(set, policy, request, prices)
	return c
}

func (a *app) subscriptionCmd() *cobra.Command {
	c := &cobra.Command{Use: "subscription", Short: "An account's plan, contract period and renewal setting"}
	var plan, start, end, renewal string
	set := &cobra.Command{
		Use:   "set ACCOUNT",
		Short: "Set plan, contract period and renewal (keep-seats or shrink-to-allocated)",
		Long: `Set the account's plan and contract period. At the period's end the leader
renews it for another period of the same length: keep-seats keeps the
purchased seats, shrink-to-allocated lowers them to active + pending.
--start and --end take RFC 3339 times or durations from now (720h).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.MemberRequest{Plan: plan, Renewal: renewal}
			if err := parseTime(start, &req.PeriodStart); err != nil {
				return err
			}
			if err := parseTime(end, &req.PeriodEnd); err != nil {
				return err
			}
			return a.memberCall(http.MethodPut, acctPath(args[0], "subscription"), req, "subscription set")
		},
	}
	set.Flags().StringVar(&plan, "plan", "", "plan name")
	set.Flags().StringVar(&start, "start", "", "contract period start (default now)")
	set.Flags().StringVar(&end, "end", "", "contract period end")
	set.Flags().StringVar(&renewal, "renewal", "", "keep-seats or shrink-to-allocated")
	renew := &cobra.Command{
		Use: "renew ACCOUNT", Short: "Renew now if the period has ended (the leader does it by itself)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCall(http.MethodPost, acctPath(args[0], "subscription", "renew"), nil, "renewed")
		},
	}
	c.AddCommand(set, renew)
	return c
}

func (a *app) usageCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "usage ACCOUNT",
		Short: "Seats purchased, active, pending, unassigned and unused, with a consumption bar and per-team distribution",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u ledger.MemberUsage
			return a.show(http.MethodGet, acctPath(args[0], "usage"), nil, &u, func(out io.Writer) error {
				printUsage(out, u)
				return nil
			})
		},
	}
}

// usageBar draws the seats as a bar: █ active in a team, ▓ unassigned
// (holding a seat in no team), ▒ pending, ░ unused, ! over the purchase.
func usageBar(u ledger.MemberUsage, width int) string {
	total := u.Purchased
	if used := u.Active + u.Pending; used > total {
		total = used
	}
	if total == 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	cells := func(n int) int { return (n*width + total/2) / total }
	assigned := u.Active - u.Unassigned
	a, un, p := cells(assigned), cells(u.Unassigned), cells(u.Pending)
	over := cells(u.Over)
	if u.Over > 0 && over == 0 {
		over = 1
	}
	free := width - a - un - p
	if free < 0 {
		free = 0
	}
	bar := []rune(strings.Repeat("█", a) + strings.Repeat("▓", un) + strings.Repeat("▒", p) + strings.Repeat("░", free))
	if len(bar) > width {
		bar = bar[:width]
	}
	// Seats used beyond the purchase are the bar's last cells.
	for i := 0; i < over && i < len(bar); i++ {
		bar[len(bar)-1-i] = '!'
	}
	return "[" + string(bar) + "]"
}

func printUsage(w io.Writer, u ledger.MemberUsage) {
	cp := "soft cap"
	if u.HardCap {
		cp = "hard cap"
	}
	fmt.Fprintf(w, "%s: %d seats purchased (%s)\n", u.Account, u.Purchased, cp)
	fmt.Fprintf(w, "  active %d (unassigned %d)  pending %d  unused %d", u.Active, u.Unassigned, u.Pending, u.Unused)
	if u.Over > 0 {
		fmt.Fprintf(w, "  OVER by %d since %s", u.Over, u.OverSince.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %s  █ active ▓ unassigned ▒ pending ░ unused\n", usageBar(u, 40))
	if u.NonConsuming > 0 {
		fmt.Fprintf(w, "  %s (no seat)\n", plural(u.NonConsuming, "assistant"))
	}
	if u.AdminEmail != "" {
		seat := "holds no seat"
		if u.AdminHoldsSeat {
			seat = "holds a seat"
		}
		fmt.Fprintf(w, "  administrator address %s (%s)\n", u.AdminEmail, seat)
	}
	switch u.Policy.Mode {
	case "domain":
		fmt.Fprintf(w, "  seat policy: anyone @%s joins on activation\n", u.Policy.Domain)
	case "list":
		fmt.Fprintf(w, "  seat policy: %d listed emails join on activation\n", len(u.Policy.Emails))
	}
	if s := u.Subscription; s.Plan != "" || !s.End.IsZero() {
		fmt.Fprintf(w, "  subscription: plan %s, %s to %s, renewal %s\n", orDash(s.Plan), fmtDate(s.Start), fmtDate(s.End), orDash(s.Renewal))
	}
	if r := u.LastRenewal; r != nil {
		fmt.Fprintf(w, "  last renewal %s (%s): seats %d -> %d\n", r.At.Format(time.RFC3339), r.Renewal, r.SeatsBefore, r.SeatsAfter)
	}
	if c := u.NextCharge; c != nil {
		when := "per " + c.Period
		if !c.At.IsZero() {
			when = "due " + c.At.UTC().Format("2 January 2006 15:04 MST") + ", for the next " + c.Period
		}
		fmt.Fprintf(w, "  next charge (estimate): %s = %d seats x %s %s\n", c.Display, c.Seats, ledger.FormatMoney(c.SeatPrice, c.Currency), when)
	}
	if len(u.Teams) > 0 {
		fmt.Fprintln(w, "  per team:")
		for _, t := range u.Teams {
			fmt.Fprintf(w, "    %-16s %9s (%d active, %d pending)  %s\n", t.Team, plural(t.Seats, "seat"), t.Active, t.Pending, strings.Repeat("█", t.Seats))
		}
	}
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
