package agent

import (
	"context"
	"time"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/protocol"
)

// quickHeartbeat tries the heartbeat as one datagram (client.QuickHeartbeat)
// when the agent holds a session with its server and no lease is due for
// renewal (which only QUIC can do). It reports whether the server answered
// "all still held"; anything else leaves the heartbeat to QUIC, at once.
func (a *agent) quickHeartbeat(ctx context.Context, c *client.Client, refs []protocol.LeaseRef, signIns []string) bool {
	if !c.HasSession() || a.renewalDue(refs) {
		return false
	}
	ids := make([]uint64, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	ans, err := c.QuickHeartbeat(ctx, ids, signIns)
	if err != nil {
		a.log.Debug("datagram heartbeat not answered; heartbeating over QUIC", "err", err)
		return false
	}
	a.mu.Lock()
	a.observeServerTimeLocked(ans.ServerTime)
	a.lastHeartbeat = a.now()
	byID := make(map[uint64]string, len(a.leases))
	for k, l := range a.leases {
		byID[l.ID] = k
	}
	for i, id := range ids {
		key, ok := byID[id]
		if !ok {
			continue // released or replaced meanwhile
		}
		l := a.leases[key]
		l.Expires = ans.Expires[i]
		a.leases[key] = l
	}
	a.mu.Unlock()
	return true
}

// renewalDue reports whether a lease's horizon is within half its TTL,
// where a node renews it (through Raft, with a new token): the datagram
// would only be told to ask over QUIC.
func (a *agent) renewalDue(refs []protocol.LeaseRef) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	byID := make(map[uint64]protocol.Lease, len(a.leases))
	for _, l := range a.leases {
		byID[l.ID] = l
	}
	for _, r := range refs {
		l, ok := byID[r.ID]
		if !ok {
			continue
		}
		ttl := a.featurePolicyLocked(l.Feature).LeaseTTL.D()
		if ttl <= 0 { // the feature's own policy leaves the TTL to the account's
			ttl = a.policy.LeaseTTL.D()
		}
		if ttl <= 0 || l.Expires.Sub(now) < ttl/2 {
			return true
		}
	}
	return false
}

// datagramBudget bounds the datagram attempt within a heartbeat, so that
// the QUIC heartbeat after it keeps most of the request time.
const datagramBudget = 2*client.DatagramTimeout + 100*time.Millisecond
