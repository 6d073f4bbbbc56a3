// Package ledger is Tally's replicated state machine: accounts, pools,
// devices, enrollment and admin tokens, signing keys and leases, and the
// commands that change them.
//
// Apply is deterministic. It never reads a clock or a random source: the
// leader stamps the time, new IDs and the request ID into each Command before
// proposing it, and every node applying the same log reaches the same State.
// That is what lets a new leader inherit every lease horizon from the log
// (DESIGN.md §2, S3).
//
// The ledger enforces the seat rules itself, at apply time, so that two
// checkouts racing through different nodes can never both take the last seat:
// whichever the log orders first wins and the second gets no_seat.
package ledger
