package ctl

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/api"
)

func policyPath(account, feature string) string {
	if feature != "" {
		return acctPath(account, "pools", feature, "policy")
	}
	return acctPath(account, "policy")
}

func (a *app) policyCmd() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Floating policies of an account or a pool (stored in the ledger, pushed to agents)"}
	var feature string
	show := &cobra.Command{
		Use:   "show ACCOUNT",
		Short: "Show the stored and the effective policy of an account or, with --pool, a pool",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.PolicyView
			if err := a.call(http.MethodGet, policyPath(args[0], feature), nil, &v); err != nil {
				return codeErr(err)
			}
			return a.printPolicy(v)
		},
	}
	show.Flags().StringVar(&feature, "pool", "", "the pool's feature (default: the account-wide policy)")

	var (
		p                     ledger.Policy
		reserve, caps         []string
		subEnd                string
		clearLists, clearSubs bool
	)
	set := &cobra.Command{
		Use:   "set ACCOUNT",
		Short: "Change policy fields of an account or, with --pool, a pool; fields not given keep their value",
		Long: `Change floating policy fields. Only the flags given change; 0 resets a
field to "inherit" (pool → account → cluster default).

  --lease-ttl 5m --heartbeat 30s     lease TTL and heartbeat interval
  --idle 30m                         release after 30 minutes without SDK activity
  --max-checkout 8h                  end a checkout 8 hours after it was granted
  --linger 10m                       keep a released seat with its device 10 minutes
  --borrow-days 7                    allow offline borrowing up to 7 days
  --node-locked 3                    mixed accounts: 3 seats node-locked, the rest float
  --seat-basis member --member-devices 3
                                     what a seat covers: device (one per device, however
                                     many members sign in on it), member (named user, on
                                     up to 3 of their devices) or node-locked
  --overage 2                        soft cap (≥10 seats): go at most 2 over
  --reserve user:alice=1,team:ops=2  keep seats for a user, device or team
  --team-cap ops=3                   cap a team at 3 seats
  --allow device:LAB-1 --deny user:mallory
  --subscription-end 2027-01-31      account only: no token outlives it`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cur api.PolicyView
			if err := a.call(http.MethodGet, policyPath(args[0], feature), nil, &cur); err != nil {
				return codeErr(err)
			}
			np := cur.Stored
			fl := cmd.Flags()
			if fl.Changed("lease-ttl") {
				np.LeaseTTL = protocol.Duration(p.LeaseTTL)
			}
			if fl.Changed("heartbeat") {
				np.HeartbeatInterval = protocol.Duration(p.HeartbeatInterval)
			}
			if fl.Changed("idle") {
				np.IdleTimeout = protocol.Duration(p.IdleTimeout)
			}
			if fl.Changed("max-checkout") {
				np.MaxCheckout = protocol.Duration(p.MaxCheckout)
			}
			if fl.Changed("linger") {
				np.Linger = protocol.Duration(p.Linger)
			}
			if fl.Changed("borrow-days") {
				np.BorrowDays = p.BorrowDays
			}
			if fl.Changed("seat-basis") {
				np.SeatBasis = p.SeatBasis
			}
			if fl.Changed("member-devices") {
				np.MemberDevices = p.MemberDevices
			}
			if fl.Changed("node-locked") {
				np.NodeLocked = p.NodeLocked
			}
			if fl.Changed("overage") {
				np.Overage = p.Overage
			}
			if clearLists {
				np.Reserve, np.TeamCaps, np.Allow, np.Deny = nil, nil, nil, nil
			}
			if fl.Changed("reserve") {
				rs, err := parseReservations(reserve)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				np.Reserve = rs
			}
			if fl.Changed("team-cap") {
				m, err := parseCaps(caps)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				np.TeamCaps = m
			}
			if fl.Changed("allow") {
				np.Allow = p.Allow
			}
			if fl.Changed("deny") {
				np.Deny = p.Deny
			}
			req := api.PolicyRequest{Policy: np, ClearSubscriptionEnd: clearSubs}
			if subEnd != "" {
				t, err := parseSubscriptionEnd(subEnd)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				req.SubscriptionEnd = t
			}
			var v api.PolicyView
			if err := a.call(http.MethodPut, policyPath(args[0], feature), req, &v); err != nil {
				return codeErr(err)
			}
			return a.printPolicy(v)
		},
	}
	f := set.Flags()
	f.StringVar(&feature, "pool", "", "the pool's feature (default: the account-wide policy)")
	f.DurationVar(&p.LeaseTTL, "lease-ttl", 0, "lease TTL (horizon extension)")
	f.DurationVar(&p.HeartbeatInterval, "heartbeat", 0, "heartbeat interval agents are told to use")
	f.DurationVar(&p.IdleTimeout, "idle", 0, "release a lease after this long without SDK activity (0: never)")
	f.DurationVar(&p.MaxCheckout, "max-checkout", 0, "maximum checkout duration (0: none)")
	f.DurationVar(&p.Linger, "linger", 0, "keep a released seat with its device this long")
	f.IntVar(&p.BorrowDays, "borrow-days", 0, "offline borrow limit in days (0: no borrowing)")
	f.IntVar(&p.NodeLocked, "node-locked", 0, "mixed model: seats of the pool that are node-locked")
	f.StringVar(&p.SeatBasis, "seat-basis", "", "what one seat covers: device, member or node-locked (default: node-locked for standard accounts, else device)")
	f.IntVar(&p.MemberDevices, "member-devices", 0, "member seat basis: how many devices one member may use a seat on (0: no limit)")
	f.IntVar(&p.Overage, "overage", 0, "soft cap: how far over its seats a pool of 10+ may go (0: a tenth)")
	f.StringSliceVar(&reserve, "reserve", nil, "reservations KIND:NAME=SEATS (KIND user, device or team)")
	f.StringSliceVar(&caps, "team-cap", nil, "team caps TEAM=SEATS")
	f.StringSliceVar(&p.Allow, "allow", nil, "allow list entries KIND:NAME")
	f.StringSliceVar(&p.Deny, "deny", nil, "deny list entries KIND:NAME")
	f.BoolVar(&clearLists, "clear-lists", false, "drop reservations, team caps, allow and deny lists")
	f.StringVar(&subEnd, "subscription-end", "", "account only: subscription end (YYYY-MM-DD or RFC 3339)")
	f.BoolVar(&clearSubs, "clear-subscription-end", false, "account only: remove the subscription end")
	c.AddCommand(show, set)
	return c
}

