package adminapi

import (
	"net/http"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	wire "github.com/tally-licensing/tally/protocol/api"
)

// Member sign-ins on devices, as administrators see and end them. The
// sign-ins themselves are made by agents (tally-agent login, over QUIC).

// The wire types live in protocol/api (the client's side).
type (
	SignOutRequest = wire.SignOutRequest
	DeviceView     = wire.DeviceView
	DeviceMember   = wire.DeviceMember
	// ApproveDeviceRequest is the body of POST /v1/device-approvals.
	ApproveDeviceRequest = wire.ApproveDeviceRequest
)

func (a *api) registerSignIns(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/sign-ins", a.listSignIns)
	auth("POST /v1/accounts/{account}/users/{email}/sign-out", a.signOut)
}

// deviceViews lists devices (of one account, or all) with their sign-ins.
func deviceViews(st *ledger.State, account string) []DeviceView {
	out := []DeviceView{}
	for _, d := range st.Devices(account) {
		v := DeviceView{Device: d, SignedIn: []DeviceMember{}}
		for _, si := range st.SignIns(d.Account, d.Code) {
			v.SignedIn = append(v.SignedIn, DeviceMember{Email: si.Email, OSUser: si.OSUser, Since: si.Created})
		}
		out = append(out, v)
	}
	return out
}

func (a *api) listSignIns(w http.ResponseWriter, r *http.Request) error {
	var out []ledger.DeviceSignIn
	a.cfg.Store.Read(func(st *ledger.State) { out = st.SignIns(r.PathValue("account"), "") })
	if out == nil {
		out = []ledger.DeviceSignIn{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// signOut ends a member's sign-ins (on one device, or all): the cluster
// revokes the leases held under them, and the agents drop their tokens at
// their next heartbeat.
func (a *api) signOut(w http.ResponseWriter, r *http.Request) error {
	var req SignOutRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	account, email := r.PathValue("account"), r.PathValue("email")
	if email == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "sign-out needs the member's email")
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdDeviceSignOut, Payload: &ledger.DeviceSignOut{
		Account: account, Email: email, Device: protocol.CanonicalDeviceCode(req.Device), Reason: "signed out by an administrator",
	}}); err != nil {
		return err
	}
	a.log.Info("member signed out by an administrator", "account", account, "email", email, "device", req.Device, "by", caller(r))
	var out []ledger.DeviceSignIn
	a.cfg.Store.Read(func(st *ledger.State) { out = st.SignIns(account, "") })
	if out == nil {
		out = []ledger.DeviceSignIn{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approveDevice is POST /v1/device-approvals (public: the password is the
// credential, slowed by the same brake as every sign-in).
func (a *api) approveDevice(w http.ResponseWriter, r *http.Request) {
	// Like a console sign-in, the leader checks the password and keeps
	// the brake; a follower passes the request on as it came.
	if a.proxyWriteToLeader(w, r) {
		return
	}
	if err := a.approveDeviceE(r); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) approveDeviceE(r *http.Request) error {
	var req ApproveDeviceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Account == "" || req.UserCode == "" || req.Email == "" || req.Password == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "account, user_code, email and password are required")
	}
	u, err := a.authenticate(r, req.Account, req.Email, req.Password, "device approval")
	if err != nil {
		return err
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdApproveDevice, Actor: memberActor(u.Account, u.Email),
		Payload: &ledger.ApproveDevice{Account: req.Account, UserCode: req.UserCode, Email: u.Email}}); err != nil {
		return err
	}
	a.log.Info("device sign-in approved", "account", req.Account, "email", u.Email, "code", protocol.CanonicalUserCode(req.UserCode))
	return nil
}
