package sdk

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/protocol"
)

func TestUnreachableAgentIsUnavailable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	_, err := New(sock).Checkout(context.Background(), "cad")
	if protocol.CodeOf(err) != protocol.CodeUnavailable || !strings.Contains(err.Error(), sock) {
		t.Fatalf("Checkout with no agent = %v", err)
	}
}

func TestNewUsesEnvironment(t *testing.T) {
	t.Setenv(api.SocketEnv, "/run/x/agent.sock")
	if got := New("").SocketPath(); got != "/run/x/agent.sock" {
		t.Fatalf("socket = %q", got)
	}
	if got := New("/other.sock").SocketPath(); got != "/other.sock" {
		t.Fatalf("socket = %q", got)
	}
}
