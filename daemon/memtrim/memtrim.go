// Package memtrim gives the memory a tallyd process no longer uses back to
// the operating system after a peak of load.
//
// A storm — every device of a site reconnecting at once after an outage,
// a checkout storm at nine in the morning — grows the Go heap by tens of
// kilobytes per open QUIC connection (docs/performance.md). When it is
// over the heap's live data is small again, but the Go runtime returns the
// freed pages only slowly (its background scavenger works at about 1 % of
// a CPU), so for minutes tallyd's RSS holds the storm's peak: in the
// 50,000-device bench 773 MB of free heap was still resident 45 s after the
// storms, more than the live heap. Operators size machines by RSS, so a
// process that keeps its peak looks twice its size.
//
// Trimmer checks the runtime's own accounting every Interval and, when the
// free but still resident heap is both large in absolute terms and large
// against the live heap, calls debug.FreeOSMemory: one forced collection
// and a scavenge, a few hundred milliseconds of CPU at 50,000 devices, and
// only after a peak (right after a trim there is nothing left to free).
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config sets when the trimmer acts; zero values take the defaults.
type Config struct {
	// Interval between checks (default 30 s).
	Interval time.Duration
	// MinFree is the free resident heap below which nothing is done
	// (default 64 MiB): small heaps are left to the runtime.
	MinFree uint64
	// FreeToLive is how large the free resident heap must be against the
	// live heap before a trim pays for its collection (default 0.5).
	FreeToLive float64
	Logger     *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.MinFree == 0 {
		c.MinFree = 64 << 20
	}
	if c.FreeToLive <= 0 {
		c.FreeToLive = 0.5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Heap is the part of the runtime's accounting a trim decides on.
type Heap struct {
	// Free is heap memory that is free and still resident: the runtime
	// could return it to the OS and has not yet.
	Free uint64
	// Live is the heap the last collection found reachable.
	Live uint64
}

// ReadHeap reads the runtime's current figures.
func ReadHeap() Heap {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	var h Heap
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.Free = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		h.Live = s[1].Value.Uint64()
	}
	return h
}

// Due says whether h is worth a trim under c.
func (c Config) Due(h Heap) bool {
	c = c.withDefaults()
	return h.Free >= c.MinFree && float64(h.Free) >= c.FreeToLive*float64(h.Live)
}

// Run checks every Interval until ctx ends.
func Run(ctx context.Context, cfg Config) {
	cfg = cfg.withDefaults()
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			TrimIfDue(cfg)
		}
	}
}

// TrimIfDue trims once if the heap is due, and reports whether it did.
func TrimIfDue(cfg Config) bool {
	cfg = cfg.withDefaults()
	before := ReadHeap()
	if !cfg.Due(before) {
		return false
	}
	start := time.Now()
	debug.FreeOSMemory()
	after := ReadHeap()
	cfg.Logger.Info("returned free heap memory to the OS after a peak of load",
		"free_before_mib", before.Free>>20, "free_after_mib", after.Free>>20, "live_mib", after.Live>>20, "took", time.Since(start).Round(time.Millisecond))
	return true
}