func parseSubscriptionEnd(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("subscription end %q is neither YYYY-MM-DD nor RFC 3339", s)
	}
	return t.UTC(), nil
}

func parseReservations(in []string) ([]ledger.Reservation, error) {
	out := []ledger.Reservation{}
	for _, e := range in {
		who, n, ok := strings.Cut(e, "=")
		kind, name, ok2 := strings.Cut(who, ":")
		seats, err := strconv.Atoi(n)
		if !ok || !ok2 || err != nil {
			return nil, fmt.Errorf("reservation %q must be KIND:NAME=SEATS, e.g. team:ops=2", e)
		}
		out = append(out, ledger.Reservation{Kind: kind, Name: name, Seats: seats})
	}
	return out, nil
}

func parseCaps(in []string) (map[string]int, error) {
	out := map[string]int{}
	for _, e := range in {
		team, n, ok := strings.Cut(e, "=")
		seats, err := strconv.Atoi(n)
		if !ok || err != nil {
			return nil, fmt.Errorf("team cap %q must be TEAM=SEATS, e.g. ops=3", e)
		}
		out[team] = seats
	}
	return out, nil
}

func (a *app) printPolicy(v api.PolicyView) error {
	return a.printer().print(v, func(out io.Writer) error {
		scope := v.Account
		if v.Feature != "" {
			scope += "/" + v.Feature
		}
		e, s := v.Effective, v.Stored
		mark := func(set bool) string {
			if set {
				return ""
			}
			return " (inherited)"
		}
		dur := func(d protocol.Duration) string {
			if d == 0 {
				return "-"
			}
			return d.String()
		}
		w := a.table()
		fmt.Fprintf(w, "policy of %s\n", scope)
		fmt.Fprintf(w, "lease TTL\t%s%s\n", dur(e.LeaseTTL), mark(s.LeaseTTL != 0))
		fmt.Fprintf(w, "heartbeat\t%s%s\n", dur(e.HeartbeatInterval), mark(s.HeartbeatInterval != 0))
		fmt.Fprintf(w, "idle release\t%s%s\n", dur(e.IdleTimeout), mark(s.IdleTimeout != 0))
		fmt.Fprintf(w, "max checkout\t%s%s\n", dur(e.MaxCheckout), mark(s.MaxCheckout != 0))
		fmt.Fprintf(w, "linger\t%s%s\n", dur(e.Linger), mark(s.Linger != 0))
		fmt.Fprintf(w, "borrow limit\t%d days%s\n", e.BorrowDays, mark(s.BorrowDays != 0))
		fmt.Fprintf(w, "node-locked seats\t%d%s\n", e.NodeLocked, mark(s.NodeLocked != 0))
		fmt.Fprintf(w, "seat basis\t%s%s\n", seatBasisText(e.SeatBasis, e.MemberDevices), mark(s.SeatBasis != ""))
		fmt.Fprintf(w, "overage\t%d%s\n", e.Overage, mark(s.Overage != 0))
		var rs []string
		for _, r := range e.Reserve {
			rs = append(rs, fmt.Sprintf("%s:%s=%d", r.Kind, r.Name, r.Seats))
		}
		var cs []string
		for t, n := range e.TeamCaps {
			cs = append(cs, fmt.Sprintf("%s=%d", t, n))
		}
		sort.Strings(cs)
		fmt.Fprintf(w, "reservations\t%s\n", orDash(strings.Join(rs, ",")))
		fmt.Fprintf(w, "team caps\t%s\n", orDash(strings.Join(cs, ",")))
		fmt.Fprintf(w, "allow\t%s\n", orDash(strings.Join(e.Allow, ",")))
		fmt.Fprintf(w, "deny\t%s\n", orDash(strings.Join(e.Deny, ",")))
		if !v.SubscriptionEnd.IsZero() {
			fmt.Fprintf(w, "subscription end\t%s\n", v.SubscriptionEnd.UTC().Format(time.RFC3339))
		}
		if !v.OverSince.IsZero() {
			fmt.Fprintf(w, "over its %d seats since\t%s\n", v.Seats, v.OverSince.UTC().Format(time.RFC3339))
		}
		return w.Flush()
	})
}

