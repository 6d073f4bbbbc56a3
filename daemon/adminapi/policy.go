package adminapi

import (
	"net/http"
	"strconv"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	wire "github.com/tally-licensing/tally/protocol/api"
)

func (a *api) registerPolicy(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/policy", a.getPolicy)
	auth("PUT /v1/accounts/{account}/policy", a.putPolicy)
	auth("GET /v1/accounts/{account}/pools/{feature}/policy", a.getPolicy)
	auth("PUT /v1/accounts/{account}/pools/{feature}/policy", a.putPolicy)
	auth("POST /v1/accounts/{account}/devices/{code}/move", a.deviceOp(true))
	auth("POST /v1/accounts/{account}/devices/{code}/free", a.deviceOp(false))
	auth("DELETE /v1/accounts/{account}/devices/{code}", a.removeDevice)
	auth("GET /v1/events", a.events)
}

func (a *api) policyView(account, feature string) (PolicyView, error) {
	v := PolicyView{Account: account, Feature: feature}
	var err error
	a.cfg.Store.Read(func(st *ledger.State) {
		acct, ok := st.Account(account)
		if !ok {
			err = protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
			return
		}
		if feature != "" {
			p, ok := acct.Pools[feature]
			if !ok {
				err = protocol.Errorf(protocol.CodeUnknownFeature, "account %s has no pool %q", account, feature)
				return
			}
			v.Seats, v.OverSince = p.Seats, p.OverSince
		}
		stored, _ := st.StoredPolicy(account, feature)
		v.Stored, v.Effective = wire.PolicyOf(stored), wire.PolicyOf(st.EffectivePolicy(account, feature))
		v.SubscriptionEnd = acct.SubscriptionEnd
	})
	return v, err
}

func (a *api) getPolicy(w http.ResponseWriter, r *http.Request) error {
	v, err := a.policyView(r.PathValue("account"), r.PathValue("feature"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) putPolicy(w http.ResponseWriter, r *http.Request) error {
	var req PolicyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	account, feature := r.PathValue("account"), r.PathValue("feature")
	if err := a.checkPolicyScope(r, account, feature, req); err != nil {
		return err
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdSetPolicy, Payload: &ledger.SetPolicy{
		Account: account, Feature: feature, Policy: req.Policy.Ledger(),
		SubscriptionEnd: req.SubscriptionEnd, ClearSubscriptionEnd: req.ClearSubscriptionEnd,
	}}); err != nil {
		return err
	}
	a.log.Info("policy set", "account", account, "feature", feature, "by", caller(r))
	return a.getPolicy(w, r)
}

// checkPolicyScope lets an account's own administrators set its floating
// policies but not the commercial terms inside them: the soft-cap overage
// and the subscription end are the seller's, like the seat counts.
func (a *api) checkPolicyScope(r *http.Request, account, feature string, req PolicyRequest) error {
	tok := callerToken(r)
	if tok.Account == "" {
		return nil // cluster-wide; authorize already held a scoped token to its own account
	}
	if !req.SubscriptionEnd.IsZero() || req.ClearSubscriptionEnd {
		return protocol.Errorf(protocol.CodeForbidden, "the subscription end needs a cluster-wide token; token %s is limited to account %s", tok.ID, tok.Account)
	}
	var stored ledger.Policy
	a.cfg.Store.Read(func(st *ledger.State) { stored, _ = st.StoredPolicy(account, feature) })
	if req.Policy.Overage != stored.Overage {
		return protocol.Errorf(protocol.CodeForbidden, "the soft-cap overage needs a cluster-wide token; token %s is limited to account %s", tok.ID, tok.Account)
	}
	return nil
}

func (a *api) deviceOp(move bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req DeviceOpRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if move && req.To == "" {
			return protocol.Errorf(protocol.CodeInvalidArgument, "a move needs the target Device Code (to)")
		}
		if !move {
			req.To = ""
		}
		account, code := r.PathValue("account"), r.PathValue("code")
		cmd := ledger.Command{Type: ledger.CmdFreeSeats, Payload: &ledger.FreeSeats{Account: account, Device: code, Feature: req.Feature}}
		if move {
			cmd = ledger.Command{Type: ledger.CmdMoveSeats, Payload: &ledger.MoveSeats{Account: account, Device: code, Feature: req.Feature, To: req.To}}
		}
		res, err := a.apply(r, cmd)
		if err != nil {
			return err
		}
		a.log.Info("node-locked seats changed", "account", account, "device", code, "to", req.To, "by", caller(r))
		writeJSON(w, http.StatusOK, res.Lease)
		return nil
	}
}

// removeDevice forgets a device and revokes its leases, so that its Device
// Code can enroll again with a new key (a reinstalled machine).
func (a *api) removeDevice(w http.ResponseWriter, r *http.Request) error {
	account, code := r.PathValue("account"), r.PathValue("code")
	res, err := a.apply(r, ledger.Command{Type: ledger.CmdRemoveDevice, Payload: &ledger.RemoveDevice{Account: account, Device: code}})
	if err != nil {
		return err
	}
	a.log.Info("device removed", "account", account, "device", code, "by", caller(r))
	writeJSON(w, http.StatusOK, res.Device)
	return nil
}

func (a *api) events(w http.ResponseWriter, r *http.Request) error {
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "after=%q is not an event sequence number", s)
		}
		after = n
	}
	account := r.URL.Query().Get("account")
	v := EventsView{}
	now := a.now()
	a.cfg.Store.Read(func(st *ledger.State) {
		v.Events = st.Events(account, after)
		for _, e := range st.PendingReminders(now) {
			if account == "" || e.Account == account {
				v.Pending = append(v.Pending, e)
			}
		}
	})
	if v.Events == nil {
		v.Events = []ledger.Event{}
	}
	if v.Pending == nil {
		v.Pending = []ledger.Event{}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
