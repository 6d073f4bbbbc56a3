package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/tally-licensing/tally/cluster/ledger"
)

func TestSealRoundTripAndLegacyEntries(t *testing.T) {
	l := &raft.Log{Index: 7, Term: 2, Type: raft.LogCommand, Data: []byte(`{"type":"x"}`)}
	sealed := seal(l)
	if string(l.Data) != `{"type":"x"}` {
		t.Fatal("seal changed the caller's entry")
	}
	got := *sealed
	if err := unseal(7, &got); err != nil || !bytes.Equal(got.Data, l.Data) {
		t.Fatalf("unseal = %v, data %q", err, got.Data)
	}
	// An entry written before checksums existed is read as it is.
	legacy := raft.Log{Index: 7, Term: 2, Type: raft.LogCommand, Data: []byte(`{"type":"x"}`)}
	if err := unseal(7, &legacy); err != nil || string(legacy.Data) != `{"type":"x"}` {
		t.Fatalf("legacy entry: %v %q", err, legacy.Data)
	}
	// One flipped bit anywhere, or the entry under another index, is damage.
	for i := range sealed.Data {
		bad := *sealed
		bad.Data = bytes.Clone(sealed.Data)
		bad.Data[i] ^= 0x10
		if i < len(sealMagic) {
			continue // no longer sealed: read as a legacy entry, then refused by the decoder
		}
		if err := unseal(7, &bad); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	moved := *sealed
	if err := unseal(8, &moved); err == nil {
		t.Fatal("an entry stored under the wrong index went unnoticed")
	}
	term := *sealed
	term.Term = 3
	if err := unseal(7, &term); err == nil {
		t.Fatal("an entry with another term went unnoticed")
	}
}

// writeLedger makes a data dir with a few hundred log entries.
func writeLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	seed(t, s, 5, 300)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// livePages lists the pages of raft.db that hold data now (not free).
func livePages(t *testing.T, file string) (pages []int, pageSize int) {
	t.Helper()
	db, err := bbolt.Open(file, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			if info.Type == "leaf" || info.Type == "branch" {
				pages = append(pages, id)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages, db.Info().PageSize
}

func openDamaged(dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("Open panicked: %v", p)
		}
	}()
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, Logger: quietLogger(),
		OnDamage: func(e *DamageError) { panic("damage found only while running: " + e.Error()) }})
	if err == nil {
		s.Close()
		return errors.New("Open accepted the damaged data")
	}
	return err
}

func wantDamage(t *testing.T, what string, err error) {
	t.Helper()
	var de *DamageError
	if !errors.As(err, &de) {
		t.Fatalf("%s: Open = %v, want a DamageError", what, err)
	}
	msg := err.Error()
	t.Logf("%s: %s: %s (index %d)", what, de.File, de.Reason, de.Index)
	for _, want := range []string{de.File, "tallyd join", "tallyd restore", "will not vote or serve"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%s: the message does not say %q: %s", what, want, msg)
		}
	}
}

