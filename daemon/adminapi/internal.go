package adminapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// PathInternalPropose is where followers forward ledger commands.
const PathInternalPropose = "/internal/v1/propose"

// Node-to-node forwarding carries only what a follower itself decides on
// behalf of an authenticated device, or about itself. Administrators'
// changes never travel this way: a follower proxies the administrator's
// whole HTTPS request to the leader (proxyWriteToLeader), which checks the
// administrator's own credential again and names them in the audit log. So a
// node certificate — or a stolen CA key that can mint one — is not a way to
// create admin tokens or change accounts.
//
// forwardable maps each command type a node may forward to how the leader
// attributes it: to the device named in the command, or to the forwarding
// node itself.
var forwardable = map[ledger.CommandType]forwardedBy{
	ledger.CmdCheckout:      byDevice,
	ledger.CmdRenew:         byDevice,
	ledger.CmdRelease:       byDevice,
	ledger.CmdEnrollDevice:  byDevice, // checked against the enrollment token by the ledger
	ledger.CmdActivate:      byDevice, // a user signing in on a device
	ledger.CmdDeviceSignIn:  byDevice, // tally-agent login, bound to the device's key
	ledger.CmdDeviceSignOut: byDevice,
	ledger.CmdDeviceSeen:    byDevice,
	// Browser-approved sign-in: the device starts and finishes it (the
	// member approves it on the leader, with their password).
	ledger.CmdStartApproval:  byDevice,
	ledger.CmdFinishApproval: byDevice,
	ledger.CmdRegisterKey:    byNode,
	ledger.CmdRegisterNode:   byNode,
	// A node reports the failed sign-ins it saw (a device's member sign-in).
	ledger.CmdSignInBrake: byNode,
}

type forwardedBy int

const (
	byDevice forwardedBy = iota + 1
	byNode
)

// checkForwarded refuses a forwarded command that no node may forward, or
// that a node forwards about another node, or in the name of anyone but a
// device, and sets the actor of a node's own commands.
func checkForwarded(from string, cmd *ledger.Command) error {
	by, ok := forwardable[cmd.Type]
	if !ok {
		return protocol.Errorf(protocol.CodeForbidden, "node %s may not forward %s commands: administrators' changes go to the leader with their own credential", from, cmd.Type)
	}
	if len(cmd.Batch) > 0 {
		return protocol.Errorf(protocol.CodeForbidden, "node %s may not forward batches", from)
	}
	switch by {
	case byNode:
		switch p := cmd.Payload.(type) {
		case *ledger.SigningKey:
			if p.NodeID != from {
				return protocol.Errorf(protocol.CodeForbidden, "node %s may register only its own signing key, not %s's", from, p.NodeID)
			}
		case *ledger.Node:
			if p.ID != from {
				return protocol.Errorf(protocol.CodeForbidden, "node %s may register only itself, not %s", from, p.ID)
			}
		}
		cmd.Actor = "node:" + from
	case byDevice:
		// The ledger names the device from the command; a node may not
		// say an administrator or a member asked.
		if cmd.Actor != "" && !strings.HasPrefix(cmd.Actor, "device:") {
			return protocol.Errorf(protocol.CodeForbidden, "node %s may forward device commands only in a device's name, not %q", from, cmd.Actor)
		}
	}
	return nil
}

// internalPropose applies a command forwarded by another node of the
// cluster: a current member of the Raft configuration, holding a node
// certificate of this cluster's CA; an admin token is not enough.
func (a *api) internalPropose(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "internal endpoints need TLS"))
		return
	}
	from, err := a.nodes.Verify(r.TLS.PeerCertificates, a.now())
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "only nodes of this cluster may forward commands: %v", err))
		return
	}
	if err := a.checkMember(from); err != nil {
		a.log.Warn("refused a forwarded command from a node outside the cluster", "node", from, "remote", r.RemoteAddr)
		writeError(w, err)
		return
	}
	var cmd ledger.Command
	if err := decodeLimit(r, &cmd, 1<<20); err != nil {
		writeError(w, err)
		return
	}
	if err := checkForwarded(from, &cmd); err != nil {
		a.log.Warn("refused a forwarded command", "node", from, "type", cmd.Type, "err", err)
		writeError(w, err)
		return
	}
	// The leader's clock decides, never the follower's.
	cmd.Now = a.now()
	res, err := a.cfg.ProposeLocal(r.Context(), cmd)
	if err != nil {
		writeError(w, err)
		return
	}
	a.log.Debug("applied forwarded command", "type", cmd.Type, "from", from)
	// The forwarding node waits until it has applied this far before it
	// answers its client, so the client reads its write there.
	w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(a.cfg.Store.AppliedIndex(), 10))
	writeJSON(w, http.StatusOK, res)
}

// checkMember refuses a node that is not in the Raft configuration now: a
// removed node, or a certificate minted for a node that never joined.
func (a *api) checkMember(node string) error {
	members, err := a.cfg.Store.Members()
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID == node {
			return nil
		}
	}
	return protocol.Errorf(protocol.CodeForbidden, "node %s is not a member of this cluster's Raft configuration", node)
}

// proxyWriteToLeader sends an administrator's change, received by a
// follower, to the leader as it came — Authorization header included — so
// that the leader authenticates and authorizes the administrator itself and
// the audit log names them. It reports whether it answered the request.
func (a *api) proxyWriteToLeader(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || a.cfg.Store.IsLeader() {
		return false
	}
	if a.leaderIsPreviousRelease() {
		// During a rolling upgrade a leader of the previous release may
		// not know this release's routes; it still takes forwarded
		// commands as it always did, so serve here and forward those.
		return false
	}
	if r.Header.Get("X-Tally-Forwarded") != "" || a.cfg.Cluster.ForwardToLeader == nil {
		writeError(w, protocol.Errorf(protocol.CodeNotLeader, "this node is not the leader; retry (the leader changed while the request travelled)"))
		return true
	}
	a.cfg.Cluster.ForwardToLeader(w, r)
	return true
}

// leaderIsPreviousRelease reports whether the leader registered a log
// format older than this release's (it runs the previous release).
func (a *api) leaderIsPreviousRelease() bool {
	_, leader := a.cfg.Store.Leader()
	old := false
	a.cfg.Store.Read(func(st *ledger.State) {
		for _, n := range st.Nodes() {
			if n.ID == leader {
				old = max(n.LogFormat, 1) < ledger.LogFormat
			}
		}
	})
	return old
}