// deviceSeatCmds are `tallyctl devices move|free`, for node-locked seats.
func (a *app) deviceSeatCmds() []*cobra.Command {
	var feature string
	run := func(account, code, to string) error {
		verb := "free"
		if to != "" {
			verb = "move"
		}
		var l *ledger.Lease
		if err := a.call(http.MethodPost, acctPath(account, "devices", code, verb),
			api.DeviceOpRequest{Feature: feature, To: to}, &l); err != nil {
			return codeErr(err)
		}
		return a.printer().print(l, func(out io.Writer) error {
			if to != "" {
				fmt.Fprintf(out, "moved the node-locked seats of %s/%s to %s\n", account, code, to)
			} else {
				fmt.Fprintf(out, "freed the node-locked seats of %s/%s (reusable once their tokens expire)\n", account, code)
			}
			return nil
		})
	}
	move := &cobra.Command{
		Use: "move ACCOUNT DEVICE TO-DEVICE", Short: "Move a device's node-locked licenses to another device of the account",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error { return run(args[0], args[1], args[2]) },
	}
	free := &cobra.Command{
		Use: "free ACCOUNT DEVICE", Short: "Free a device's node-locked licenses",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return run(args[0], args[1], "") },
	}
	remove := &cobra.Command{
		Use:   "remove ACCOUNT DEVICE",
		Short: "Remove a device: its leases are revoked (seats free once their tokens expire) and its Device Code may enroll again, e.g. after a reinstall",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d ledger.Device
			return a.show(http.MethodDelete, acctPath(args[0], "devices", args[1]), nil, &d, func(out io.Writer) error {
				fmt.Fprintf(out, "removed device %s of %s (enrolled %s); its leases are revoked and it may enroll again\n", d.Code, d.Account, d.Enrolled.Local().Format("2006-01-02 15:04"))
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{move, free} {
		c.Flags().StringVar(&feature, "pool", "", "only this pool's seat (default: every pool)")
	}
	return []*cobra.Command{move, free, remove}
}

func (a *app) eventsCmd() *cobra.Command {
	var account string
	var after uint64
	c := &cobra.Command{
		Use:   "events",
		Short: "Administrator events recorded in the ledger (overage start, daily reminders) and reminders due",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if account != "" {
				q.Set("account", account)
			}
			if after > 0 {
				q.Set("after", strconv.FormatUint(after, 10))
			}
			var v api.EventsView
			return a.show(http.MethodGet, "/v1/events?"+q.Encode(), nil, &v, func(out io.Writer) error {
				w := a.table()
				fmt.Fprintln(w, "SEQ\tAT\tKIND\tPOOL\tMESSAGE")
				for _, e := range v.Events {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s/%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Kind, e.Account, e.Feature, e.Message)
				}
				for _, e := range v.Pending {
					fmt.Fprintf(w, "-\t%s\tpending %s\t%s/%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Kind, e.Account, e.Feature, e.Message)
				}
				return w.Flush()
			})
		},
	}
	c.Flags().StringVar(&account, "account", "", "only this account")
	c.Flags().Uint64Var(&after, "after", 0, "only events after this sequence number")
	return c
}
