package transport

import (
	"testing"

	"github.com/hashicorp/raft"
)

// hashicorp/raft only runs pre-vote when the transport supports it; a
// wrapper that hid the method would silently turn it off, and with it the
// protection against a returning partitioned node deposing the leader.
func TestNetworkTransportSupportsPreVote(t *testing.T) {
	ca := newCA(t, "c1")
	layer, err := Listen(Config{BindAddr: "127.0.0.1:0", Certificate: nodeCert(t, ca, "n1"), CAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewNetworkTransport(layer, nil)
	defer tr.(interface{ Close() error }).Close()
	if _, ok := tr.(raft.WithPreVote); !ok {
		t.Fatalf("%T does not implement raft.WithPreVote: Raft would run without pre-vote", tr)
	}
}
