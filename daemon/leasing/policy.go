package leasing

import (
	"context"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// AccountHeartbeatInterval is the interval the account's policy asks its
// agents to heartbeat at (the cluster default when it sets none).
func (s *Service) AccountHeartbeatInterval(account string) (d protocol.Duration) {
	s.store.Read(func(st *ledger.State) { d = protocol.Duration(st.EffectivePolicy(account, "").HeartbeatInterval) })
	return d
}

// agentPolicy is what a heartbeat answer pushes: the account's interval and
// the locally enforced parts of its policy, with per-feature overrides for
// the features the device holds. Agents apply it on receipt, so a policy
// change reaches connected agents within one heartbeat.
func agentPolicy(st *ledger.State, account string, leases []protocol.LeaseRef) (protocol.Duration, *protocol.AgentPolicy) {
	acct := st.EffectivePolicy(account, "")
	out := toAgent(acct)
	for _, ref := range leases {
		if ref.Feature == "" {
			continue
		}
		if _, done := out.Features[ref.Feature]; done {
			continue
		}
		fp := toAgent(st.EffectivePolicy(account, ref.Feature))
		if fp.LeaseTTL != out.LeaseTTL || fp.IdleTimeout != out.IdleTimeout || fp.MaxCheckout != out.MaxCheckout || fp.Linger != out.Linger {
			if out.Features == nil {
				out.Features = map[string]protocol.AgentPolicy{}
			}
			out.Features[ref.Feature] = fp
		}
	}
	return protocol.Duration(acct.HeartbeatInterval), &out
}

func toAgent(p ledger.Policy) protocol.AgentPolicy {
	return protocol.AgentPolicy{
		LeaseTTL: protocol.Duration(p.LeaseTTL), IdleTimeout: protocol.Duration(p.IdleTimeout),
		MaxCheckout: protocol.Duration(p.MaxCheckout), Linger: protocol.Duration(p.Linger),
	}
}

// remind records the daily overage reminders that are due as ledger events
// (daemon/notify mails them to the administrator).
func (s *Service) remind(ctx context.Context, now time.Time) {
	var due int
	s.store.Read(func(st *ledger.State) { due = len(st.PendingReminders(now)) })
	if due == 0 {
		return
	}
	if _, err := s.propose(ctx, ledger.Command{Type: ledger.CmdRemind}); err != nil {
		s.log.Warn("cannot record overage reminders", "count", due, "err", err)
	}
}
