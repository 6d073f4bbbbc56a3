package e2e

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/daemon/loadgen"
)

// TestLoadHarnessSmoke runs the load harness (tallyctl bench's engine) with a
// handful of devices against a real 3-node cluster, leader kill included. It
// checks what the harness reports, not how fast: every phase succeeds for
// every device, grants and releases write to Raft, and a heartbeat that does
// not move a horizon writes nothing (S4).
func TestLoadHarnessSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, loadgen.Config{
		Tallyd: bin("tallyd"), Agent: bin("tally-agent"), Nodes: 3, Devices: 6, Concurrency: 3,
		HeartbeatRounds: 2, KillLeader: true, Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]loadgen.Phase{}
	for _, p := range res.Phases {
		byName[p.Name] = p
		if p.Errors != 0 {
			t.Errorf("phase %s: %d of %d operations failed, first: %s", p.Name, p.Errors, p.Ops, p.FirstErr)
		}
	}
	for _, name := range []string{"enroll", "checkout", "heartbeat", "heartbeat-datagram", "release"} {
		if _, ok := byName[name]; !ok {
			t.Fatalf("no %s phase in %+v", name, res.Phases)
		}
	}
	// The first round goes over QUIC and gives each device its datagram
	// session; the second is datagrams.
	if hb := byName["heartbeat"]; hb.Ops != 6 || hb.RaftEntries != 0 {
		t.Errorf("heartbeat phase: %d heartbeats wrote %d Raft entries; want 6 heartbeats and no entries (no horizon moves)", hb.Ops, hb.RaftEntries)
	}
	if dg := byName["heartbeat-datagram"]; dg.Ops != 6 || dg.RaftEntries != 0 || dg.QUICFallbacks >= dg.Ops {
		t.Errorf("datagram heartbeat phase: %d heartbeats (%d over QUIC) wrote %d Raft entries; want 6, mostly datagrams, no entries",
			dg.Ops, dg.QUICFallbacks, dg.RaftEntries)
	}
	if co := byName["checkout"]; co.RaftEntries == 0 || co.RaftEntries > uint64(co.Ops) {
		t.Errorf("checkout phase: %d grants took %d Raft entries; want between 1 and one per grant", co.Ops, co.RaftEntries)
	}
	if res.GrantsResumeSeconds <= 0 || res.ElectionSeconds <= 0 {
		t.Errorf("leader kill not measured: election %v s, grants resume %v s", res.ElectionSeconds, res.GrantsResumeSeconds)
	}
	if res.AgentIdleRSSKiB <= 0 {
		t.Errorf("the idle agent's memory was not measured")
	}
	rep := &loadgen.Report{Runs: []*loadgen.Result{res}}
	var table strings.Builder
	rep.PrintTable(&table)
	if !strings.Contains(table.String(), "checkout") || !strings.Contains(table.String(), "leader kill") {
		t.Errorf("table lacks phases:\n%s", table.String())
	}
	svg := rep.SVG()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("the SVG chart is not well-formed XML: %v\n%s", err, svg)
			}
			break
		}
	}
}