// TestDamagedLogStopsTheNode: random bytes over live pages of raft.db, a
// flipped byte inside one entry, and raft.db cut at several lengths: each
// Open refuses with a DamageError naming the file and the ways out, and
// none panics (bbolt trusts its pages; a fault reading them is caught).
func TestDamagedLogStopsTheNode(t *testing.T) {
	clean := writeLedger(t)
	file := filepath.Join(clean, "raft.db")
	pages, pageSize := livePages(t, file)
	if len(pages) < 4 {
		t.Fatalf("only %d live pages", len(pages))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, at := range []int{0, len(pages) / 3, len(pages) / 2, len(pages) - 1} {
		t.Run(fmt.Sprintf("64KiB-random-at-page-%d", pages[at]), func(t *testing.T) {
			dir := copyDir(t, clean)
			f, err := os.OpenFile(filepath.Join(dir, "raft.db"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(rng.UintN(256))
			}
			if _, err := f.WriteAt(junk, int64(pages[at]*pageSize)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			wantDamage(t, "random bytes", openDamaged(dir))
		})
	}
	t.Run("one-byte-inside-an-entry", func(t *testing.T) {
		dir := copyDir(t, clean)
		p := filepath.Join(dir, "raft.db")
		b, _ := os.ReadFile(p)
		// Device d150's enrollment appears in exactly one live entry (and
		// perhaps in freed copies of its page); change it everywhere.
		n := bytes.Count(b, []byte(`"d150"`))
		if n == 0 {
			t.Fatal("entry not found in raft.db")
		}
		b = bytes.ReplaceAll(b, []byte(`"d150"`), []byte(`"d151"`))
		os.WriteFile(p, b, 0o600)
		err := openDamaged(dir)
		wantDamage(t, "one changed byte", err)
		if !strings.Contains(err.Error(), "checksum mismatch") {
			t.Fatalf("want a checksum mismatch: %v", err)
		}
	})
	fi, _ := os.Stat(file)
	for _, n := range []int64{0, 100, int64(pageSize), 2*int64(pageSize) + 10, fi.Size() / 2, int64(pages[len(pages)-1] * pageSize)} {
		t.Run(fmt.Sprintf("truncated-to-%d", n), func(t *testing.T) {
			dir := copyDir(t, clean)
			if err := os.Truncate(filepath.Join(dir, "raft.db"), n); err != nil {
				t.Fatal(err)
			}
			wantDamage(t, "truncated", openDamaged(dir))
		})
	}
	t.Run("snapshot-damaged", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir)
		seed(t, s, 5, 20)
		if err := s.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		states, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
		if len(states) != 1 {
			t.Fatalf("%d snapshots", len(states))
		}
		f, _ := os.OpenFile(states[0], os.O_RDWR, 0)
		f.WriteAt([]byte("XX"), 10)
		f.Close()
		wantDamage(t, "snapshot", openDamaged(dir))
	})
	// The clean copy still opens and holds every device.
	s, err := Open(Config{NodeID: "n1", Dir: copyDir(t, clean), RaftAddr: "127.0.0.1:0", Bootstrap: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("the undamaged log: %v", err)
	}
	s.Close()
}

// TestLegacyLogStillReadable: a log written before checksums (plain
// raft-boltdb entries) opens and replays.
func TestLegacyLogStillReadable(t *testing.T) {
	dir := t.TempDir()
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "127.0.0.1:1"}}}
	logs := []*raft.Log{{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)}}
	for i, c := range []string{`{"type":"create_account","create_account":{"id":"old"}}`} {
		logs = append(logs, &raft.Log{Index: uint64(i + 2), Term: 1, Type: raft.LogCommand, Data: []byte(c)})
	}
	if err := bolt.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	bolt.SetUint64([]byte("CurrentTerm"), 1)
	bolt.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "raft.db"))
	if bytes.Contains(b, []byte(sealMagic)) {
		t.Fatal("the legacy log carries checksums")
	}
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Logger: quietLogger(),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("a log without checksums: %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var ok bool
	s.Read(func(st *ledger.State) { _, ok = st.Account("old") })
	if !ok {
		t.Fatal("the account created by a legacy entry is missing")
	}
	// New entries are sealed next to the legacy ones.
	mustPropose(t, s, ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "new"}})
}

// TestDamageFoundWhileRunningStopsTheNode: an entry read back with a bad
// checksum, or one that does not decode when applied, calls OnDamage with
// the file and the index instead of being skipped.
func TestDamageFoundWhileRunningStopsTheNode(t *testing.T) {
	inner := raft.NewInmemStore()
	var got []*DamageError
	sums := &checksumLogStore{inner: inner, file: "/data/raft/raft.db", damaged: func(e *DamageError) { got = append(got, e) }}
	if err := sums.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte(`{"type":"create_account","create_account":{"id":"a"}}`)},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte(`{"type":"create_account","create_account":{"id":"b"}}`)},
	}); err != nil {
		t.Fatal(err)
	}
	var raw raft.Log
	inner.GetLog(2, &raw)
	raw.Data[len(raw.Data)-3] ^= 1
	inner.StoreLog(&raw)
	var l raft.Log
	if err := sums.GetLog(1, &l); err != nil || len(got) != 0 {
		t.Fatalf("an intact entry: %v %v", err, got)
	}
	if err := sums.GetLog(2, &l); err == nil || len(got) != 1 || got[0].Index != 2 || got[0].File != "/data/raft/raft.db" {
		t.Fatalf("a damaged entry: err %v, OnDamage %+v", err, got)
	}
	if err := sums.GetLog(3, &l); !errors.Is(err, raft.ErrLogNotFound) || len(got) != 1 {
		t.Fatalf("an entry never written is not damage: %v %v", err, got)
	}

	var applied []uint64
	f := &fsm{state: ledger.New(), log: quietLogger(), damaged: func(index uint64, err error) { applied = append(applied, index) }}
	f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: []byte("not json")})
	if len(applied) != 1 || applied[0] != 7 {
		t.Fatalf("an undecodable entry at apply: OnDamage calls %v", applied)
	}
}
