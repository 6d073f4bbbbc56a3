package agent

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"net/http"
	"os"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
	"github.com/tally-licensing/tally/protocol/offline"
)

// Air-gapped devices (docs/agents.md#air-gapped-devices). The agent signs
// request and return files with its device key and installs the lease and
// enrollment files an administrator brings back, checking each against the
// cluster CA it was installed with: a file cannot make it serve a token the
// cluster did not sign for this device.

// pendingKeyFile holds the key of an enrollment requested by file, until
// the certificate comes back.
const pendingKeyFile = "device.key.pending"

func (a *agent) handleOfflineEnrollRequest(w http.ResponseWriter, r *http.Request) {
	var req api.OfflineEnrollRequest
	if !decode(w, r, &req) {
		return
	}
	if a.dir.Enrolled() {
		writeError(w, protocol.Errorf(protocol.CodeAlreadyExists, "this device is already enrolled"))
		return
	}
	if req.EnrollToken == "" {
		req.EnrollToken = a.cfg.EnrollToken
	}
	if req.EnrollToken == "" {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "an enrollment request needs the enrollment token (--enroll-token or TALLY_ENROLL_TOKEN)"))
		return
	}
	key, err := certs.NewDeviceKey()
	if err != nil {
		writeError(w, err)
		return
	}
	csr, err := certs.CreateCSR(key, a.device.DeviceCode)
	if err != nil {
		writeError(w, err)
		return
	}
	keyPEM, err := certs.EncodeKeyPEM(key)
	if err == nil {
		err = certs.WriteFileAtomic(a.dir.File(pendingKeyFile), keyPEM, 0o600)
	}
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeInternal, "keep the pending device key: %v", err))
		return
	}
	hostname, _ := os.Hostname()
	a.log.Info("enrollment requested by file", "device_code", a.device.DeviceCode)
	writeJSON(w, http.StatusOK, protocol.EnrollRequest{Token: req.EnrollToken, DeviceCode: a.device.DeviceCode, CSR: csr, Hostname: hostname})
}

func (a *agent) handleOfflineEnrollInstall(w http.ResponseWriter, r *http.Request) {
	var resp protocol.EnrollResponse
	if !decode(w, r, &resp) {
		return
	}
	if a.dir.Enrolled() {
		writeError(w, protocol.Errorf(protocol.CodeAlreadyExists, "this device is already enrolled"))
		return
	}
	keyPEM, err := os.ReadFile(a.dir.File(pendingKeyFile))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "no enrollment was requested by file on this device (tally-agent offline enroll-request first)"))
		return
	}
	if resp.DeviceCode != a.device.DeviceCode {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "the file enrolls device %s, this device is %s", resp.DeviceCode, a.device.DeviceCode))
		return
	}
	cert, err := certs.ParseCertPEM(resp.Certificate)
	if err == nil {
		_, err = a.verifyOwnCert(cert)
	}
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeCertificateRefused, "the enrollment file's certificate: %v", err))
		return
	}
	if _, err := certs.KeyPair(resp.Certificate, keyPEM); err != nil {
		writeError(w, protocol.Errorf(protocol.CodeCertificateRefused, "the certificate is not for this device's pending key: %v", err))
		return
	}
	if err := a.dir.SaveCredentials(resp.Certificate, keyPEM); err != nil {
		writeError(w, err)
		return
	}
	os.Remove(a.dir.File(pendingKeyFile))
	a.mu.Lock()
	a.device.Account = resp.Account
	a.device.EnrolledAt = a.now().UTC()
	a.device.ServerCAFingerprint = a.cafp
	dev := a.device
	a.mu.Unlock()
	if err := a.dir.SaveDevice(&dev); err != nil {
		writeError(w, err)
		return
	}
	a.enrolledByFile()
	a.log.Info("device enrolled by file", "device_code", dev.DeviceCode, "account", dev.Account)
	writeJSON(w, http.StatusOK, map[string]string{"device_code": dev.DeviceCode, "account": dev.Account})
}

// verifyOwnCert checks a certificate for this device against the CA the
// agent was installed with.
func (a *agent) verifyOwnCert(cert *x509.Certificate) (certs.DeviceID, error) {
	pool, err := certs.LoadCAPool(a.cfg.CAFile)
	if err != nil {
		return certs.DeviceID{}, err
	}
	id, err := certs.VerifyDevice(pool, []*x509.Certificate{cert}, a.now())
	if err != nil {
		return id, err
	}
	if id.DeviceCode != a.device.DeviceCode {
		return id, protocol.Errorf(protocol.CodeCertificateRefused, "the certificate is for device %s, this device is %s", id.DeviceCode, a.device.DeviceCode)
	}
	return id, nil
}

// deviceSigner loads the enrolled device's key and certificate.
func (a *agent) deviceSigner() (crypto.Signer, []byte, error) {
	if !a.dir.Enrolled() {
		return nil, nil, protocol.Errorf(protocol.CodeNotEnrolled, "this device is not enrolled (tally-agent offline enroll-request, then enroll-install)")
	}
	certPEM, keyPEM, err := a.dir.LoadCredentials()
	if err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeInternal, "read the device credentials: %v", err)
	}
	key, err := certs.ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeInternal, "device key: %v", err)
	}
	return key, certPEM, nil
}

