package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tally-licensing/tally/protocol/backupcrypt"
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
