package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/daemon/adminapi"
)

// copyTree copies a stopped node's data dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), fi.Mode().Perm()|0o700)
		}
		if !fi.Mode().IsRegular() {
			return nil // the agent socket and the like
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestDamagedRaftLogStopsTallyd: a node's raft.db with 64 KiB of random
// bytes over live pages, or cut short, makes `tallyd serve` exit with
// status store.ExitDamaged and a message naming the file and the two ways
// out; it never starts, never panics. It used to start as leader with a
// hole in its ledger ("skipping undecodable log entry"), or die of a Go
// panic or SIGSEGV.
func TestDamagedRaftLogStopsTallyd(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	for i := 0; i < 200; i++ {
		if err := s.api(http.MethodPut, fmt.Sprintf("/v1/accounts/acme/pools/feature-%03d", i), adminapi.SetPoolRequest{Seats: i + 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.proc.term(t)
	clean := filepath.Join(s.dir, "raft", "raft.db")

	db, err := bbolt.Open(clean, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	db.View(func(tx *bbolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == "leaf" || info.Type == "branch" {
				live = append(live, id)
			}
		}
	})
	pageSize := db.Info().PageSize
	db.Close()
	if len(live) < 4 {
		t.Fatalf("only %d live pages in raft.db", len(live))
	}
	fi, err := os.Stat(clean)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(19, 3))
	type damage struct {
		name string
		do   func(path string) error
	}
	var cases []damage
	for _, at := range []int{len(live) / 4, len(live) / 2, len(live) - 1} {
		off := int64(live[at] * pageSize)
		cases = append(cases, damage{fmt.Sprintf("64KiB random at byte %d", off), func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(rng.UintN(256))
			}
			_, err = f.WriteAt(junk, off)
			return err
		}})
	}
	for _, n := range []int64{0, 1000, int64(2 * pageSize), fi.Size() / 2, int64(live[len(live)-1] * pageSize)} {
		cases = append(cases, damage{fmt.Sprintf("truncated to %d bytes", n), func(p string) error { return os.Truncate(p, n) }})
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			dir := copyTree(t, s.dir)
			db := filepath.Join(dir, "raft", "raft.db")
			if err := c.do(db); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, bin("tallyd"), "serve", "--data", dir, "--agent-addr", anyPort(t, "udp"),
				"--admin-addr", anyPort(t, "tcp"), "--raft-addr", anyPort(t, "tcp"), "--raft-timeout", "200ms")
			out := r.stdout + r.stderr
			if r.code != store.ExitDamaged {
				t.Fatalf("tallyd on a damaged raft.db exited %d, want %d:\n%s", r.code, store.ExitDamaged, tail(out, 30))
			}
			for _, want := range []string{db, "damaged", "tallyd join", "tallyd restore", "will not vote or serve"} {
				if !strings.Contains(out, want) {
					t.Fatalf("the message does not say %q:\n%s", want, tail(out, 30))
				}
			}
			for _, never := range []string{"panic:", "SIGSEGV", "goroutine ", "tallyd node serving"} {
				if strings.Contains(out, never) {
					t.Fatalf("the output has %q:\n%s", never, tail(out, 40))
				}
			}
		})
	}
}
