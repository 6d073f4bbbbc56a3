//go:build unix

package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tally-licensing/tally/agent"
)

// TestSocketGroupOpensTheSocketToTheGroup: with SocketGroup the socket is
// 0660 and its directory 0750, both owned by that group, while the device
// key and lease cache stay 0600.
func TestSocketGroupOpensTheSocketToTheGroup(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	dir := t.TempDir()
	gid := os.Getgid()
	a := startAgent(t, srv, dir, func(c *agent.Config) { c.SocketGroup = strconv.Itoa(gid) })
	a.checkout("cad")
	for path, want := range map[string]os.FileMode{a.socket: 0o660, filepath.Dir(a.socket): 0o750} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("%s: mode %v gid %d, want %v gid %d", path, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, want, gid)
		}
	}
	for _, name := range []string{"device.key", "leases.json"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v (want 0600)", name, err, fi.Mode().Perm())
		}
	}
	// An unknown group is an error at start, naming it.
	err := agent.Run(context.Background(), agent.Config{StateDir: t.TempDir(), Servers: []string{srv.addr},
		CAFile: srv.caFile, EnrollToken: srv.token, SocketGroup: "no-such-group-tally"})
	if err == nil || !strings.Contains(err.Error(), "no-such-group-tally") {
		t.Fatalf("unknown socket group: %v", err)
	}
}
