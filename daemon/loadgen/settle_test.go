package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// liveHeap reads the live heap from a real pprof heap endpoint, as tallyd
// serves it with --pprof-addr.
func TestLiveHeapReadsHeapAllocAfterAGC(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	keep := make([]byte, 8<<20) // 8 MiB kept live across the forced GC
	got, err := liveHeap(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(keep)
	if got < 8<<20 {
		t.Fatalf("live heap %d bytes, want at least the 8 MiB held live", got)
	}
}

func TestParseMemStatsRefusesAProfileWithoutThem(t *testing.T) {
	if _, err := parseMemStats(strings.NewReader("heap profile: 1: 2 [3: 4] @ heap/1048576\n# HeapAlloc = 12\n")); err == nil {
		t.Fatal("a profile without NumGC was read as a figure")
	}
}

// settleMemory against a real process (this one) and a real pprof
// endpoint: it waits for a collection of the process's own, reports the
// RSS settled once it stops falling, and the live heap after a forced
// collection, both per device above the baseline.
func TestSettleMemoryWaitsForACollectionAndReadsTheLiveHeap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	// The bench finds node 1's pprof at PortBase+3.
	cfg := Config{Nodes: 1, Devices: 1000, Pprof: true, PortBase: ln.Addr().(*net.TCPAddr).Port - 3,
		SettleTimeout: time.Minute, settlePoll: 100 * time.Millisecond}
	ctx := context.Background()
	base := memoryBaseline{rssKiB: 1}
	if base.heapBytes, err = liveHeap(ctx, cfg.ports().pprof(0)); err != nil {
		t.Fatal(err)
	}
	kept := make([][]byte, 1000) // 1,000 "devices" of 4 KiB each, live to the end
	for i := range kept {
		kept[i] = make([]byte, 4<<10)
	}
	go func() { time.Sleep(300 * time.Millisecond); runtime.GC() }()
	var res Result
	settleMemory(ctx, cfg, os.Getpid(), base, &res, func(string, ...any) {})
	runtime.KeepAlive(kept)
	if !res.MemorySettled || res.SettleSeconds <= 0 || res.LeaderRSSSettledPerKDevKiB <= 0 {
		t.Fatalf("not settled: %+v", res)
	}
	if perDev := res.LeaderLiveHeapPerKDevKiB / 1000; perDev < 3.5 || perDev > 64 {
		t.Fatalf("live heap %.1f KiB per device; want about the 4 KiB each holds", perDev)
	}
}
