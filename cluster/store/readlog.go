package store

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// ReadLog opens a stopped node's Raft log (its raft.db, read-only) and
// calls fn with every entry from the first to the last, checksums checked
// and stripped as the running node reads them. The chaos tests replay it
// to audit what every node applied.
func ReadLog(path string, fn func(l *raft.Log) error) error {
	db, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second}})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	first, err := db.FirstIndex()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	last, err := db.LastIndex()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for idx := first; idx <= last && idx > 0; idx++ {
		var l raft.Log
		if err := db.GetLog(idx, &l); err != nil {
			return fmt.Errorf("%s: index %d: %w", path, idx, err)
		}
		if err := unseal(idx, &l); err != nil {
			return fmt.Errorf("%s: index %d: %w", path, idx, err)
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	return nil
}
