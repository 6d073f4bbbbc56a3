package api

import (
	"encoding/json"
	"time"
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
