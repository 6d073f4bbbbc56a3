package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/tally-licensing/tally/protocol"
)

// A request ID makes a command idempotent for the caller that sent it, and
// for that request only. The record of an applied request keeps who asked
// (requestOwner) and a digest of what was asked (requestDigest); a command
// reusing the ID must match both, or it is refused. Otherwise a device could
// replay another account's request ID and be handed a fresh token for that
// account's lease, or reuse its own ID with a different body and get the
// old result (issue 13, findings 2 and 3).

// requestOwner is who sent c: the authenticated actor the proposer
// recorded, or, for a device's own lease commands, the device.
func requestOwner(c *Command) string {
	if c.Actor != "" {
		return c.Actor
	}
	return defaultActor(c)
}

// requestDigest is a digest of c's type and payload, without the fields the
// proposer stamps anew on each attempt (time, request ID, actor).
func requestDigest(c *Command) string {
	raw, err := json.Marshal(struct {
		Type    CommandType
		Payload any
	}{c.Type, c.Payload})
	if err != nil {
		return "" // cannot happen for ledger types; an empty digest never matches a non-empty one
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// checkReplay decides about a command whose request ID was applied before:
// the recorded result if the same caller sends the same request, a refusal
// otherwise. Records from before owners were kept (empty Owner) replay as
// they did.
func (s *State) checkReplay(rec *requestRecord, c *Command) (Result, bool) {
	if rec.Owner != "" && (rec.Owner != requestOwner(c) || rec.Digest != requestDigest(c)) {
		return fail(protocol.CodeIdempotencyConflict, "request ID %q was already used for another request; send a new ID for a new request", c.RequestID), false
	}
	r := rec.Result.clone()
	r.Replayed = true
	// A replayed grant names a lease as it was: answer with the lease as it
	// is now, or with why it is gone (released, reclaimed, revoked), so no
	// token is ever signed from a stale result.
	if c.Type == CmdCheckout && r.Lease != nil {
		cur, gone := s.Lease(r.Lease.ID)
		switch {
		case gone != nil:
			return Result{Error: gone}, false
		case cur.Account != r.Lease.Account || cur.Device != r.Lease.Device:
			return fail(protocol.CodeNotHolder, "lease %d is held by another device", cur.ID), false
		case cur.Revoked:
			return fail(protocol.CodeLeaseRevoked, "lease %d was revoked by an administrator", cur.ID), false
		}
		r.Lease = &cur
	}
	return r, true
}
