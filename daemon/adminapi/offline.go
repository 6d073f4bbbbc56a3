package adminapi

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/daemon/enrollment"
	"github.com/tally-licensing/tally/protocol"
	wire "github.com/tally-licensing/tally/protocol/api"
	"github.com/tally-licensing/tally/protocol/offline"
)

// Air-gapped devices (docs/agents.md#air-gapped-devices): an administrator
// turns a device's signed request file into a lease file, takes back a
// signed return, and enrolls a device from its request file. Each is a
// ledger command attributed to the administrator, and each checks the
// device exactly as the agent listener does: a certificate from this
// cluster's CA, for this account, holding the key the device enrolled with.
func (a *api) registerOffline(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("POST /v1/accounts/{account}/offline/grant", a.offlineGrant)
	auth("POST /v1/accounts/{account}/offline/return", a.offlineReturn)
	auth("POST /v1/accounts/{account}/offline/enroll", a.offlineEnroll)
}

// offlineDevice verifies a signed file and returns the device it proves.
func (a *api) offlineDevice(r *http.Request, jws, typ string) (*offline.Signed, certs.DeviceID, error) {
	signed, err := offline.Verify(jws, typ)
	if err != nil {
		return nil, certs.DeviceID{}, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if a.cfg.Cluster.CA == nil {
		return nil, certs.DeviceID{}, protocol.Errorf(protocol.CodeUnavailable, "this node has no cluster CA")
	}
	id, err := certs.VerifyDevice(a.cfg.Cluster.CA.Pool(), []*x509.Certificate{signed.Cert}, a.now())
	if err != nil {
		return nil, certs.DeviceID{}, enrollment.Refusal(err)
	}
	if id.Account != r.PathValue("account") {
		// Another account's device is reported as absent, as everywhere.
		return nil, certs.DeviceID{}, protocol.Errorf(protocol.CodeNotFound, "no device %s in account %s", id.DeviceCode, r.PathValue("account"))
	}
	fp, err := certs.PublicKeyFingerprint(signed.Cert.PublicKey)
	if err != nil {
		return nil, certs.DeviceID{}, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	var perr *protocol.Error
	a.cfg.Store.Read(func(st *ledger.State) { perr = enrollment.CheckDeviceKey(st, id, fp) })
	if perr != nil {
		return nil, certs.DeviceID{}, perr
	}
	return signed, id, nil
}

func (a *api) offlineGrant(w http.ResponseWriter, r *http.Request) error {
	var req wire.OfflineGrantRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	signed, id, err := a.offlineDevice(r, req.Request, offline.TypeRequest)
	if err != nil {
		return err
	}
	var lr offline.LeaseRequest
	if err := offline.Decode(signed.Payload, &lr); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if err := a.checkOfflineFile(id, lr.Account, lr.Device, lr.Nonce, lr.IssuedAt); err != nil {
		return err
	}
	if lr.Borrow.D() <= 0 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "an offline lease needs a borrow period (tally-agent offline request FEATURE --borrow 7d)")
	}
	// The nonce is the request ID: granting the same file twice returns the
	// same lease, and the audit log names the administrator who carried it.
	res, err := a.apply(r, ledger.Command{Type: ledger.CmdCheckout, RequestID: "offline-" + lr.Nonce, Payload: &ledger.Checkout{
		Account: id.Account, Device: id.DeviceCode, Feature: lr.Feature, Borrow: lr.Borrow.D(),
	}})
	if err != nil {
		return err
	}
	l := *res.Lease
	tok, err := a.cfg.Leasing.SignLease(l)
	if err != nil {
		return err
	}
	out := offline.LeaseFile{Account: id.Account, Device: id.DeviceCode,
		Lease:    protocol.Lease{ID: l.ID, Feature: l.Feature, Kind: string(l.Kind), Token: tok, Expires: l.Horizon, Since: l.Since, Member: l.User},
		KeyCerts: []string{}}
	a.cfg.Store.Read(func(st *ledger.State) {
		out.KeyCerts = st.SigningKeyCertificates()
		for _, e := range st.Entitlements(id.Account) {
			out.Entitlements = append(out.Entitlements, e.JWS)
		}
	})
	a.log.Info("offline lease granted", "account", id.Account, "device", id.DeviceCode, "feature", l.Feature, "lease_id", l.ID, "until", l.Horizon, "by", caller(r))
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkOfflineFile checks what a signed file says of itself against the
// certificate that signed it and the clock.
func (a *api) checkOfflineFile(id certs.DeviceID, account, device, nonce string, issued time.Time) error {
	if account != id.Account || device != id.DeviceCode {
		return protocol.Errorf(protocol.CodeInvalidArgument, "the file names device %s/%s but is signed by %s/%s", account, device, id.Account, id.DeviceCode)
	}
	if len(nonce) < 16 || len(nonce) > 64 || strings.ContainsAny(nonce, " \t\n") {
		return protocol.Errorf(protocol.CodeInvalidArgument, "the file has no usable nonce")
	}
	var skew time.Duration
	a.cfg.Store.Read(func(st *ledger.State) { skew = st.Settings().MaxSkew })
	if err := offline.CheckAge(issued, a.now(), skew); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	return nil
}

func (a *api) offlineReturn(w http.ResponseWriter, r *http.Request) error {
	var req wire.OfflineReturnRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	signed, id, err := a.offlineDevice(r, req.Return, offline.TypeReturn)
	if err != nil {
		return err
	}
	var lr offline.LeaseReturn
	if err := offline.Decode(signed.Payload, &lr); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	if err := a.checkOfflineFile(id, lr.Account, lr.Device, lr.Nonce, lr.IssuedAt); err != nil {
		return err
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdRelease, RequestID: "offline-" + lr.Nonce, Payload: &ledger.Release{
		Account: id.Account, Device: id.DeviceCode, LeaseID: lr.LeaseID,
	}}); err != nil {
		return err
	}
	a.log.Info("offline lease returned", "account", id.Account, "device", id.DeviceCode, "lease_id", lr.LeaseID, "by", caller(r))
	writeJSON(w, http.StatusOK, map[string]any{"returned": lr.LeaseID, "feature": lr.Feature, "device": id.DeviceCode})
	return nil
}

func (a *api) offlineEnroll(w http.ResponseWriter, r *http.Request) error {
	var req wire.OfflineEnrollRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if a.cfg.Enroll == nil {
		return protocol.Errorf(protocol.CodeUnavailable, "this node does not enroll devices")
	}
	var er protocol.EnrollRequest
	dec := json.NewDecoder(strings.NewReader(req.Request))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&er); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "the enrollment request file: %v", err)
	}
	// The token decides the account; it must be the one in the path, or an
	// account's administrator could enroll devices into another account.
	tok, err := authtoken.Parse(authtoken.Enroll, er.Token)
	if err != nil {
		return protocol.Errorf(protocol.CodeEnrollTokenInvalid, "%v", err)
	}
	var rec ledger.EnrollToken
	var known bool
	a.cfg.Store.Read(func(st *ledger.State) { rec, known = st.EnrollToken(tok.ID) })
	if !known || rec.Account != r.PathValue("account") {
		return protocol.Errorf(protocol.CodeEnrollTokenInvalid, "the enrollment token in the request is not one of account %s", r.PathValue("account"))
	}
	resp, err := a.cfg.Enroll(r.Context(), er)
	if err != nil {
		return err
	}
	a.log.Info("device enrolled by file", "account", resp.Account, "device", resp.DeviceCode, "by", caller(r))
	writeJSON(w, http.StatusOK, resp)
	return nil
}
