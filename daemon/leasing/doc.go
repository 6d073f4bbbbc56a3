// Package leasing is tallyd's policy layer between agents and the ledger: it
// turns agent requests into ledger commands, queues checkouts that wait for a
// seat, signs lease tokens from committed horizons, decides when a heartbeat
// must move a horizon, and runs the reaper that reclaims expired seats.
//
// It holds no state that must survive a restart: waiters and liveness are
// in memory and are rebuilt by agents retrying; everything granted is in the
// ledger.
//
// Design: docs/design.md#the-committed-horizon.
package leasing
