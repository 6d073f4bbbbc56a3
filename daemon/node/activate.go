package node

import (
	"context"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// activate admits a user signing in on an enrolled device: the ledger
// decides under the account's seat policy and seats (members.go).
func (n *Node) activate(ctx context.Context, dev ledger.DeviceRef, req protocol.ActivateRequest, passwordHash, reqID string) (protocol.ActivateResponse, error) {
	// The device is the actor: format 1 named it in a "by" field that the
	// audit log never read, so activations were recorded as "system".
	res, err := n.propose(ctx, ledger.Command{Type: ledger.CmdActivate, RequestID: reqID, Actor: "device:" + dev.Account + "/" + dev.Code,
		Payload: &ledger.Activate{Account: dev.Account, Email: req.Email, Device: dev.Code, PasswordHash: passwordHash}})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return protocol.ActivateResponse{}, err
	}
	out := protocol.ActivateResponse{Account: dev.Account}
	if m := res.Members; m != nil && m.User != nil {
		out.Email, out.Role, out.Status, out.Joined = m.User.Email, string(m.User.Role), m.User.Status, m.Joined
	}
	n.log.Info("user activated on a device", "account", dev.Account, "device", dev.Code, "email", out.Email, "joined", out.Joined)
	return out, nil
}