func (a *agent) handleOfflineRequest(w http.ResponseWriter, r *http.Request) {
	var req api.OfflineLeaseRequest
	if !decode(w, r, &req) {
		return
	}
	if err := validateFeature(req.Feature); err != nil {
		writeError(w, err)
		return
	}
	if req.Borrow <= 0 {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "an offline lease needs --borrow (how long the device keeps it, e.g. 7d)"))
		return
	}
	key, certPEM, err := a.deviceSigner()
	if err != nil {
		writeError(w, err)
		return
	}
	nonce, err := offline.NewNonce()
	if err != nil {
		writeError(w, err)
		return
	}
	a.mu.Lock()
	body := offline.LeaseRequest{Account: a.device.Account, Device: a.device.DeviceCode, Feature: req.Feature, Borrow: req.Borrow, Nonce: nonce, IssuedAt: a.now().UTC()}
	a.mu.Unlock()
	jws, err := offline.Sign(offline.TypeRequest, body, key, certPEM)
	if err != nil {
		writeError(w, err)
		return
	}
	a.log.Info("offline lease requested", "feature", req.Feature, "borrow", req.Borrow)
	writeJSON(w, http.StatusOK, api.OfflineFile{File: jws})
}

func (a *agent) handleOfflineInstall(w http.ResponseWriter, r *http.Request) {
	var f offline.LeaseFile
	if !decode(w, r, &f) {
		return
	}
	l, err := a.checkLeaseFile(&f)
	if err != nil {
		writeError(w, err)
		return
	}
	key := keyOfLease(l)
	a.mu.Lock()
	a.leases[key] = l
	delete(a.activity, key)
	a.observeServerTimeLocked(l.Since)
	a.mu.Unlock()
	a.persist()
	if len(f.Entitlements) > 0 {
		if _, err := a.keepEntitlements(f.Entitlements, f.KeyCerts); err != nil {
			a.log.Warn("cannot keep the lease file's entitlements", "err", err)
		}
	}
	a.log.Info("offline lease installed", "feature", l.Feature, "lease_id", l.ID, "expires", l.Expires)
	writeJSON(w, http.StatusOK, api.LeaseResponse{Lease: l})
}

// checkLeaseFile verifies a lease file: the signing keys chain to this
// agent's CA and the token, signed by one of them, is for this device and
// account and still valid.
func (a *agent) checkLeaseFile(f *offline.LeaseFile) (protocol.Lease, error) {
	a.mu.Lock()
	dev := a.device
	a.mu.Unlock()
	if f.Account != dev.Account || f.Device != dev.DeviceCode {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeBadRequest, "the lease file is for device %s/%s, this device is %s/%s", f.Account, f.Device, dev.Account, dev.DeviceCode)
	}
	pool, err := certs.LoadCAPool(a.cfg.CAFile)
	if err != nil {
		return protocol.Lease{}, err
	}
	var keys []ed25519.PublicKey
	for _, p := range f.KeyCerts {
		if pub, _, err := entitlement.VerifyKeyCert([]byte(p), pool, a.now()); err == nil {
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeCertificateRefused, "the lease file carries no signing key certified by this device's cluster CA")
	}
	ks := lease.NewKeySet(keys...)
	c, err := ks.Verify(f.Lease.Token, lease.Expect{Device: dev.DeviceCode, Feature: f.Lease.Feature, Now: a.now(), Leeway: time.Minute})
	if err != nil {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeCertificateRefused, "the lease token: %v", err)
	}
	if c.Account != dev.Account || c.LeaseID != f.Lease.ID {
		return protocol.Lease{}, protocol.Errorf(protocol.CodeBadRequest, "the token is for lease %d of account %s, the file says lease %d of %s", c.LeaseID, c.Account, f.Lease.ID, dev.Account)
	}
	l := f.Lease
	l.Expires = c.Expires
	l.OSUser, l.Member, l.Team, l.Borrow = "", "", "", 0
	return l, nil
}

func (a *agent) handleOfflineReturn(w http.ResponseWriter, r *http.Request) {
	var req api.OfflineReturnRequest
	if !decode(w, r, &req) {
		return
	}
	key, certPEM, err := a.deviceSigner()
	if err != nil {
		writeError(w, err)
		return
	}
	a.mu.Lock()
	var found protocol.Lease
	var foundKey string
	for k, l := range a.leases {
		if l.Feature == req.Feature && l.OSUser == "" {
			found, foundKey = l, k
		}
	}
	dev := a.device
	a.mu.Unlock()
	if foundKey == "" {
		writeError(w, protocol.Errorf(protocol.CodeLeaseNotFound, "this device holds no lease on %q", req.Feature))
		return
	}
	nonce, err := offline.NewNonce()
	if err != nil {
		writeError(w, err)
		return
	}
	body := offline.LeaseReturn{Account: dev.Account, Device: dev.DeviceCode, Feature: found.Feature, LeaseID: found.ID, Nonce: nonce, IssuedAt: a.now().UTC()}
	jws, err := offline.Sign(offline.TypeReturn, body, key, certPEM)
	if err != nil {
		writeError(w, err)
		return
	}
	// The device stops using the lease now; the seat comes back when the
	// administrator hands the return file to the cluster (or at its end).
	a.mu.Lock()
	delete(a.leases, foundKey)
	a.mu.Unlock()
	a.persist()
	a.log.Info("offline lease returned", "feature", found.Feature, "lease_id", found.ID)
	writeJSON(w, http.StatusOK, api.OfflineFile{File: jws})
}
