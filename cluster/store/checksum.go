package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/raft"
)

// Every log entry this node writes carries a CRC32C of its index, term,
// type and data, so that an entry damaged on disk (a flipped bit, a page of
// garbage that still decodes) is recognised when it is read back instead
// of being applied. The log store holds opaque bytes; the checksum travels
// in front of the entry's data:
//
//	sealMagic (4 bytes) | CRC32C (4 bytes, big endian) | data
//
// Entries written before checksums existed have no magic and are read as
// they are (ledger commands are JSON and start with '{', Raft's own
// entries are msgpack or empty, so neither can begin with the magic).
const sealMagic = "\xfeTC1"

const sealHeader = len(sealMagic) + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func entrySum(l *raft.Log, data []byte) uint32 {
	var hdr [17]byte
	binary.BigEndian.PutUint64(hdr[0:8], l.Index)
	binary.BigEndian.PutUint64(hdr[8:16], l.Term)
	hdr[16] = byte(l.Type)
	return crc32.Update(crc32.Checksum(hdr[:], castagnoli), castagnoli, data)
}

// seal returns a copy of l whose data carries the checksum; l itself is
// left alone (Raft keeps it in its cache and in flight to followers).
func seal(l *raft.Log) *raft.Log {
	c := *l
	c.Data = make([]byte, sealHeader+len(l.Data))
	copy(c.Data, sealMagic)
	binary.BigEndian.PutUint32(c.Data[len(sealMagic):], entrySum(l, l.Data))
	copy(c.Data[sealHeader:], l.Data)
	return &c
}

// unseal checks and strips the checksum of an entry read from disk as
// index. Entries without one (written before checksums) pass unchanged.
func unseal(index uint64, l *raft.Log) error {
	if l.Index != index {
		return fmt.Errorf("the entry stored under index %d says it is entry %d", index, l.Index)
	}
	if len(l.Data) < len(sealMagic) || string(l.Data[:len(sealMagic)]) != sealMagic {
		return nil
	}
	if len(l.Data) < sealHeader {
		return errors.New("the entry is cut short inside its checksum header")
	}
	want := binary.BigEndian.Uint32(l.Data[len(sealMagic):])
	data := l.Data[sealHeader:]
	if got := entrySum(l, data); got != want {
		return fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	l.Data = data
	return nil
}

// checksumLogStore adds and verifies the per-entry checksums around the
// store that holds the log on disk.
type checksumLogStore struct {
	inner raft.LogStore
	file  string
	// damaged is told about damage found while running; it stops the node.
	damaged func(*DamageError)
}

var _ raft.LogStore = (*checksumLogStore)(nil)

func (c *checksumLogStore) FirstIndex() (uint64, error) { return c.inner.FirstIndex() }
func (c *checksumLogStore) LastIndex() (uint64, error)  { return c.inner.LastIndex() }

func (c *checksumLogStore) GetLog(index uint64, l *raft.Log) error {
	if err := c.read(index, l); err != nil {
		var de *DamageError
		if errors.As(err, &de) && c.damaged != nil {
			c.damaged(de)
		}
		return err
	}
	return nil
}

// read is GetLog without the fail-stop hook, for the check at open.
func (c *checksumLogStore) read(index uint64, l *raft.Log) error {
	if err := c.inner.GetLog(index, l); err != nil {
		if errors.Is(err, raft.ErrLogNotFound) {
			return err
		}
		return &DamageError{File: c.file, Index: index, Reason: fmt.Sprintf("the entry cannot be read: %v", err)}
	}
	if err := unseal(index, l); err != nil {
		return &DamageError{File: c.file, Index: index, Reason: err.Error()}
	}
	return nil
}

func (c *checksumLogStore) StoreLog(l *raft.Log) error { return c.inner.StoreLog(seal(l)) }

func (c *checksumLogStore) StoreLogs(logs []*raft.Log) error {
	sealed := make([]*raft.Log, len(logs))
	for i, l := range logs {
		sealed[i] = seal(l)
	}
	return c.inner.StoreLogs(sealed)
}

func (c *checksumLogStore) DeleteRange(min, max uint64) error { return c.inner.DeleteRange(min, max) }
