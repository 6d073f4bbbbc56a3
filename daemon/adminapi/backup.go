package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/backupcrypt"
)

// backup answers GET /v1/backup (secrets left out) and POST /v1/backup
// (secrets sealed under the passphrase in the body) from the leader, after
// a barrier, so the backup holds everything committed when it was asked
// for. Both need a cluster-admin token (keyMaterial).
func (a *api) backup(w http.ResponseWriter, r *http.Request) error {
	var passphrase []byte
	if r.Method == http.MethodPost {
		var req BackupRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		passphrase = []byte(req.Passphrase)
		if err := backupcrypt.CheckPassphrase(passphrase); err != nil {
			return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
		}
	}
	if err := a.cfg.Store.Barrier(r.Context()); err != nil {
		return err
	}
	var ledgerBuf bytes.Buffer
	if err := a.cfg.Store.LedgerSnapshot(&ledgerBuf); err != nil {
		return err
	}
	full := bytes.TrimSpace(ledgerBuf.Bytes())
	st := a.cfg.Store.Status()
	b := Backup{Version: BackupVersion, Created: a.now(), Node: st.NodeID, AppliedIndex: st.AppliedIndex, CACert: a.cfg.Cluster.CA.CertPEM()}
	var head struct {
		ClusterID string `json:"cluster_id"`
	}
	json.Unmarshal(full, &head)
	b.ClusterID = head.ClusterID
	if passphrase == nil {
		// No passphrase, no secrets: the ledger without password hashes.
		copyOf := ledger.New()
		if err := copyOf.ReadSnapshot(bytes.NewReader(full)); err != nil {
			return err
		}
		copyOf.ForgetPasswordHashes()
		var redacted bytes.Buffer
		if err := copyOf.WriteSnapshot(&redacted); err != nil {
			return err
		}
		b.Ledger, b.SecretsOmitted = bytes.TrimSpace(redacted.Bytes()), true
	} else {
		caKey, err := certs.EncodeKeyPEM(a.cfg.Cluster.CA.Key)
		if err != nil {
			return err
		}
		plain, err := json.Marshal(BackupSecrets{CAKey: caKey, Ledger: full})
		if err != nil {
			return err
		}
		if b.Sealed, err = backupcrypt.Seal(plain, passphrase, []byte(b.ClusterID)); err != nil {
			return err
		}
	}
	a.log.Info("backup taken", "applied_index", b.AppliedIndex, "sealed", b.Sealed != nil, "by", caller(r))
	writeJSON(w, http.StatusOK, b)
	return nil
}
