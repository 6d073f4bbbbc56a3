package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/certs"
)

// BackupVersion is the format of a backup file.
const BackupVersion = 1

// Backup is what `tallyctl snapshot save` writes: the ledger and the
// cluster CA, which together rebuild the cluster so that devices enrolled
// before the disaster keep working. It holds the CA's private key: store
// it like one.
type Backup struct {
	Version      int             `json:"version"`
	ClusterID    string          `json:"cluster_id"`
	Created      time.Time       `json:"created"`
	Node         string          `json:"node"`
	AppliedIndex uint64          `json:"applied_index"`
	CACert       []byte          `json:"ca_cert"`
	CAKey        []byte          `json:"ca_key"`
	Ledger       json.RawMessage `json:"ledger"`
}

// backup answers GET /v1/backup from the leader, after a barrier, so the
// backup holds everything committed when it was asked for.
func (a *api) backup(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Store.Barrier(r.Context()); err != nil {
		return err
	}
	var ledgerBuf bytes.Buffer
	if err := a.cfg.Store.LedgerSnapshot(&ledgerBuf); err != nil {
		return err
	}
	caKey, err := certs.EncodeKeyPEM(a.cfg.Cluster.CA.Key)
	if err != nil {
		return err
	}
	st := a.cfg.Store.Status()
	b := Backup{Version: BackupVersion, Created: a.now(), Node: st.NodeID, AppliedIndex: st.AppliedIndex,
		CACert: a.cfg.Cluster.CA.CertPEM(), CAKey: caKey, Ledger: bytes.TrimSpace(ledgerBuf.Bytes())}
	var head struct {
		ClusterID string `json:"cluster_id"`
	}
	json.Unmarshal(b.Ledger, &head)
	b.ClusterID = head.ClusterID
	a.log.Info("backup taken", "applied_index", b.AppliedIndex, "by", caller(r))
	writeJSON(w, http.StatusOK, b)
	return nil
}
