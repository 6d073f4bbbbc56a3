package leasing

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// QuickAnswer is what the datagram heartbeat says when every lease is held
// with nothing to renew: the server time and each lease's horizon, in the
// order asked.
type QuickAnswer struct {
	ServerTime time.Time
	Expires    []time.Time
}

// QuickHeartbeat answers a datagram heartbeat from the applied state alone,
// read-only: ok only when every lease listed is this device's, neither
// revoked nor vacant, with its horizon at least half a TTL away (the cases
// Heartbeat answers from memory without Raft), and when the view the device
// was last given (view, ViewDigest of that answer) is still what Heartbeat
// would answer. Anything else is not ok, and the device heartbeats over
// QUIC, where Heartbeat renews, reports losses and pushes the new view. On
// ok it keeps the same books as Heartbeat (lastSeen, the heartbeat metric);
// it never proposes.
func (s *Service) QuickHeartbeat(dev ledger.DeviceRef, ids []uint64, view uint64) (QuickAnswer, bool) {
	now := s.now()
	ans := QuickAnswer{ServerTime: now, Expires: make([]time.Time, len(ids))}
	ok := true
	var interval protocol.Duration
	var policy *protocol.AgentPolicy
	s.store.Read(func(st *ledger.State) {
		refs := make([]protocol.LeaseRef, len(ids))
		for i, id := range ids {
			l, verdict := heartbeatVerdict(st, dev, id, now)
			if verdict != heldFromMemory {
				ok = false
				return
			}
			ans.Expires[i] = l.Horizon
			refs[i] = protocol.LeaseRef{ID: id, Feature: l.Feature}
		}
		interval, policy = agentPolicy(st, dev.Account, refs)
	})
	if !ok || viewDigest(interval, policy, s.cfg.Servers()) != view {
		return QuickAnswer{}, false
	}
	if s.cfg.OnHeartbeat != nil {
		s.cfg.OnHeartbeat()
	}
	s.touch(ids...)
	return ans, true
}

// ViewDigest is a digest of what a heartbeat answer tells an agent besides
// its leases (interval, policy, server addresses): a datagram heartbeat is
// answered "ok" only while it is unchanged, so that a policy or cluster
// change reaches the agent at its next heartbeat, over QUIC. It is kept in
// the node's memory, never sent, so it need not be stable across builds.
func ViewDigest(resp *protocol.HeartbeatResponse) uint64 {
	return viewDigest(resp.Interval, resp.Policy, resp.Servers)
}

func viewDigest(interval protocol.Duration, p *protocol.AgentPolicy, servers []protocol.ServerInfo) uint64 {
	h := fnv.New64a()
	var b []byte
	num := func(v int64) { b = binary.BigEndian.AppendUint64(b, uint64(v)) }
	str := func(v string) { num(int64(len(v))); b = append(b, v...) }
	pol := func(p protocol.AgentPolicy) {
		num(int64(p.LeaseTTL))
		num(int64(p.IdleTimeout))
		num(int64(p.MaxCheckout))
		num(int64(p.Linger))
	}
	num(int64(interval))
	if p != nil {
		pol(*p)
		features := make([]string, 0, len(p.Features))
		for f := range p.Features {
			features = append(features, f)
		}
		sort.Strings(features)
		for _, f := range features {
			str(f)
			pol(p.Features[f])
		}
	}
	// The agent uses the addresses; which one leads is news it can wait
	// for (a leader change alone sends no fleet back to QUIC).
	addrs := make([]string, 0, len(servers))
	for _, sv := range servers {
		addrs = append(addrs, sv.Addr)
	}
	slices.Sort(addrs)
	str("servers")
	for _, a := range addrs {
		str(a)
	}
	h.Write(b)
	return h.Sum64()
}
