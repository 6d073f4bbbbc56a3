package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// ExitDamaged is the exit status of a tallyd that stopped because its own
// Raft data is damaged. Service managers should not restart on it
// (systemd: RestartPreventExitStatus=3): restarting cannot repair the disk.
const ExitDamaged = 3

// DamageError is local disk damage: a log entry or snapshot this node wrote
// and cannot read back intact. Unlike a command the ledger refuses (which
// every node refuses alike), damage is local, so the node must not go on:
// skipping an entry would leave its ledger different from every other
// node's, and voting with a damaged log could elect a leader without the
// entry.
type DamageError struct {
	// File is the damaged file.
	File string
	// Index is the Raft index of the damaged entry, 0 when not known.
	Index  uint64
	Reason string
	// Newer is set when the entry is not damaged but written by a newer
	// tallyd (ledger.ErrNewerEntry): the same stop, another way out.
	Newer bool
}

// undecodable is the stop for a log entry that does not decode.
func undecodable(file string, index uint64, err error) *DamageError {
	if errors.Is(err, ledger.ErrNewerEntry) {
		return &DamageError{File: file, Index: index, Reason: err.Error(), Newer: true}
	}
	return &DamageError{File: file, Index: index, Reason: fmt.Sprintf("the entry cannot be decoded: %v", err)}
}

func (e *DamageError) Error() string {
	if e.Newer {
		return fmt.Sprintf("this node cannot apply log index %d of %s: %s. The node has stopped and will not vote or serve; "+
			"its data is intact. Way out: install the tallyd release the rest of the cluster runs on this node and start it again "+
			"(upgrade every node before using what the newer release adds; never downgrade a node whose log holds such entries)",
			e.Index, e.File, e.Reason)
	}
	where := e.File
	if e.Index > 0 {
		where = fmt.Sprintf("%s, log index %d", e.File, e.Index)
	}
	dataDir := filepath.Dir(filepath.Dir(e.File))
	return fmt.Sprintf("the Raft data of this node is damaged (%s: %s); the node has stopped and will not vote or serve. "+
		"Two ways out: (1) rejoin the cluster with a fresh data dir: move %s aside and run `tallyd join` with a new --data, "+
		"the other nodes send it the ledger; (2) on a single node, or if no healthy node is left, restore from a backup: "+
		"`tallyd restore --data NEW-DIR BACKUP-FILE`",
		where, e.Reason, dataDir)
}

// IsDamage reports whether err is (or wraps) local data damage.
func IsDamage(err error) bool {
	var de *DamageError
	return errors.As(err, &de)
}

// failStop is the default reaction to damage found while running: log it
// and end the process with ExitDamaged, before Raft can act on the entry.
func failStop(log *slog.Logger) func(*DamageError) {
	return func(e *DamageError) {
		log.Error("stopping: "+e.Error(), "file", e.File, "index", e.Index)
		fmt.Fprintln(os.Stderr, "tallyd: "+e.Error())
		os.Exit(ExitDamaged)
	}
}

// protect runs f so that a panic, or a memory fault reading a damaged
// memory-mapped file (bbolt maps raft.db and trusts its page headers),
// becomes a DamageError of file instead of ending the process.
// at is the log index being read when it is known (checkLog keeps it).
func protect(file string, at *uint64, f func() error) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if p := recover(); p != nil {
				done <- &DamageError{File: file, Index: *at, Reason: fmt.Sprintf("the file cannot be read (%v)", p)}
			}
		}()
		done <- f()
	}()
	return <-done
}

// checkLog reads every entry of the log once, before Raft starts: each
// must be present (no hole between the first and the last), intact (its
// checksum, for entries written with one) and, for ledger commands,
// decodable. It also reads the stable store's values Raft reads at start.
func checkLog(file string, logs *checksumLogStore, stable raft.StableStore, snapIndex uint64, at *uint64) error {
	for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
		v, err := stable.Get([]byte(k))
		if err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound) {
			return &DamageError{File: file, Reason: fmt.Sprintf("Raft's %s cannot be read: %v", k, err)}
		}
		if len(v) != 0 && len(v) != 8 {
			return &DamageError{File: file, Reason: fmt.Sprintf("Raft's %s is %d bytes, not 8", k, len(v))}
		}
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return &DamageError{File: file, Reason: fmt.Sprintf("the first log index cannot be read: %v", err)}
	}
	last, err := logs.LastIndex()
	if err != nil {
		return &DamageError{File: file, Reason: fmt.Sprintf("the last log index cannot be read: %v", err)}
	}
	if last == 0 {
		return nil
	}
	if first > snapIndex+1 {
		return &DamageError{File: file, Index: snapIndex + 1, Reason: fmt.Sprintf("the log starts at index %d but the newest snapshot ends at %d: entries in between are missing", first, snapIndex)}
	}
	var l raft.Log
	for i := first; i <= last; i++ {
		*at = i
		if err := logs.read(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return &DamageError{File: file, Index: i, Reason: fmt.Sprintf("the entry is missing from the log (which runs from %d to %d)", first, last)}
			}
			return err
		}
		if l.Type == raft.LogCommand {
			if _, err := ledger.DecodeCommand(l.Data); err != nil {
				return undecodable(file, i, err)
			}
		}
	}
	*at = 0
	return nil
}

// checkSnapshots opens the newest snapshot (the snapshot store verifies
// its CRC64 while opening) and parses it, and makes sure every snapshot
// directory on disk is one the store can list: Raft would otherwise fall
// back, silently, to an older snapshot and a log with a hole. It returns
// the newest snapshot's index.
func checkSnapshots(dir string, snaps *raft.FileSnapshotStore) (uint64, error) {
	metas, err := snaps.List()
	if err != nil {
		return 0, &DamageError{File: filepath.Join(dir, "snapshots"), Reason: fmt.Sprintf("the snapshots cannot be listed: %v", err)}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, &DamageError{File: filepath.Join(dir, "snapshots"), Reason: err.Error()}
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		if !slices.ContainsFunc(metas, func(m *raft.SnapshotMeta) bool { return m.ID == e.Name() }) {
			return 0, &DamageError{File: filepath.Join(dir, "snapshots", e.Name(), "meta.json"), Reason: "the snapshot's description cannot be read"}
		}
	}
	if len(metas) == 0 {
		return 0, nil
	}
	newest := metas[0]
	file := filepath.Join(dir, "snapshots", newest.ID, "state.bin")
	_, rc, err := snaps.Open(newest.ID)
	if err != nil {
		return 0, &DamageError{File: file, Index: newest.Index, Reason: fmt.Sprintf("the snapshot cannot be read: %v", err)}
	}
	defer rc.Close()
	if err := ledger.New().ReadSnapshot(rc); err != nil {
		return 0, &DamageError{File: file, Index: newest.Index, Reason: fmt.Sprintf("the snapshot's ledger cannot be decoded: %v", err)}
	}
	return newest.Index, nil
}
