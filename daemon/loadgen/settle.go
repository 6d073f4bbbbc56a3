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
// tallyd keeps once the storm's memory is returned. So, with every device
// idle, the bench polls tallyd's RSS until it stops falling (bounded by
// Config.SettleTimeout) and, with --pprof, reads the live heap after a
// forced collection.

// DefaultSettleTimeout is tally-bench's bound on the settle wait.
const DefaultSettleTimeout = 2 * time.Minute

const (
	settlePoll = 5 * time.Second
	// settleQuiet is how many polls in a row must not set a new low (by
	// more than settleSlack) for the RSS to count as settled.
	settleQuiet = 3
	settleSlack = 0.005
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
	if cfg.SettleTimeout <= 0 || cfg.Devices == 0 {
		return
	}
	timeout := cfg.SettleTimeout
	say("memory settling (devices idle; RSS polled every %s, up to %s)", settlePoll, timeout)
	start := time.Now()
	low, quiet := int64(-1), 0
	for {
		ps, err := readProc(leaderPid)
		if err != nil {
			say("settle: %v", err)
			return
		}
		if low < 0 || float64(ps.RSSKiB) < float64(low)*(1-settleSlack) {
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
		if time.Since(start)+settlePoll > timeout {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(settlePoll):
		}
	}
	res.SettleSeconds = time.Since(start).Seconds()
	res.LeaderRSSSettledPerKDevKiB = float64(low-base.rssKiB) / float64(cfg.Devices) * 1000
	if cfg.Pprof && base.heapBytes > 0 {
		heap, err := liveHeap(ctx, cfg.ports().pprof(0))
		if err != nil {
			say("settle: live heap: %v", err)
			return
		}
		res.LeaderLiveHeapPerKDevKiB = float64(heap-base.heapBytes) / 1024 / float64(cfg.Devices) * 1000
	}
}

// liveHeap asks tallyd's pprof endpoint for a heap profile after a
// garbage collection (gc=1) and reads HeapAlloc from the runtime.MemStats it
// appends in text form (debug=1): the bytes of live objects.
func liveHeap(ctx context.Context, pprofAddr string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("heap profile from %s: %w", pprofAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("heap profile from %s: %s", pprofAddr, resp.Status)
	}
	return heapAllocOf(resp.Body)
}

// heapAllocOf finds "# HeapAlloc = N" in a debug=1 heap profile.
func heapAllocOf(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no HeapAlloc in the heap profile")
}
