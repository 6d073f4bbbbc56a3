package api

import (
	"time"
)

// ClusterMember is one node as `tallyctl cluster list` shows it.
type ClusterMember struct {
	ID           string    `json:"id"`
	RaftAddr     string    `json:"raft_addr"`
	AgentAddr    string    `json:"agent_addr,omitempty"`
	AdminAddr    string    `json:"admin_addr,omitempty"`
	Suffrage     string    `json:"suffrage"`
	Role         string    `json:"role"`
	AppliedIndex uint64    `json:"applied_index,omitempty"`
	LastContact  time.Time `json:"last_contact,omitempty"`
	Reachable    bool      `json:"reachable"`
	Error        string    `json:"error,omitempty"`
}

// ClusterView is GET /v1/cluster.
type ClusterView struct {
	ClusterID string          `json:"cluster_id"`
	Leader    string          `json:"leader"`
	AskedNode string          `json:"asked_node"`
	Members   []ClusterMember `json:"members"`
}

// JoinBundleRequest asks for the credentials of a new node.
type JoinBundleRequest struct {
	NodeID string `json:"node_id"`
}

// JoinBundle is what a new node needs to join: the cluster's identity and
// CA, with its key, so that the node can issue its own node certificate,
// enroll devices and lead. It is a secret; it only travels to a holder of an
// admin token, over TLS verified against the cluster CA.
type JoinBundle struct {
	ClusterID string `json:"cluster_id"`
	CACert    []byte `json:"ca_cert"`
	CAKey     []byte `json:"ca_key"`
}

// AddNodeRequest adds a running node to the Raft configuration.
type AddNodeRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	// Nonvoter adds the node without a vote: it receives the log and serves
	// agents (heartbeats from its applied state, writes forwarded to the
	// leader) but commits never wait for it. Adding a voter's ID again
	// without it promotes a non-voter.
	Nonvoter bool `json:"nonvoter,omitempty"`
}

// TransferRequest names the node to hand leadership to (empty: any).
type TransferRequest struct {
	NodeID string `json:"node_id,omitempty"`
}
