package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// InitJoined prepares the data directory of a node joining an existing
// cluster from the join bundle the cluster issued: the cluster CA, a node
// certificate issued here, and a fresh signing key. It writes no bootstrap
// record: the cluster already has its identity.
func InitJoined(dir, nodeID string, hosts []string, b adminapi.JoinBundle, now time.Time) error {
	if Initialized(dir) {
		return fmt.Errorf("data dir %s already belongs to a node; start it with `tallyd serve --data %s`", dir, dir)
	}
	if !ledger.ValidID(nodeID) {
		return fmt.Errorf("node ID %q must be 1-64 letters, digits, '.', '_' or '-'", nodeID)
	}
	if b.ClusterID == "" {
		return errors.New("the join bundle names no cluster")
	}
	caCert, err := certs.ParseCertPEM(b.CACert)
	if err != nil {
		return fmt.Errorf("join bundle CA certificate: %w", err)
	}
	caKey, err := certs.ParseKeyPEM(b.CAKey)
	if err != nil {
		return fmt.Errorf("join bundle CA key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	ca := &certs.CA{Cert: caCert, Key: caKey}
	if err := ca.Save(dir); err != nil {
		return err
	}
	if _, err := certs.LoadCA(dir); err != nil {
		return fmt.Errorf("join bundle: %w", err)
	}
	if err := issueNodeFiles(dir, ca, nodeID, hosts, now); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, fileIdentity), identity{ClusterID: b.ClusterID, NodeID: nodeID}, 0o644)
}

// InitRestored prepares a data directory that will found a new cluster from
// a backup: the backup's CA when its key is in the backup (so devices
// enrolled before keep working), or a new CA when newCA is set (required
// when the backup holds no CA key; chosen to rotate a leaked one: devices
// enroll again), a new node certificate and signing key, and a
// bootstrap record with the backup's cluster identity. caKey and led come
// from Backup.Open. Node.RestoreLedger then installs the ledger.
func InitRestored(dir, nodeID string, hosts []string, b adminapi.Backup, caKey []byte, led []byte, newCA bool, now time.Time) error {
	if len(led) == 0 {
		return errors.New("the backup holds no ledger")
	}
	if err := ledger.New().ReadSnapshot(bytes.NewReader(led)); err != nil {
		return fmt.Errorf("the backup's ledger is unreadable: %w", err)
	}
	bundle := adminapi.JoinBundle{ClusterID: b.ClusterID, CACert: b.CACert, CAKey: caKey}
	if caKey == nil || newCA {
		if !newCA {
			return errors.New("this backup was saved without its secrets (no --encrypt): it holds no CA key and no passwords. Restore it with --new-ca to found a new CA; every device must then be removed and enrolled again, and members set new passwords")
		}
		ca, err := certs.NewCA(b.ClusterID, now)
		if err != nil {
			return err
		}
		if bundle.CAKey, err = certs.EncodeKeyPEM(ca.Key); err != nil {
			return err
		}
		bundle.CACert = ca.CertPEM()
	}
	if err := InitJoined(dir, nodeID, hosts, bundle, now); err != nil {
		return err
	}
	// Founding settings are placeholders: the restored ledger replaces them.
	return writeJSON(filepath.Join(dir, fileBootstrap), bootstrapFile{ClusterID: b.ClusterID, Settings: ledger.DefaultSettings()}, 0o600)
}
