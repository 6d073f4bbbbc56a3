// Package store runs the ledger on hashicorp/raft: the FSM adapter, the
// raft-boltdb log and stable stores, the file snapshot store, and a proposer
// that packs concurrent commands into one log entry.
//
// Only the leader proposes. Propose stamps the leader's clock into a command
// that has no time yet, so Apply never reads a clock (DESIGN.md §1).
//
// Design: docs/design.md#the-ledger-and-its-log.
package store
