package store

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// failStopLog guards the Raft log store: the first write to fail (StoreLogs
// or DeleteRange: an fsync error, a short write, a full disk) stops the
// node. hashicorp/raft answers a failed write by carrying on with an
// in-memory view of the log the disk may not have — a follower whose
// truncation succeeded and whose append then failed panics with "log not
// found" at the next commit, and in general nobody knows what a write that
// returned EIO left on disk. So from the failure on, every call into the
// log store blocks for good: Raft's goroutines freeze where they are (no
// vote, no acknowledgement, no apply of anything not read back from disk),
// and Config.FailStop is told once, on its own goroutine, to end the
// process. Reads are blocked too, because after a failed write the log's
// contents are unknown until the node restarts and reads the file again.
type failStopLog struct {
	raft.LogStore
	path   string
	onFail func(error)

	once   sync.Once
	failed chan struct{}
}

func newFailStopLog(inner raft.LogStore, path string, onFail func(error)) *failStopLog {
	return &failStopLog{LogStore: inner, path: path, onFail: onFail, failed: make(chan struct{})}
}

// fail records a write error and blocks the caller for good.
func (l *failStopLog) fail(op string, err error) {
	l.once.Do(func() {
		close(l.failed)
		err = fmt.Errorf("%s %s failed, so this node stops (it cannot know what the disk holds): %w; "+
			"restart it once the disk is fixed (it reads the log back and catches up from the leader), "+
			"or rejoin the cluster with a fresh data dir, or `tallyd restore` from a backup", op, l.path, err)
		go l.onFail(err)
	})
	select {} // frozen until the process ends
}

func (l *failStopLog) check() {
	select {
	case <-l.failed:
		select {}
	default:
	}
}

func (l *failStopLog) FirstIndex() (uint64, error) { l.check(); return l.LogStore.FirstIndex() }
func (l *failStopLog) LastIndex() (uint64, error)  { l.check(); return l.LogStore.LastIndex() }
func (l *failStopLog) GetLog(index uint64, log *raft.Log) error {
	l.check()
	return l.LogStore.GetLog(index, log)
}

func (l *failStopLog) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

func (l *failStopLog) StoreLogs(logs []*raft.Log) error {
	l.check()
	if err := l.LogStore.StoreLogs(logs); err != nil {
		l.fail("writing the Raft log", err)
	}
	return nil
}

func (l *failStopLog) DeleteRange(min, max uint64) error {
	l.check()
	if err := l.LogStore.DeleteRange(min, max); err != nil {
		l.fail("truncating the Raft log", err)
	}
	return nil
}

// stable guards the Raft stable store (the term and vote, in the same
// raft.db) the same way: once a log write failed, every call blocks, so no
// Raft goroutine (the transport's heartbeat handler saves a newer term
// without the main loop) acts on, or touches, a store being given up.
func (l *failStopLog) stable(inner raft.StableStore) raft.StableStore {
	return &failStopStable{StableStore: inner, l: l}
}

type failStopStable struct {
	raft.StableStore
	l *failStopLog
}

func (s *failStopStable) Set(key, val []byte) error { s.l.check(); return s.StableStore.Set(key, val) }
func (s *failStopStable) Get(key []byte) ([]byte, error) {
	s.l.check()
	return s.StableStore.Get(key)
}
func (s *failStopStable) SetUint64(key []byte, val uint64) error {
	s.l.check()
	return s.StableStore.SetUint64(key, val)
}
func (s *failStopStable) GetUint64(key []byte) (uint64, error) {
	s.l.check()
	return s.StableStore.GetUint64(key)
}
