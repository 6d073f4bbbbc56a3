package store

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// brokenDisk is an in-memory log store whose writes fail once broken.
type brokenDisk struct {
	*raft.InmemStore
	broken bool
}

func (d *brokenDisk) StoreLogs(logs []*raft.Log) error {
	if d.broken {
		return syscall.ENOSPC
	}
	return d.InmemStore.StoreLogs(logs)
}

// TestFailStopLogFreezesAfterAWriteError is the regression test for what
// the disk-fault chaos test found: hashicorp/raft carries on after a failed
// log write with an in-memory view of a log the disk does not hold (a
// follower whose truncation succeeded and whose append failed then panicked
// with "log not found" at the next commit). The store's guard now reports
// the failure once, naming the file and the ways out, and blocks every
// later call into the log, so Raft never acts on that view.
func TestFailStopLogFreezesAfterAWriteError(t *testing.T) {
	disk := &brokenDisk{InmemStore: raft.NewInmemStore()}
	reported := make(chan error, 2)
	l := newFailStopLog(disk, "/data/raft/raft.db", func(err error) { reported <- err })
	if err := l.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	disk.broken = true
	returned := make(chan struct{})
	go func() {
		l.StoreLogs([]*raft.Log{{Index: 2, Term: 1}})
		close(returned)
	}()
	select {
	case err := <-reported:
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "/data/raft/raft.db") || !strings.Contains(err.Error(), "tallyd restore") {
			t.Fatalf("report %q: want the cause, the file and the ways out", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed write was never reported")
	}
	// Every later call blocks: a read must not hand Raft a log whose
	// contents nobody knows.
	read := make(chan struct{})
	go func() {
		var out raft.Log
		l.GetLog(1, &out)
		close(read)
	}()
	select {
	case <-returned:
		t.Fatal("the failed write returned to Raft")
	case <-read:
		t.Fatal("a read after the failure returned")
	case <-time.After(200 * time.Millisecond):
	}
	if len(reported) != 0 {
		t.Fatal("the failure was reported twice")
	}
}
