package adminapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/backupcrypt"
	"github.com/tally-licensing/tally/protocol"
)

// BackupVersion is the format of a backup file. Version 1 held the CA key
// in the clear; version 2 holds secrets only sealed under a passphrase.
const BackupVersion = 2

// Backup is what `tallyctl snapshot save` writes. Its secrets — the
// cluster CA's private key and members' password hashes — are either
// sealed under the operator's passphrase (Sealed, from POST /v1/backup) or
// left out (GET /v1/backup, SecretsOmitted): a restore from such a backup
// founds a new CA, so devices enroll again and members set new passwords.
type Backup struct {
	Version      int       `json:"version"`
	ClusterID    string    `json:"cluster_id"`
	Created      time.Time `json:"created"`
	Node         string    `json:"node"`
	AppliedIndex uint64    `json:"applied_index"`
	CACert       []byte    `json:"ca_cert"`
	// CAKey is only present in version 1 files (read for compatibility).
	CAKey []byte `json:"ca_key,omitempty"`
	// Ledger is the ledger without password hashes when the secrets are
	// omitted, and absent when they are sealed (it is inside Sealed).
	Ledger json.RawMessage `json:"ledger,omitempty"`
	// Sealed is BackupSecrets encrypted under the operator's passphrase,
	// bound to the cluster ID.
	Sealed         *backupcrypt.Sealed `json:"sealed,omitempty"`
	SecretsOmitted bool                `json:"secrets_omitted,omitempty"`
}

// BackupSecrets is the sealed part of a backup.
type BackupSecrets struct {
	CAKey  []byte          `json:"ca_key"`
	Ledger json.RawMessage `json:"ledger"`
}

// BackupRequest is POST /v1/backup: the passphrase that seals the secrets.
type BackupRequest struct {
	Passphrase string `json:"passphrase"`
}

// Open returns the backup's CA key and full ledger, decrypting them with
// passphrase when they are sealed. For a backup whose secrets were left out
// the CA key is nil.
func (b *Backup) Open(passphrase []byte) (caKey []byte, led json.RawMessage, err error) {
	switch {
	case b.Version == 1:
		return b.CAKey, b.Ledger, nil
	case b.Version != BackupVersion:
		return nil, nil, fmt.Errorf("backup format %d is not supported (want %d)", b.Version, BackupVersion)
	case b.Sealed != nil:
		plain, err := backupcrypt.Open(b.Sealed, passphrase, []byte(b.ClusterID))
		if err != nil {
			return nil, nil, fmt.Errorf("open the backup's secrets: %w", err)
		}
		var s BackupSecrets
		if err := json.Unmarshal(plain, &s); err != nil {
			return nil, nil, fmt.Errorf("the backup's sealed secrets are unreadable: %w", err)
		}
		return s.CAKey, s.Ledger, nil
	case b.SecretsOmitted:
		return nil, b.Ledger, nil
	}
	return nil, nil, fmt.Errorf("the backup has neither sealed secrets nor says they were left out")
}

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
