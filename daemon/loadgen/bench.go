package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// Bench is one invocation of the bench: the floor, then one run per
// cluster size in nodes, all in the same process so that every figure can
// be read as a ratio to a floor measured minutes apart on the same machine.
func Bench(ctx context.Context, cfg Config, nodes []int, command string) (*Report, error) {
	cfg.defaults()
	if err := cfg.ports().check(); err != nil {
		return nil, err
	}
	if cfg.Pprof && cfg.ports().ephemeral() {
		return nil, fmt.Errorf("--pprof needs a --port-base: the profiles are fetched from known ports")
	}
	rep := &Report{Command: command, Commit: buildCommit(), Config: cfg}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...)
		}
	}
	// Each device is a QUIC connection on the servers' side and keys,
	// sockets and files on ours; tallyd inherits the limit.
	limit, err := RaiseOpenFiles(uint64(max(65536, 4*cfg.Devices)))
	if err != nil {
		say("open-file limit: %v", err)
	}
	rep.OpenFileLimit = limit
	say("open-file limit %d", limit)

	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "tally-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if cfg.Self != "" {
		transports, err := newTransportPool()
		if err != nil {
			return nil, err
		}
		floor, err := runFloor(ctx, cfg, transports, filepath.Join(dir, "floor"), say)
		transports.close()
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		rep.Floor = floor
	}
	for _, n := range nodes {
		run := cfg
		run.Nodes = n
		run.KillLeader = cfg.KillLeader && n > 1 && !cfg.Nonvoters
		run.Dir = filepath.Join(dir, fmt.Sprintf("cluster-%d", n))
		res, err := Run(ctx, run)
		if err != nil {
			return rep, fmt.Errorf("%d-node run: %w", n, err)
		}
		rep.Runs = append(rep.Runs, res)
	}
	return rep, nil
}

// buildCommit is the VCS revision the binary was built from, with
// "+dirty" when the tree had changes.
func buildCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		return rev + dirty
	}
	// Not stamped (go build in a git worktree often is not): ask git about
	// the directory the bench runs in, which make bench-load sets to the
	// checkout it built.
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev = strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		dirty = "+dirty"
	}
	return rev + dirty
}
