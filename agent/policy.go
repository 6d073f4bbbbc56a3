package agent

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// policyTick is how often the agent checks release triggers it enforces
// locally: idle applications and exited processes.
const policyTick = 500 * time.Millisecond

type connKey struct{}

// withConn keeps the local API connection in the request context, so that
// a checkout can learn which process asked (release on exit).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// tieToCaller records the process behind r as an owner of the lease on
// feature. A lease with owners is released once all of them have exited.
func (a *agent) tieToCaller(r *http.Request, l protocol.Lease) {
	feature, key := l.Feature, keyOfLease(l)
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	pid := peerPID(c)
	if pid <= 0 {
		a.log.Warn("cannot tie the lease to the calling process on this platform", "feature", feature)
		return
	}
	a.mu.Lock()
	if a.owners == nil {
		a.owners = map[string][]int{}
	}
	if !slices.Contains(a.owners[key], pid) {
		a.owners[key] = append(a.owners[key], pid)
	}
	a.mu.Unlock()
}

// featurePolicy is the pushed policy for one feature.
func (a *agent) featurePolicyLocked(feature string) protocol.AgentPolicy {
	if p, ok := a.policy.Features[feature]; ok {
		return p
	}
	return a.policy
}

// enforcePolicy releases leases whose application exited or went idle, until
// ctx ends. The server enforces the other triggers (maximum checkout,
// horizons); agent stop releases everything (releaseAll).
func (a *agent) enforcePolicy(ctx context.Context) {
	t := time.NewTicker(policyTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for key, why := range a.releaseDue() {
			feature, _, _ := strings.Cut(key, "\x00")
			a.log.Info("releasing lease by policy", "feature", feature, "trigger", why)
			if _, err := a.releaseKey(ctx, key); err != nil && ctx.Err() == nil {
				a.log.Warn("policy release failed", "feature", feature, "err", err)
			}
		}
	}
}

// releaseDue lists the held features a release trigger fired for.
func (a *agent) releaseDue() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]string{}
	now := a.now()
	for key, l := range a.leases {
		feature := l.Feature
		if pids, ok := a.owners[key]; ok {
			alive := pids[:0]
			for _, pid := range pids {
				if processAlive(pid) {
					alive = append(alive, pid)
				}
			}
			if len(alive) == 0 {
				delete(a.owners, key)
				out[key] = "process exit"
				continue
			}
			a.owners[key] = alive
		}
		if l.Kind == "node-locked" || l.Kind == "borrowed" {
			continue
		}
		idle := a.featurePolicyLocked(feature).IdleTimeout.D()
		if idle <= 0 {
			continue
		}
		last := a.activity[key]
		if last.IsZero() {
			last = l.Since
		}
		if now.Sub(last) >= idle {
			out[key] = "idle"
		}
	}
	return out
}
