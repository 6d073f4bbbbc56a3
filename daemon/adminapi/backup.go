package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/tally-licensing/tally/certs"
)

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
