// Package ledger is Tally's replicated state machine: everything the
// cluster knows, and the commands that change it.
//
// Design: docs/design.md#the-ledger-and-its-log (Apply, the command
// registry, the versioned log), docs/design.md#data-model and
// docs/design.md#lease-safety (the seat rules S1–S5).
//
// # What the ledger holds
//
// Everything below is in State, replicated by the log and written to
// snapshots (snapshot.go); nothing else in tallyd survives a restart.
//
//   - Cluster: the cluster ID and the Settings that influence Apply (lease
//     TTL, heartbeat interval, max skew, audit retention) (state.go,
//     types.go).
//   - Nodes: each node's Raft, agent and admin addresses and the log format
//     its tallyd reads; the nodes' public lease-signing keys and their
//     certificates (types.go).
//   - Accounts and pools: licensing model, administrator address,
//     subscription end; per pool the purchased seats, lease TTL and
//     soft-cap overage marks (types.go, state.go).
//   - Policies per account and per pool, and the administrator events they
//     raise (overage started, reminders) (policy.go).
//   - Devices: enrolled Device Codes with their key fingerprint, last
//     heartbeat and agent version (types.go, devices.go).
//   - Leases with their committed horizons, indexed by pool and device, the
//     next fencing ID, and tombstones of ended leases (state.go).
//   - Enrollment tokens, admin tokens, roles and console sessions, as
//     hashes (state.go, roles.go, sessions.go).
//   - Members: users, invitations, teams and team administrators, member
//     seats, the seat policy, subscription plan, period and renewal
//     (members.go, members_*.go, members_query.go).
//   - Device sign-ins of members (signins.go).
//   - Named licenses: products and licenses by UUID with extension keys,
//     numbers and add-ons (licenses.go, license_ops.go,
//     licenses_import.go).
//   - Vendor keys, entitlements and denial counters (entitlements.go).
//   - The audit log (audit.go) and e-mail notification claims
//     (notifications.go).
//   - Idempotency: recent request IDs with their results (state.go) and
//     admin Idempotency-Key records (admin_requests.go).
//
// # Commands
//
// Every change is a Command with a typed payload, applied by the function
// registered for its type in registry.go, the one place a command is
// added. log.go writes commands to the Raft log and reads them back
// strictly, in versioned formats; log_legacy.go reads the previous
// release's entries.
//
// Apply is deterministic. It never reads a clock or a random source: the
// leader stamps the time, new IDs and the request ID into each Command
// before proposing it, and every node applying the same log reaches the
// same State. That is what lets a new leader inherit every lease horizon
// from the log (S3). An entry is applied with the rules of its log format,
// so an old log replays to the ledger the release that wrote it built.
//
// The ledger enforces the seat rules itself, at apply time, so that two
// checkouts racing through different nodes can never both take the last
// seat: whichever the log orders first wins and the second gets no_seat.
package ledger
