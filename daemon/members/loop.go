// Package members runs the leader's housekeeping for account members:
// expiring invitations and renewing subscriptions at the end of their
// contract period. It only proposes ledger commands; the ledger decides,
// from the command's time, whether each one is still due.
//
// Design: docs/design.md#data-model.
package members

import (
	"context"
	"log/slog"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
)

// Store is the part of the Raft store the loop reads.
type Store interface {
	IsLeader() bool
	Read(func(*ledger.State))
}

// Config configures Run.
type Config struct {
	Store    Store
	Propose  func(ctx context.Context, c ledger.Command) (ledger.Result, error)
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Run scans, while this node leads, for expired invitations and ended
// contract periods and proposes expire_invites and renew commands for them.
func Run(ctx context.Context, cfg Config) {
	cfg = cfg.withDefaults()
	store.EveryWhileLeading(ctx, cfg.Interval, cfg.Store.IsLeader, func(ctx context.Context) { Sweep(ctx, cfg) })
}

func (cfg Config) withDefaults() Config {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Sweep proposes the commands that are due now.
func Sweep(ctx context.Context, cfg Config) {
	cfg = cfg.withDefaults()
	var expire, renew []string
	cfg.Store.Read(func(st *ledger.State) { expire, renew = st.MembersDue(cfg.Now()) })
	for _, acct := range expire {
		res, err := cfg.Propose(ctx, ledger.Command{Type: ledger.CmdExpireInvites, Payload: &ledger.ExpireInvites{Account: acct}})
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			cfg.Logger.Warn("could not expire invitations", "account", acct, "err", err)
			continue
		}
		if res.Members != nil && len(res.Members.Changed) > 0 {
			cfg.Logger.Info("invitations expired", "account", acct, "users", res.Members.Changed)
		}
	}
	for _, acct := range renew {
		res, err := cfg.Propose(ctx, ledger.Command{Type: ledger.CmdRenewContract, Payload: &ledger.RenewContract{Account: acct}})
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			cfg.Logger.Warn("could not renew subscription", "account", acct, "err", err)
			continue
		}
		if r := res.Members; r != nil && r.Renewal != nil {
			cfg.Logger.Info("subscription renewed", "account", acct, "renewal", r.Renewal.Renewal,
				"seats_before", r.Renewal.SeatsBefore, "seats_after", r.Renewal.SeatsAfter, "new_end", r.Renewal.NewEnd)
		}
	}
}
