package failpoint

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// TestLogStoreFaults checks what each disk fault lets through on the write
// that fails, and that a failed disk refuses every write after it.
func TestLogStoreFaults(t *testing.T) {
	batch := func(from uint64, n int) []*raft.Log {
		var out []*raft.Log
		for i := 0; i < n; i++ {
			out = append(out, &raft.Log{Index: from + uint64(i), Term: 1})
		}
		return out
	}
	for _, tc := range []struct {
		fault    DiskFault
		lastKept uint64 // after a failing write of 3..6 over 1..2
	}{{SyncError, 6}, {ShortWrite, 4}, {DiskFull, 2}} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			inner := raft.NewInmemStore()
			s := NewLogStore(inner)
			if err := s.StoreLogs(batch(1, 2)); err != nil {
				t.Fatal(err)
			}
			s.Arm(tc.fault)
			if err := s.StoreLogs(batch(3, 4)); !errors.Is(err, ErrDiskFault) {
				t.Fatalf("armed write: %v", err)
			}
			if last, _ := inner.LastIndex(); last != tc.lastKept {
				t.Fatalf("the disk holds up to %d, want %d", last, tc.lastKept)
			}
			if err := s.StoreLogs(batch(tc.lastKept+1, 1)); !errors.Is(err, ErrDiskFault) {
				t.Fatalf("a write after the failure: %v", err)
			}
			if err := s.DeleteRange(1, 1); !errors.Is(err, ErrDiskFault) {
				t.Fatalf("a truncation after the failure: %v", err)
			}
			if f, n := s.Failed(); f != tc.fault || n != 3 {
				t.Fatalf("Failed() = %v, %d", f, n)
			}
			var l raft.Log
			if err := s.GetLog(1, &l); err != nil {
				t.Fatalf("reads keep working: %v", err)
			}
		})
	}
}
