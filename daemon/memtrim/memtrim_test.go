package memtrim

import (
	"runtime"
	"testing"
)

// The decision follows the two thresholds.
func TestDueNeedsMuchFreeHeapAgainstTheLiveHeap(t *testing.T) {
	c := Config{MinFree: 100, FreeToLive: 0.5}
	for _, tc := range []struct {
		h    Heap
		want bool
	}{
		{Heap{Free: 99, Live: 0}, false},    // too little to bother
		{Heap{Free: 100, Live: 201}, false}, // small against the live heap
		{Heap{Free: 100, Live: 200}, true},  // half the live heap
		{Heap{Free: 1000, Live: 100}, true}, // a storm's leftovers
	} {
		if got := c.Due(tc.h); got != tc.want {
			t.Errorf("Due(%+v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

// After a peak — here 256 MiB allocated and dropped in this process — a
// trim returns the free heap to the OS, and right after it there is
// nothing left to trim. The real runtime's accounting, not a model of it.
func TestTrimReturnsAPeaksFreeHeap(t *testing.T) {
	peak := make([][]byte, 256)
	for i := range peak {
		peak[i] = make([]byte, 1<<20)
		peak[i][0] = 1
	}
	runtime.KeepAlive(peak)
	peak = nil
	runtime.GC()
	cfg := Config{MinFree: 32 << 20}
	before := ReadHeap()
	if !cfg.Due(before) {
		t.Fatalf("after dropping 256 MiB the heap is not due for a trim: %+v", before)
	}
	if !TrimIfDue(cfg) {
		t.Fatal("TrimIfDue did not trim a due heap")
	}
	after := ReadHeap()
	if after.Free >= before.Free || cfg.Due(after) {
		t.Errorf("free resident heap %d MiB before the trim, %d MiB after; still due: %v", before.Free>>20, after.Free>>20, cfg.Due(after))
	}
}
