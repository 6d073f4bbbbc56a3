package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/protocol"
)

// ClusterConfig is what the cluster endpoints need from the node.
type ClusterConfig struct {
	CA *certs.CA
	// ForwardToLeader proxies a request to the leader's admin API.
	ForwardToLeader http.HandlerFunc
	// NodeStatus asks another node for its Raft status.
	NodeStatus func(ctx context.Context, n ledger.Node) (store.Status, error)
}

func (a *api) registerCluster(auth func(string, func(http.ResponseWriter, *http.Request) error), mux *http.ServeMux) {
	auth("GET /v1/cluster", a.clusterList)
	auth("POST /v1/cluster/join-bundle", a.joinBundle)
	auth("POST /v1/cluster/nodes", a.leaderOnly(a.addNode))
	auth("DELETE /v1/cluster/nodes/{id}", a.leaderOnly(a.removeNode))
	auth("POST /v1/cluster/transfer-leader", a.leaderOnly(a.transferLeader))
	auth("GET /v1/backup", a.leaderOnly(a.backup))
	auth("POST /v1/backup", a.leaderOnly(a.backup))
	mux.HandleFunc("GET /internal/v1/status", a.internalStatus)
}

// leaderOnly runs h on the leader and proxies the request there from a
// follower, so administrators may talk to any node.
func (a *api) leaderOnly(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.cfg.Store.IsLeader() {
			return h(w, r)
		}
		if r.Header.Get("X-Tally-Forwarded") != "" || a.cfg.Cluster.ForwardToLeader == nil {
			return protocol.Errorf(protocol.CodeNotLeader, "this node is not the leader")
		}
		a.cfg.Cluster.ForwardToLeader(w, r)
		return nil
	}
}

func (a *api) clusterList(w http.ResponseWriter, r *http.Request) error {
	members, err := a.cfg.Store.Members()
	if err != nil {
		return err
	}
	var nodes []ledger.Node
	view := ClusterView{AskedNode: a.cfg.Store.NodeID()}
	a.cfg.Store.Read(func(st *ledger.State) {
		nodes = st.Nodes()
		view.ClusterID = st.ClusterID()
	})
	_, view.Leader = a.cfg.Store.Leader()
	byID := map[string]ledger.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	for _, m := range members {
		cm := ClusterMember{ID: m.ID, RaftAddr: m.Address, Suffrage: m.Suffrage, Role: "follower"}
		if m.Leader {
			cm.Role = "leader"
		}
		n, known := byID[m.ID]
		cm.AgentAddr, cm.AdminAddr = n.AgentAddr, n.AdminAddr
		var st store.Status
		var err error
		switch {
		case m.ID == a.cfg.Store.NodeID():
			st = a.cfg.Store.Status()
		case !known || a.cfg.Cluster.NodeStatus == nil:
			err = protocol.Errorf(protocol.CodeUnavailable, "node has not registered its addresses")
		default:
			st, err = a.cfg.Cluster.NodeStatus(ctx, n)
		}
		if err != nil {
			// A node that does not answer has no role we can know.
			cm.Role, cm.Error = "unreachable", err.Error()
		} else {
			cm.Reachable = true
			cm.AppliedIndex = st.AppliedIndex
			cm.LastContact = st.LastContact
			if st.State == "Candidate" {
				cm.Role = "candidate"
			}
		}
		view.Members = append(view.Members, cm)
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *api) joinBundle(w http.ResponseWriter, r *http.Request) error {
	var req JoinBundleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !ledger.ValidID(req.NodeID) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "node ID %q must be 1-64 letters, digits, '.', '_' or '-'", req.NodeID)
	}
	members, err := a.cfg.Store.Members()
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID == req.NodeID {
			return protocol.Errorf(protocol.CodeAlreadyExists, "node %s is already a member at %s; remove it first (tallyctl cluster remove %s) to replace it", m.ID, m.Address, m.ID)
		}
	}
	// The replicated audit log names who took the CA key, and for which
	// node (a cluster still running the previous release's log format
	// cannot record it; the node's own log line below still does).
	var format int
	a.cfg.Store.Read(func(st *ledger.State) { format = st.ClusterLogFormat() })
	if format >= 2 {
		if _, err := a.apply(r, ledger.Command{Type: ledger.CmdIssueJoinBundle, Payload: &ledger.JoinBundleIssued{NodeID: req.NodeID}}); err != nil {
			return err
		}
	}
	ca := a.cfg.Cluster.CA
	caKey, err := certs.EncodeKeyPEM(ca.Key)
	if err != nil {
		return err
	}
	b := JoinBundle{CACert: ca.CertPEM(), CAKey: caKey}
	a.cfg.Store.Read(func(st *ledger.State) { b.ClusterID = st.ClusterID() })
	a.log.Info("issued join bundle", "node", req.NodeID, "by", caller(r))
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *api) addNode(w http.ResponseWriter, r *http.Request) error {
	var req AddNodeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !ledger.ValidID(req.NodeID) || req.RaftAddr == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "adding a node needs its ID and Raft address")
	}
	add := a.cfg.Store.AddVoter
	if req.Nonvoter {
		add = a.cfg.Store.AddNonvoter
	}
	if err := add(r.Context(), req.NodeID, req.RaftAddr); err != nil {
		return err
	}
	a.log.Info("node added to the cluster", "node", req.NodeID, "raft", req.RaftAddr, "nonvoter", req.Nonvoter, "by", caller(r))
	return a.clusterList(w, r)
}

func (a *api) removeNode(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	members, err := a.cfg.Store.Members()
	if err != nil {
		return err
	}
	found := false
	for _, m := range members {
		found = found || m.ID == id
	}
	if !found {
		return protocol.Errorf(protocol.CodeNotFound, "node %q is not a member of the cluster", id)
	}
	if err := a.cfg.Store.RemoveServer(r.Context(), id); err != nil {
		return err
	}
	// Forget its addresses so agents stop being told about it. The node may
	// already be gone from the registry; that is fine.
	if _, err := a.cfg.Propose(r.Context(), ledger.Command{Type: ledger.CmdRemoveNode, Actor: caller(r), Payload: &ledger.RemoveNode{ID: id}}); err != nil {
		a.log.Warn("removed node from raft but could not drop its addresses", "node", id, "err", err)
	}
	a.log.Info("node removed from the cluster", "node", id, "by", caller(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) transferLeader(w http.ResponseWriter, r *http.Request) error {
	var req TransferRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	addr := ""
	if req.NodeID != "" {
		members, err := a.cfg.Store.Members()
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.ID == req.NodeID {
				addr = m.Address
			}
		}
		if addr == "" {
			return protocol.Errorf(protocol.CodeNotFound, "node %q is not a member of the cluster", req.NodeID)
		}
	}
	if err := a.cfg.Store.TransferLeadership(req.NodeID, addr); err != nil {
		return err
	}
	a.log.Info("leadership transferred", "to", req.NodeID, "by", caller(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// internalStatus is another node asking for this node's Raft status.
func (a *api) internalStatus(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "internal endpoints need TLS"))
		return
	}
	if _, err := a.nodes.Verify(r.TLS.PeerCertificates, a.now()); err != nil {
		writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "only nodes of this cluster may ask: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, a.cfg.Store.Status())
}
