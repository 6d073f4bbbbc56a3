package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"runtime"
	"strings"
	"testing"
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
