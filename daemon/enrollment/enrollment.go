// Package enrollment turns an enrollment token and a CSR into a registered
// device and a device certificate bound to (account, Device Code).
//
// Design: docs/design.md#authority.
package enrollment

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/protocol"
)

// Proposer replicates a ledger command (the leasing service does).
type Proposer func(ctx context.Context, cmd ledger.Command) (ledger.Result, error)

// Enroller issues device certificates.
type Enroller struct {
	CA      *certs.CA
	Read    func(func(*ledger.State))
	Propose Proposer
	Servers func() []protocol.ServerInfo
	Now     func() time.Time
	// Validity of device certificates.
	Validity time.Duration
	// CatchUp, on a follower, brings the ledger up to the leader's commit
	// index before the token is checked: a token created a moment ago
	// through another node must not be refused as unknown. nil skips it.
	CatchUp func(context.Context) error
}

// Enroll checks the token, registers the device in the ledger and signs its
// certificate. Nothing is registered unless every check passes.
func (e *Enroller) Enroll(ctx context.Context, req protocol.EnrollRequest) (protocol.EnrollResponse, error) {
	tok, err := authtoken.Parse(authtoken.Enroll, req.Token)
	if err != nil {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeEnrollTokenInvalid, "%v", err)
	}
	if !ledger.ValidID(req.DeviceCode) {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "Device Code %q must be 1-64 letters, digits, '.', '_' or '-'", req.DeviceCode)
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeBadRequest, "the certificate request is not a valid PKCS#10 CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeBadRequest, "the certificate request's signature is invalid: %v", err)
	}
	fp, err := certs.PublicKeyFingerprint(csr.PublicKey)
	if err != nil {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeBadRequest, "%v", err)
	}
	if e.CatchUp != nil {
		if err := e.CatchUp(ctx); err != nil {
			return protocol.EnrollResponse{}, err
		}
	}
	now := e.Now()
	var rec ledger.EnrollToken
	var perr *protocol.Error
	e.Read(func(st *ledger.State) {
		var known bool
		rec, known = st.EnrollToken(tok.ID)
		if !known || !authtoken.Matches(rec.Hash, tok.Secret) {
			perr = protocol.Errorf(protocol.CodeEnrollTokenInvalid, "enrollment token is not known to this cluster")
			return
		}
		_, perr = st.CheckEnrollToken(tok.ID, now)
	})
	if perr != nil {
		return protocol.EnrollResponse{}, perr
	}
	// Sign before registering: a CSR the CA refuses (wrong key type) must
	// not leave a device behind in the ledger.
	certPEM, err := e.CA.SignDevice(req.CSR, rec.Account, req.DeviceCode, now, e.Validity)
	if err != nil {
		return protocol.EnrollResponse{}, protocol.Errorf(protocol.CodeBadRequest, "cannot issue a device certificate: %v", err)
	}
	res, err := e.Propose(ctx, ledger.Command{Type: ledger.CmdEnrollDevice, Payload: &ledger.EnrollDevice{
		Account: rec.Account, TokenID: tok.ID, Code: req.DeviceCode, KeyFingerprint: fp, Hostname: req.Hostname,
	}})
	if err != nil {
		return protocol.EnrollResponse{}, err
	}
	if res.Error != nil {
		return protocol.EnrollResponse{}, res.Error
	}
	return protocol.EnrollResponse{Account: rec.Account, DeviceCode: req.DeviceCode, Certificate: certPEM, Servers: e.Servers()}, nil
}

// CheckDevice confirms that a connection's verified certificate still names
// an enrolled device with the same key, so that removing a device in the
// ledger takes effect at its next request.
func CheckDevice(st *ledger.State, id certs.DeviceID, cert *x509.Certificate) *protocol.Error {
	fp, err := certs.PublicKeyFingerprint(cert.PublicKey)
	if err != nil {
		fp = "" // matches no enrolled device: refused as a conflict below
	}
	return CheckDeviceKey(st, id, fp)
}

// CheckDeviceKey is CheckDevice with the certificate key's fingerprint
// already computed (once per connection, by the agent server).
func CheckDeviceKey(st *ledger.State, id certs.DeviceID, keyFP string) *protocol.Error {
	d, ok := st.Device(ledger.DeviceRef{Account: id.Account, Code: id.DeviceCode})
	if !ok {
		return protocol.Errorf(protocol.CodeNotEnrolled, "device %s is not enrolled in account %s (it may have been removed); enroll it again", id.DeviceCode, id.Account)
	}
	if keyFP == "" || keyFP != d.KeyFingerprint {
		return protocol.Errorf(protocol.CodeDeviceConflict, "device %s in account %s is enrolled with another key: this certificate may come from a cloned device", id.DeviceCode, id.Account)
	}
	return nil
}

// Refusal turns a certificate verification failure into the protocol error
// the agent sees.
func Refusal(err error) *protocol.Error {
	var re *certs.RefusedError
	if errors.As(err, &re) {
		return protocol.Errorf(protocol.CodeCertificateRefused, "%s", re.Error())
	}
	return protocol.Errorf(protocol.CodeCertificateRefused, "device certificate refused: %v", fmt.Sprint(err))
}
