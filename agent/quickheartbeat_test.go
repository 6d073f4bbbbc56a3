package agent

import (
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// The agent sends a datagram only when no lease is within half its TTL of
// its horizon (a node would renew it, which only QUIC does), using the
// per-feature TTL when the policy has one, and never before it knows a TTL.
func TestRenewalDueMirrorsTheNodesRule(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	a := &agent{now: func() time.Time { return now }, leases: map[string]protocol.Lease{
		"cad": {ID: 1, Feature: "cad", Expires: now.Add(3 * time.Minute)},
		"cam": {ID: 2, Feature: "cam", Expires: now.Add(40 * time.Second)},
	}}
	cad := []protocol.LeaseRef{{ID: 1, Feature: "cad"}}
	both := append(cad, protocol.LeaseRef{ID: 2, Feature: "cam"})
	if !a.renewalDue(cad) {
		t.Error("no policy known yet: want QUIC")
	}
	a.policy = protocol.AgentPolicy{LeaseTTL: protocol.Duration(5 * time.Minute)}
	if a.renewalDue(cad) {
		t.Error("3 min left of a 5 min TTL: a datagram suffices")
	}
	if !a.renewalDue(both) {
		t.Error("40 s left of a 5 min TTL: the renewal needs QUIC")
	}
	a.policy.Features = map[string]protocol.AgentPolicy{"cam": {LeaseTTL: protocol.Duration(time.Minute)}}
	if a.renewalDue(both) {
		t.Error("40 s left of cam's 1 min TTL: a datagram suffices")
	}
	a.policy.LeaseTTL = protocol.Duration(10 * time.Minute)
	if !a.renewalDue(cad) {
		t.Error("3 min left of a 10 min TTL: the renewal needs QUIC")
	}
}
