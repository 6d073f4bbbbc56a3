package failpoint

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/hashicorp/raft"
)

// DiskFault is one way a node's disk fails under its Raft log.
type DiskFault int

const (
	// NoDiskFault passes every write through.
	NoDiskFault DiskFault = iota
	// SyncError: the write reached the file but fsync reported EIO, so
	// nobody knows whether it is durable. The entries are on disk; the
	// caller is told the write failed.
	SyncError
	// ShortWrite: only the first half of a batch of entries was written
	// before the error (a torn batch).
	ShortWrite
	// DiskFull: nothing was written (ENOSPC).
	DiskFull
)

func (f DiskFault) String() string {
	switch f {
	case SyncError:
		return "fsync-error"
	case ShortWrite:
		return "short-write"
	case DiskFull:
		return "disk-full"
	}
	return "none"
}

// DiskFaults lists the faults a chaos schedule chooses from.
var DiskFaults = []DiskFault{SyncError, ShortWrite, DiskFull}

// ErrDiskFault wraps every error a failing LogStore returns.
var ErrDiskFault = errors.New("failpoint: disk fault")

// LogStore wraps a node's Raft log store (raft-boltdb) with a disk that can
// fail. Once a fault is armed, the next write fails the way the fault says,
// and so does every write after it: a disk that returned EIO or ENOSPC is
// not trusted again until the node restarts on a repaired disk (a fresh
// LogStore over the same files). Reads keep working.
type LogStore struct {
	raft.LogStore
	mu     sync.Mutex
	armed  DiskFault
	failed DiskFault
	// Failures counts writes refused.
	failures int
}

// NewLogStore wraps inner.
func NewLogStore(inner raft.LogStore) *LogStore { return &LogStore{LogStore: inner} }

// Arm makes the next write fail with f.
func (s *LogStore) Arm(f DiskFault) {
	s.mu.Lock()
	s.armed = f
	s.mu.Unlock()
}

// Failed reports the fault the store has failed with, if any, and how many
// writes it has refused.
func (s *LogStore) Failed() (DiskFault, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed, s.failures
}

func (s *LogStore) errorFor(f DiskFault) error {
	switch f {
	case SyncError:
		return fmt.Errorf("%w: fsync raft.db: %w", ErrDiskFault, syscall.EIO)
	case ShortWrite:
		return fmt.Errorf("%w: write raft.db: %w", ErrDiskFault, io.ErrShortWrite)
	}
	return fmt.Errorf("%w: write raft.db: %w", ErrDiskFault, syscall.ENOSPC)
}

// StoreLog stores one entry through StoreLogs.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs writes logs unless the disk has failed: then it writes what the
// fault lets through and returns an error.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == NoDiskFault && s.armed != NoDiskFault {
		s.failed, s.armed = s.armed, NoDiskFault
		s.failures++
		// The first failing write: what reaches the file depends on the fault.
		switch s.failed {
		case SyncError:
			if err := s.LogStore.StoreLogs(logs); err != nil {
				return err
			}
		case ShortWrite:
			if half := len(logs) / 2; half > 0 {
				if err := s.LogStore.StoreLogs(logs[:half]); err != nil {
					return err
				}
			}
		}
		return s.errorFor(s.failed)
	}
	if s.failed != NoDiskFault {
		s.failures++
		return s.errorFor(s.failed)
	}
	return s.LogStore.StoreLogs(logs)
}

// DeleteRange fails once the disk has failed.
func (s *LogStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != NoDiskFault {
		s.failures++
		return s.errorFor(s.failed)
	}
	return s.LogStore.DeleteRange(min, max)
}
