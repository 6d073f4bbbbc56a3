package loadgen

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p50, p99, p999 := pct(d, 0.5), pct(d, 0.99), pct(d, 0.999); p50 != 500 || p99 != 990 || p999 != 999 {
		t.Errorf("p50 %v p99 %v p999 %v; want 500, 990, 999 ms", p50, p99, p999)
	}
	if pct(nil, 0.5) != 0 {
		t.Error("percentile of nothing should be 0")
	}
}

func TestParallelRunsEveryIndexAndStopsOnError(t *testing.T) {
	var seen [100]atomic.Int32
	if err := parallel(context.Background(), 100, 7, func(i int) error { seen[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("index %d ran %d times", i, seen[i].Load())
		}
	}
	boom := errors.New("boom")
	var ran atomic.Int32
	err := parallel(context.Background(), 1000, 1, func(i int) error {
		ran.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || ran.Load() != 4 {
		t.Errorf("err %v after %d runs; want boom after 4", err, ran.Load())
	}
}

func TestReadProcOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	ps, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ps.RSSKiB <= 0 {
		t.Errorf("resident memory %d KiB; want more than nothing", ps.RSSKiB)
	}
}
