// Package linearize holds the checkers that the cluster tests run over what
// they recorded while faults were injected:
//
//   - a porcupine model of one seat pool (checkout, renew, release by
//     simulated devices) to decide whether a client history is linearizable;
//   - a Recorder for such histories, where an operation whose outcome the
//     client never learned stays pending (it may or may not have happened);
//   - MaxHeld, the S1 check in ledger time: given each lease's
//     [Since, end) interval, the most leases held at one instant;
//   - Audit, a replay of the applied log (every command with its result, in
//     log order) that checks S1 at every entry, S3 for every reclaim, S5 for
//     every release, and that fencing IDs only grow.
//
// It imports no Raft: the store tests feed it, and so could any other
// harness that drives the ledger.
//
// Design: docs/design.md#lease-safety.
package linearize
