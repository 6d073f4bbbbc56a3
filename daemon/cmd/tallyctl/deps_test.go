package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTallyctlIsAThinClient keeps tallyctl free of the server (issue 18):
// it speaks the admin API through protocol/api and daemon/adminclient, and
// links no Raft, no QUIC, no ledger store, no console assets, no load
// generator. A new import that drags one of them in fails here, with the
// chain to cut shown by `go list -deps` / `go mod why`.
func TestTallyctlIsAThinClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/hashicorp/raft",
		"github.com/quic-go/quic-go",
		"github.com/tally-licensing/tally/cluster/store",
		"github.com/tally-licensing/tally/daemon/adminapi",
		"github.com/tally-licensing/tally/daemon/console",
		"github.com/tally-licensing/tally/daemon/loadgen",
		"github.com/tally-licensing/tally/daemon/node",
		"github.com/tally-licensing/tally/daemon/leasing",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed only %q", out)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("tallyctl links %s", d)
			}
		}
	}
}
