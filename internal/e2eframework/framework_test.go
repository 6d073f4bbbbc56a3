package e2eframework

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWaitAddrsGivesUpWhenTheProcessExits: a tallyd that dies before it
// listens fails the wait at once with its output, not after the timeout.
func TestWaitAddrsGivesUpWhenTheProcessExits(t *testing.T) {
	p := StartProc(t, "sh", nil, "sh", "-c", "echo cannot listen; exit 3")
	start := time.Now()
	_, err := WaitAddrs(context.Background(), p, filepath.Join(t.TempDir(), "addrs.json"), time.Minute)
	if !errors.Is(err, ErrGiveUp) {
		t.Fatalf("err = %v, want ErrGiveUp", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("waited %v for a dead process", time.Since(start))
	}
}

// TestWaitAddrsReadsTheFileOfThisProcess: a stale file of an earlier
// process is not taken for the new one's.
func TestWaitAddrsReadsTheFileOfThisProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrs.json")
	if err := os.WriteFile(path, []byte(`{"agent":"127.0.0.1:1","admin":"127.0.0.1:2","raft":"127.0.0.1:3","pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := StartProc(t, "sh", nil, "sh", "-c", `sleep 0.3; printf '{"agent":"127.0.0.1:7","admin":"127.0.0.1:8","raft":"127.0.0.1:9","pid":%d}' $$ > `+path+`; exec sleep 30`)
	a, err := WaitAddrs(context.Background(), p, path, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Admin != "127.0.0.1:8" || a.PID != p.Cmd.Process.Pid {
		t.Fatalf("addrs %+v", a)
	}
}
