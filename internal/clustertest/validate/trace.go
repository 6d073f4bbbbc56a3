// Package validate checks what a chaos run did: the applied log every node
// reported (one command and one result per index, on every node), the log
// audit S1–S5 at every entry, the client history against the seat model
// (porcupine), what clients were told against the final ledger, and the
// token ledger of every signed lease token a client received.
//
// Design: docs/design.md#lease-safety.
package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
)

// ApplyTrace records, from every node's ApplyObserver, which command and
// result each log index had. Two nodes (or one node before and after a
// restart) applying different commands or getting different results at the
// same index is a broken state machine, recorded as a conflict.
type ApplyTrace struct {
	mu        sync.Mutex
	entries   map[uint64]*traceEntry
	conflicts []string
	observed  int
}

type traceEntry struct {
	node     string
	cmd      ledger.Command
	res      ledger.Result
	cmdJSON  []byte
	resJSON  []byte
	sameSeen int
}

// NewApplyTrace returns an empty trace.
func NewApplyTrace() *ApplyTrace { return &ApplyTrace{entries: map[uint64]*traceEntry{}} }

// Observe records that node applied cmd with result res at index idx.
func (tr *ApplyTrace) Observe(node string, idx uint64, cmd *ledger.Command, res ledger.Result) {
	cj, err1 := json.Marshal(cmd)
	rj, err2 := json.Marshal(res)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.observed++
	if err := errors.Join(err1, err2); err != nil {
		tr.conflicts = append(tr.conflicts, fmt.Sprintf("index %d on %s: %v", idx, node, err))
		return
	}
	e, ok := tr.entries[idx]
	if !ok {
		tr.entries[idx] = &traceEntry{node: node, cmd: *cmd, res: res, cmdJSON: cj, resJSON: rj}
		return
	}
	if !bytes.Equal(e.cmdJSON, cj) || !bytes.Equal(e.resJSON, rj) {
		if len(tr.conflicts) < 10 {
			tr.conflicts = append(tr.conflicts, fmt.Sprintf("index %d: %s applied %s -> %s; %s applied %s -> %s", idx, e.node, e.cmdJSON, e.resJSON, node, cj, rj))
		}
		return
	}
	e.sameSeen++
}

// Log is the applied log in index order.
func (tr *ApplyTrace) Log() []linearize.Entry {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]linearize.Entry, 0, len(tr.entries))
	for idx, e := range tr.entries {
		out = append(out, linearize.Entry{Index: idx, Cmd: e.cmd, Res: e.res})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Problems returns the conflicts seen, the number of observations and the
// number of distinct indexes.
func (tr *ApplyTrace) Problems() (conflicts []string, observed, distinct int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.conflicts...), tr.observed, len(tr.entries)
}
