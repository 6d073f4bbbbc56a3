package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"os"

	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// entitlementsFile caches the last bundle received, so an application can
// check leases against its entitlement while the cluster is unreachable.
const entitlementsFile = "entitlements.json"

// handleEntitlements serves the entitlement bundle: fresh from the cluster
// when it answers, else the cached one.
func (a *agent) handleEntitlements(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	b, err := a.fetchEntitlements(ctx)
	if err != nil {
		cached, cerr := a.cachedEntitlements()
		if cerr != nil {
			writeError(w, err)
			return
		}
		b = cached
	}
	writeJSON(w, http.StatusOK, b)
}

func (a *agent) fetchEntitlements(ctx context.Context) (*entitlement.Bundle, error) {
	var resp protocol.EntitlementsResponse
	if err := a.call(ctx, protocol.TypeEntitlements, newRequestID(), struct{}{}, &resp); err != nil {
		return nil, err
	}
	return a.keepEntitlements(resp.Entitlements, resp.KeyCerts)
}

// keepEntitlements makes the bundle from what the cluster sent (over the
// connection, or in an offline lease file) and the agent's CA, and caches it.
func (a *agent) keepEntitlements(ents, keyCerts []string) (*entitlement.Bundle, error) {
	ca, err := os.ReadFile(a.cfg.CAFile)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "read the cluster CA %s: %v", a.cfg.CAFile, err)
	}
	b := &entitlement.Bundle{Entitlements: ents, CA: string(ca), KeyCerts: keyCerts}
	if doc, err := json.Marshal(b); err == nil {
		if err := state.WriteFileAtomic(a.dir.File(entitlementsFile), doc, 0o644); err != nil {
			a.log.Warn("cannot cache the entitlements", "err", err)
		}
	}
	return b, nil
}

func (a *agent) cachedEntitlements() (*entitlement.Bundle, error) {
	doc, err := os.ReadFile(a.dir.File(entitlementsFile))
	if err != nil {
		return nil, err
	}
	var b entitlement.Bundle
	if err := json.Unmarshal(doc, &b); err != nil {
		return nil, err
	}
	return &b, nil
}
