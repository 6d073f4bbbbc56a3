package ledger

import (
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CmdIssueJoinBundle records that a join bundle — the cluster CA with its
// key, for a node about to join — was handed out, and to whom, so that the
// replicated audit log names every holder of the key material (issue 13).
// It changes nothing else.
const CmdIssueJoinBundle CommandType = "issue_join_bundle"

// JoinBundleIssued is CmdIssueJoinBundle's payload.
type JoinBundleIssued struct {
	NodeID string `json:"node_id"`
}

func (j *JoinBundleIssued) describe() (string, string) {
	return "", "issue join bundle (cluster CA key) for node " + j.NodeID
}

func (s *State) issueJoinBundle(_ time.Time, j *JoinBundleIssued) Result {
	if !ValidID(j.NodeID) {
		return fail(protocol.CodeInvalidArgument, "node ID %q must be 1-64 letters, digits, '.', '_' or '-'", j.NodeID)
	}
	return Result{}
}
