package ledger

import (
	"bytes"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func claim(day, node string) Command {
	return Command{Type: CmdClaimNotification, Payload: &NotificationClaim{Account: "acme", Kind: NotifySubscriptionExpiry, Day: day, To: "it@acme.test", Node: node}}
}

func TestNotificationClaimedOncePerDay(t *testing.T) {
	f := newFixture(t, 1, 0)
	f.must(t, claim("2026-11-01", "node1"))
	// A new leader after a failover tries the same reminder.
	wantCode(t, f.apply(claim("2026-11-01", "node2")), protocol.CodeAlreadyExists)
	f.must(t, Command{Type: CmdNotificationDone, Payload: &NotificationDone{Account: "acme", Kind: NotifySubscriptionExpiry, Day: "2026-11-01", Node: "node1", Sent: true}})
	wantCode(t, f.apply(claim("2026-11-01", "node1")), protocol.CodeAlreadyExists)
	// The next day is a new reminder.
	f.must(t, claim("2026-11-02", "node2"))
	// A failed send releases its claim for a retry.
	f.must(t, Command{Type: CmdNotificationDone, Payload: &NotificationDone{Account: "acme", Kind: NotifySubscriptionExpiry, Day: "2026-11-02", Node: "node2", Error: "relay down"}})
	if f.s.Notified("acme", NotifySubscriptionExpiry, "2026-11-02") {
		t.Fatal("released claim still held")
	}
	f.must(t, claim("2026-11-02", "node3"))
	// Only the claimant reports the outcome.
	wantCode(t, f.apply(Command{Type: CmdNotificationDone, Payload: &NotificationDone{Account: "acme", Kind: NotifySubscriptionExpiry, Day: "2026-11-02", Node: "node1", Sent: true}}), protocol.CodeNotFound)
	// Bad claims change nothing.
	unchangedBy(t, f, protocol.CodeInvalidArgument, claim("yesterday", "node1"))
	bad := claim("2026-11-03", "node1")
	PayloadOf[NotificationClaim](&bad).Account = "nobody"
	unchangedBy(t, f, protocol.CodeUnknownAccount, bad)
	before := snapshotBytes(t, f.s)

	n := New()
	if err := n.ReadSnapshot(bytes.NewReader(before)); err != nil {
		t.Fatal(err)
	}
	if got := n.NotificationClaims(); len(got) != 2 || !got[0].Sent || got[1].Node != "node3" {
		t.Fatalf("claims after restore: %+v", got)
	}
	// Claims are forgotten after claimMemory of command time.
	f.now = f.now.Add(claimMemory + time.Hour)
	f.must(t, Command{Type: CmdSetPool, Payload: &SetPool{Account: "acme", Feature: "cad", Seats: 1}})
	if len(f.s.NotificationClaims()) != 0 {
		t.Fatalf("claims not pruned: %+v", f.s.NotificationClaims())
	}
}
