package validate

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
)

// ReplayLog reads a stopped node's Raft log (its raft.db, opened read-only)
// and applies every command in it to a fresh ledger, as the node's FSM
// does, returning each index's command and result for linearize.Audit.
// Apply is deterministic, so this is what every node applied up to there.
// A log whose start was compacted into a snapshot is refused: the audit
// needs every entry.
func ReplayLog(path string) ([]linearize.Entry, error) {
	db, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	first, err := db.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := db.LastIndex()
	if err != nil {
		return nil, err
	}
	if first > 1 {
		return nil, fmt.Errorf("%s: the log starts at index %d (compacted into a snapshot)", path, first)
	}
	st := ledger.New()
	var out []linearize.Entry
	for idx := first; idx <= last && idx > 0; idx++ {
		var l raft.Log
		if err := db.GetLog(idx, &l); err != nil {
			return nil, fmt.Errorf("%s: index %d: %w", path, idx, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		cmd, err := ledger.DecodeCommand(l.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: index %d: %w", path, idx, err)
		}
		res := st.Apply(idx, cmd)
		out = append(out, linearize.Entry{Index: idx, Cmd: *cmd, Res: res})
	}
	return out, nil
}
