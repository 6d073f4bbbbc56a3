package validate

import (
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/cluster/store"
)

// ReplayLog reads a stopped node's Raft log (its raft.db, through
// store.ReadLog) and applies every command in it to a fresh ledger, as the
// node's FSM does, returning each index's command and result for
// linearize.Audit. Apply is deterministic, so this is what every node
// applied up to there. A log whose start was compacted into a snapshot is
// refused: the audit needs every entry.
func ReplayLog(path string) ([]linearize.Entry, error) {
	st := ledger.New()
	var out []linearize.Entry
	first := true
	err := store.ReadLog(path, func(l *raft.Log) error {
		if first && l.Index > 1 {
			return fmt.Errorf("%s: the log starts at index %d (compacted into a snapshot)", path, l.Index)
		}
		first = false
		if l.Type != raft.LogCommand {
			return nil
		}
		cmd, err := ledger.DecodeCommand(l.Data)
		if err != nil {
			return fmt.Errorf("%s: index %d: %w", path, l.Index, err)
		}
		res := st.Apply(l.Index, cmd)
		out = append(out, linearize.Entry{Index: l.Index, Cmd: *cmd, Res: res})
		return nil
	})
	return out, err
}
