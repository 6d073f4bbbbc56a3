package api

// Any node answers reads from its own copy of the ledger, which trails the
// leader by the replication delay (milliseconds when healthy, unbounded when
// the node is cut off). So that nobody mistakes a stale answer for the
// truth, every answer says who gave it and how fresh it is, and a caller
// that needs the leader's current view asks for it with
// "X-Tally-Consistency: leader" (tallyctl --consistent).
const (
	// HeaderNode names the node whose ledger answered.
	HeaderNode = "X-Tally-Node"
	// HeaderRaftState is that node's Raft state: Leader, Follower, Candidate.
	HeaderRaftState = "X-Tally-Raft-State"
	// HeaderLeader is the leader's ID as that node knows it ("" if none).
	HeaderLeader = "X-Tally-Leader"
	// HeaderAppliedIndex is the Raft index the node's ledger had applied:
	// for a read when the request arrived, for a write once the write was
	// applied there. The answer reflects at least every entry up to it.
	HeaderAppliedIndex = "X-Tally-Applied-Index"
	// HeaderLastContact is, on a follower, how many milliseconds ago it last
	// heard from the leader; absent on the leader.
	HeaderLastContact = "X-Tally-Last-Contact-Ms"
	// HeaderConsistency: on a request, "leader" asks for a linearizable
	// read; on the answer, "leader" or "local" says which one was served.
	HeaderConsistency = "X-Tally-Consistency"
	// ConsistencyLeader and ConsistencyLocal are HeaderConsistency's values.
	ConsistencyLeader = "leader"
	ConsistencyLocal  = "local"
	// HeaderMinIndex, on a request, is the lowest Raft index the answering
	// node must have applied first: the highest HeaderAppliedIndex the
	// client has seen, so that it reads its own writes at any node. The
	// node waits (5 s at most), then answers 503 unavailable.
	HeaderMinIndex = "X-Tally-Min-Index"
	// HeaderIdempotencyKey, on a write, names the request so that a retry
	// of it (the client never saw the answer) returns the first attempt's
	// outcome instead of changing anything again.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplay marks an answer replayed from the record of
	// an earlier request with the same Idempotency-Key.
	HeaderIdempotentReplay = "Idempotent-Replayed"
)
