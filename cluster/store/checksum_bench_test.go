package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkSealUnseal is the per-entry cost of the checksum on a 1 KiB
// command, written and read back.
func BenchmarkSealUnseal(b *testing.B) {
	l := &raft.Log{Index: 42, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte("x"), 1024)}
	b.SetBytes(int64(len(l.Data)))
	for b.Loop() {
		s := seal(l)
		if err := unseal(42, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckLogAtOpen is the start-up check of a log of 10,000 entries
// of 512 bytes (about what a busy cluster keeps between snapshots).
func BenchmarkCheckLogAtOpen(b *testing.B) {
	file := filepath.Join(b.TempDir(), "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: file, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer bolt.Close()
	sums := &checksumLogStore{inner: bolt, file: file}
	data := []byte(fmt.Sprintf(`{"type":"create_account","create_account":{"id":"a","name":%q}}`, bytes.Repeat([]byte("n"), 440)))
	const n = 10_000
	batch := make([]*raft.Log, 0, 500)
	for i := uint64(1); i <= n; i++ {
		batch = append(batch, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data})
		if len(batch) == cap(batch) {
			if err := sums.StoreLogs(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		var at uint64
		if err := checkLog(file, sums, bolt, 0, &at); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "entries/op")
}
