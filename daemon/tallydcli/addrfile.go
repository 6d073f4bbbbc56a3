package tallydcli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tally-licensing/tally/daemon/node"
)

// Addrs is what `tallyd --addr-file PATH` writes once the node listens: the
// addresses it bound, so that a test or script can start it on port 0 and
// learn its ports instead of guessing free ones.
type Addrs struct {
	Agent string `json:"agent"` // QUIC, UDP
	Admin string `json:"admin"` // HTTPS, TCP
	Raft  string `json:"raft"`  // node-to-node, TCP
	PID   int    `json:"pid"`
}

// writeAddrFile writes the node's bound addresses atomically (a reader never
// sees half a file: it is written beside the target and renamed over it).
func writeAddrFile(path string, n *node.Node) error {
	b, err := json.Marshal(Addrs{Agent: n.AgentAddr(), Admin: n.AdminAddr(), Raft: n.Store.LocalAddr(), PID: os.Getpid()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addrs-*")
	if err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("--addr-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--addr-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--addr-file %s: %w", path, err)
	}
	return nil
}
