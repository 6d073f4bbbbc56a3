package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// TestSDKAgainstRealAgents: the application SDK talking to real tally-agent
// processes: a verified checkout (token checked against the JWKS the agent
// received from the cluster), activity reports recorded per lease, a
// non-blocking checkout that fails at once, and an asynchronous one that
// gets the seat when it is released.
func TestSDKAgainstRealAgents(t *testing.T) {
	s := startServer(t, "--lease-ttl", "30s")
	tok := s.setupAccount("acme", "cad", 1)
	a1, a2 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok)
	c1, c2 := sdk.New(a1.socket), sdk.New(a2.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	v, err := c1.CheckoutVerified(ctx, "cad")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c1.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Claims.Feature != "cad" || v.Claims.Device != st.DeviceCode || v.Claims.Account != "acme" || v.Claims.LeaseID != v.Lease.ID {
		t.Fatalf("verified claims %+v for device %s", v.Claims, st.DeviceCode)
	}
	if len(v.AddOns()) != len(v.Claims.AddOns) || v.HasAddOn("nonexistent") {
		t.Fatalf("add-ons %v", v.AddOns())
	}
	// The agent's JWKS is the cluster's, and it is cached in the state dir.
	file, _ := fetchJWKS(t, s)
	want, _ := os.ReadFile(file)
	got, err := c1.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKeys(t, got, want) {
		t.Fatalf("agent JWKS %s, cluster JWKS %s", got, want)
	}
	// A token tampered with does not verify.
	bad := *v.Lease
	bad.Token = bad.Token[:len(bad.Token)-4] + "AAAA"
	if _, err := c1.Verify(ctx, &bad); lease.ReasonOf(err) != lease.ReasonBadSignature {
		t.Fatalf("tampered token: %v", err)
	}

	// Activity is recorded per lease, and refused for a feature not held.
	before := time.Now()
	if err := c1.Activity(ctx, "cad"); err != nil {
		t.Fatal(err)
	}
	st, _ = c1.Status(ctx)
	if at, ok := st.Activity["cad"]; !ok || at.Before(before.Add(-time.Second)) {
		t.Fatalf("activity not recorded: %v", st.Activity)
	}
	if err := c1.Activity(ctx, "other"); protocol.CodeOf(err) != protocol.CodeLeaseNotFound {
		t.Fatalf("activity on a feature not held: %v", err)
	}

	// The only seat is taken: a non-blocking checkout fails at once...
	if _, err := c2.TryCheckout(ctx, "cad"); protocol.CodeOf(err) != protocol.CodeNoSeat {
		t.Fatalf("TryCheckout with no free seat: %v", err)
	}
	// ...and an asynchronous one waits and gets the seat when it frees.
	res := c2.CheckoutAsync(ctx, "cad", sdk.WithWait(30*time.Second))
	select {
	case r := <-res:
		t.Fatalf("the waiting checkout returned before the seat was freed: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := c1.Release(ctx, "cad"); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.Err != nil {
		t.Fatalf("waiting checkout: %v", r.Err)
	}
	if _, err := c2.Verify(ctx, r.Lease); err != nil {
		t.Fatalf("the second device's token: %v", err)
	}
}

// sameKeys compares two JWKS documents by their key IDs.
func sameKeys(t *testing.T, a, b []byte) bool {
	t.Helper()
	ka, err := lease.ParseKeySet(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := lease.ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(ka.KeyIDs())
	jb, _ := json.Marshal(kb.KeyIDs())
	return bytes.Equal(ja, jb)
}
