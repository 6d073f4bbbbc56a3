package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Files of a node's data directory. Private keys are 0600; the directory 0700.
const (
	fileIdentity   = "node.json"
	fileBootstrap  = "bootstrap.json"
	fileNodeCert   = "node.pem"
	fileNodeKey    = "node.key"
	fileSigningKey = "signing.key"
	fileResetKey   = "quic-reset.key"
	// FileAdminToken is where init leaves the first admin token for the
	// operator (0600). tallyd never reads it back.
	FileAdminToken = "admin.token"
	dirRaft        = "raft"
)

// identity is node.json.
type identity struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
}

// bootstrapFile is what the first node proposes when it founds the cluster.
// It holds only the admin token's hash.
type bootstrapFile struct {
	ClusterID      string          `json:"cluster_id"`
	Settings       ledger.Settings `json:"settings"`
	AdminTokenID   string          `json:"admin_token_id"`
	AdminTokenHash string          `json:"admin_token_hash"`
}

// InitOptions configures Init.
type InitOptions struct {
	NodeID string
	// Hosts are extra DNS names or IPs for the node certificate.
	Hosts    []string
	Settings ledger.Settings
	Now      time.Time
}

// InitResult reports what Init created.
type InitResult struct {
	ClusterID string
	// AdminToken is the first admin token, set only when Init created the
	// cluster; it is also written to FileAdminToken.
	AdminToken string
	Created    bool
}

// Initialized reports whether dir holds a node identity.
func Initialized(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, fileIdentity))
	return err == nil
}

// Init creates a new cluster's first node in dir: the cluster CA, the node's
// certificate, its lease-signing key, and the bootstrap record with a first
// admin token. Running it on an initialized directory changes nothing.
func Init(dir string, o InitOptions) (InitResult, error) {
	if Initialized(dir) {
		id, err := readIdentity(dir)
		if err != nil {
			return InitResult{}, err
		}
		return InitResult{ClusterID: id.ClusterID}, nil
	}
	if o.NodeID == "" {
		o.NodeID = "node1"
	}
	if !ledger.ValidID(o.NodeID) {
		return InitResult{}, fmt.Errorf("node ID %q must be 1-64 letters, digits, '.', '_' or '-'", o.NodeID)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if err := o.Settings.Validate(); err != nil {
		return InitResult{}, fmt.Errorf("lease settings: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("create data dir: %w", err)
	}
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return InitResult{}, err
	}
	clusterID := "tally-" + hex.EncodeToString(idb[:])
	ca, err := certs.NewCA(clusterID, o.Now)
	if err != nil {
		return InitResult{}, fmt.Errorf("create cluster CA: %w", err)
	}
	if err := ca.Save(dir); err != nil {
		return InitResult{}, err
	}
	if err := issueNodeFiles(dir, ca, o.NodeID, o.Hosts, o.Now); err != nil {
		return InitResult{}, err
	}
	admin, err := authtoken.New(authtoken.Admin)
	if err != nil {
		return InitResult{}, err
	}
	if err := writeJSON(filepath.Join(dir, fileBootstrap), bootstrapFile{
		ClusterID: clusterID, Settings: o.Settings, AdminTokenID: admin.ID, AdminTokenHash: admin.Hash(),
	}, 0o600); err != nil {
		return InitResult{}, err
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, FileAdminToken), []byte(admin.String()+"\n"), 0o600); err != nil {
		return InitResult{}, err
	}
	// The identity goes last: its presence means the directory is complete.
	if err := writeJSON(filepath.Join(dir, fileIdentity), identity{ClusterID: clusterID, NodeID: o.NodeID}, 0o644); err != nil {
		return InitResult{}, err
	}
	return InitResult{ClusterID: clusterID, AdminToken: admin.String(), Created: true}, nil
}

// issueNodeFiles writes the node certificate, signing key and QUIC reset key.
func issueNodeFiles(dir string, ca *certs.CA, nodeID string, hosts []string, now time.Time) error {
	certPEM, keyPEM, err := ca.IssueNode(nodeID, hosts, now)
	if err != nil {
		return fmt.Errorf("issue node certificate: %w", err)
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, fileNodeCert), certPEM, 0o644); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, fileNodeKey), keyPEM, 0o600); err != nil {
		return err
	}
	sk, err := lease.GenerateKey()
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	skPEM, err := lease.MarshalPrivateKey(sk)
	if err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(filepath.Join(dir, fileSigningKey), skPEM, 0o600); err != nil {
		return err
	}
	var reset [32]byte
	if _, err := rand.Read(reset[:]); err != nil {
		return err
	}
	return certs.WriteFileAtomic(filepath.Join(dir, fileResetKey), reset[:], 0o600)
}

func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return certs.WriteFileAtomic(path, append(b, '\n'), perm)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func readIdentity(dir string) (identity, error) {
	var id identity
	if err := readJSON(filepath.Join(dir, fileIdentity), &id); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return id, fmt.Errorf("data dir %s is not initialized: run `tallyd init --data %s` first", dir, dir)
		}
		return id, err
	}
	return id, nil
}

// keys is everything secret a running node loads from its data dir.
type keys struct {
	id       identity
	ca       *certs.CA
	nodeCert []byte
	nodeKey  []byte
	signing  ed25519.PrivateKey
	reset    quic.StatelessResetKey
}

func loadKeys(dir string) (*keys, error) {
	id, err := readIdentity(dir)
	if err != nil {
		return nil, err
	}
	k := &keys{id: id}
	if k.ca, err = certs.LoadCA(dir); err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	if k.nodeCert, err = os.ReadFile(filepath.Join(dir, fileNodeCert)); err != nil {
		return nil, fmt.Errorf("read node certificate: %w", err)
	}
	if k.nodeKey, err = os.ReadFile(filepath.Join(dir, fileNodeKey)); err != nil {
		return nil, fmt.Errorf("read node key: %w", err)
	}
	skPEM, err := os.ReadFile(filepath.Join(dir, fileSigningKey))
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if k.signing, err = lease.ParsePrivateKey(skPEM); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", filepath.Join(dir, fileSigningKey), err)
	}
	reset, err := os.ReadFile(filepath.Join(dir, fileResetKey))
	if err != nil || len(reset) != 32 {
		return nil, fmt.Errorf("read QUIC reset key %s: want 32 bytes: %v", filepath.Join(dir, fileResetKey), err)
	}
	copy(k.reset[:], reset)
	return k, nil
}
