package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Settled memory: what a steady fleet costs, measured after the storms.
//
// The RSS growth the bench reads right after the heartbeat phase still holds
// what the Go runtime kept from the checkout storm, when every device held a
// connection at once (~80 KiB each). A steady fleet of agents that close
// idle connections never has them all open together; what it costs is what
// tallyd keeps once the storm's memory is returned. The runtime returns
// freed memory only down to the heap goal of its last collection, and an
// idle tallyd allocates nothing, so no collection runs until the runtime's
// own periodic one (every two minutes); a steady fleet's traffic runs them
// all the time. So, with every device idle, the bench waits for a
// collection to happen on its own (seen in the runtime's NumGC with
// --pprof; without it, for the two-minute period), then polls tallyd's RSS
// until it stops falling, bounded by Config.SettleTimeout, and, with
// --pprof, reads the live heap after a forced collection.

// DefaultSettleTimeout is tally-bench's bound on the settle wait.
const DefaultSettleTimeout = 3 * time.Minute

const (
	settlePoll = 5 * time.Second
	// settleQuiet is how many polls in a row must not set a new low (by
	// more than settleSlack) for the RSS to count as settled.
	settleQuiet = 3
	settleSlack = 0.005
	// forcedGCPeriod is the Go runtime's forcegcperiod: an idle process
	// collects at least this often.
	forcedGCPeriod = 2*time.Minute + settlePoll
)

// memoryBaseline is the leader's memory before the devices enrolled.
type memoryBaseline struct {
	rssKiB    int64
	heapBytes int64 // 0 when no pprof endpoint
}

func (r *phaseRunner) baseline(ctx context.Context, cfg Config) memoryBaseline {
	var b memoryBaseline
	if ps, err := readProc(r.leader.cmd.Process.Pid); err == nil {
		b.rssKiB = ps.RSSKiB
	}
	if cfg.Pprof {
		b.heapBytes, _ = liveHeap(ctx, cfg.ports().pprof(0))
	}
	return b
}

// settleMemory waits, devices idle, for the leader's RSS to stop falling
// and fills the run's settled figures.
func settleMemory(ctx context.Context, cfg Config, leaderPid int, base memoryBaseline, res *Result, say func(string, ...any)) {
	// The memory targets read the 1-node run; a 3-node run's leader is
	// not waited for (minutes of an idle cluster per run).
	if cfg.SettleTimeout <= 0 || cfg.Devices == 0 || cfg.Nodes > 1 {
		return
	}
	timeout := cfg.SettleTimeout
	poll := settlePoll
	if cfg.settlePoll > 0 {
		poll = cfg.settlePoll
	}
	say("memory settling (devices idle; RSS polled every %s, up to %s)", poll, timeout)
	start := time.Now()
	gcs0 := int64(-1)
	if cfg.Pprof {
		if ms, err := memStats(ctx, cfg.ports().pprof(0), false); err == nil {
			gcs0 = ms.numGC
		}
	}
	// collected says a garbage collection has run since the devices went
	// idle, so the runtime may return what the storms left.
	collected := func() bool {
		if gcs0 >= 0 {
			ms, err := memStats(ctx, cfg.ports().pprof(0), false)
			return err == nil && ms.numGC > gcs0
		}
		return time.Since(start) >= forcedGCPeriod
	}
	low, quiet, gcSeen := int64(-1), 0, false
	for {
		ps, err := readProc(leaderPid)
		if err != nil {
			say("settle: %v", err)
			return
		}
		gcSeen = gcSeen || collected()
		if low < 0 || float64(ps.RSSKiB) < float64(low)*(1-settleSlack) || !gcSeen {
			quiet = 0
		} else {
			quiet++
		}
		if low < 0 || ps.RSSKiB < low {
			low = ps.RSSKiB
		}
		if quiet >= settleQuiet {
			res.MemorySettled = true
			break
		}
		if time.Since(start)+poll > timeout {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
	res.SettleSeconds = time.Since(start).Seconds()
	res.LeaderRSSSettledPerKDevKiB = float64(low-base.rssKiB) / float64(cfg.Devices) * 1000
	if cfg.Pprof && base.heapBytes > 0 {
		ms, err := memStats(ctx, cfg.ports().pprof(0), true)
		if err != nil {
			say("settle: live heap: %v", err)
			return
		}
		res.LeaderLiveHeapPerKDevKiB = float64(ms.heapAlloc-base.heapBytes) / 1024 / float64(cfg.Devices) * 1000
	}
}

// runtimeMemStats is what the bench reads of a tallyd's runtime.MemStats.
type runtimeMemStats struct {
	heapAlloc int64 // bytes of allocated heap objects
	numGC     int64 // completed collections
}

// memStats reads tallyd's runtime.MemStats from its pprof endpoint: the
// heap profile in text form (debug=1) ends with them. gc runs a garbage
// collection first (gc=1), so that HeapAlloc is the live heap.
func memStats(ctx context.Context, pprofAddr string, gc bool) (runtimeMemStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := "http://" + pprofAddr + "/debug/pprof/heap?debug=1"
	if gc {
		url += "&gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return runtimeMemStats{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return runtimeMemStats{}, fmt.Errorf("heap profile from %s: %w", pprofAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return runtimeMemStats{}, fmt.Errorf("heap profile from %s: %s", pprofAddr, resp.Status)
	}
	return parseMemStats(resp.Body)
}

// liveHeap is the live heap in bytes, after a forced collection.
func liveHeap(ctx context.Context, pprofAddr string) (int64, error) {
	ms, err := memStats(ctx, pprofAddr, true)
	return ms.heapAlloc, err
}

// parseMemStats finds "# HeapAlloc = N" and "# NumGC = N" in a debug=1
// heap profile.
func parseMemStats(r io.Reader) (runtimeMemStats, error) {
	var ms runtimeMemStats
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for name, dst := range map[string]*int64{"# HeapAlloc = ": &ms.heapAlloc, "# NumGC = ": &ms.numGC} {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return ms, fmt.Errorf("heap profile: %s%q: %w", name, v, err)
				}
				*dst = n
				found++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ms, err
	}
	if found < 2 {
		return ms, fmt.Errorf("no HeapAlloc and NumGC in the heap profile")
	}
	return ms, nil
}
