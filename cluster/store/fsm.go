package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// ApplyObserver is told about every applied command, on every node, after the
// ledger has changed. It runs on Raft's FSM goroutine and must not block; it
// exists so the daemon can wake queued checkouts when seats free up.
type ApplyObserver func(cmd *ledger.Command, res ledger.Result)

type fsm struct {
	mu       sync.RWMutex
	state    *ledger.State
	observer ApplyObserver
	log      *slog.Logger
	// damaged stops the node (see Config.OnDamage).
	damaged func(index uint64, err error)
	// index is the Raft index of the last command applied to the ledger
	// (or of the snapshot restored). Raft's own AppliedIndex counts
	// entries handed to the FSM goroutine, not yet applied by it, so reads
	// that must see an index wait on this one (Store.HasApplied).
	index atomic.Uint64
	// snapshotIndex reports the index of the snapshot just restored.
	snapshotIndex func() uint64
}

var _ raft.FSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := ledger.DecodeCommand(l.Data)
	if err != nil {
		// Entries are checksummed on disk, so an entry that does not decode
		// is damage, or a leader writing what this version cannot read
		// (ledger.ErrNewerEntry): applying around it would leave this
		// ledger different from the others', so the node stops instead.
		if f.damaged != nil {
			f.damaged(l.Index, err)
		}
		return ledger.Result{Error: protocol.Errorf(protocol.CodeBadRequest, "undecodable log entry %d: %v", l.Index, err)}
	}
	f.mu.Lock()
	res := f.state.Apply(l.Index, cmd)
	f.mu.Unlock()
	f.index.Store(l.Index)
	if f.observer != nil {
		f.observer(cmd, res)
	}
	return res
}

// Snapshot serialises the ledger under the read lock. The ledger is small
// (bytes per lease), so a copy is cheaper than a copy-on-write structure.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var buf bytes.Buffer
	if err := f.state.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: buf.Bytes()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	next := ledger.New()
	if err := next.ReadSnapshot(rc); err != nil {
		return fmt.Errorf("restore ledger from snapshot: %w", err)
	}
	f.mu.Lock()
	f.state = next
	f.mu.Unlock()
	if f.snapshotIndex != nil {
		f.index.Store(f.snapshotIndex())
	}
	return nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
