package e2e

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol"
	"github.com/tally-licensing/tally/protocol/lease"
)

// rawDevice enrolls a device with its own key over QUIC and returns a
// client holding its certificate, to send requests an agent never would.
func rawDevice(t *testing.T, s *server, enrollToken, code string) *client.Client {
	t.Helper()
	c, err := enrollRaw(t, s, enrollToken, code)
	if err != nil {
		t.Fatalf("enroll %s: %v", code, err)
	}
	return c
}

// enrollRaw is rawDevice returning the enrollment's error.
func enrollRaw(t *testing.T, s *server, enrollToken, code string) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base, err := client.TLSConfig(s.caFile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := certs.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.CreateCSR(key, code)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := certs.EncodeKeyPEM(key)
	anon, err := client.New([]string{s.agentAddr}, base)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	var resp protocol.EnrollResponse
	if err := anon.Do(ctx, protocol.TypeEnroll, "enroll-"+code, protocol.EnrollRequest{Token: enrollToken, DeviceCode: code, CSR: csr, Hostname: code}, &resp); err != nil {
		return nil, err
	}
	pair, err := certs.KeyPair(resp.Certificate, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conf := base.Clone()
	conf.Certificates = []tls.Certificate{pair}
	c, err := client.New([]string{s.agentAddr}, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func doCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestReplayedCheckoutOfReleasedLeaseGetsNoToken replays finding 2: a
// device releases a borrowed lease, another device takes the pool's only
// seat, and the first sends its old checkout again under the same request
// ID. It must not get a token (before the fix it got a fresh, days-long
// one while the other device held the seat).
func TestReplayedCheckoutOfReleasedLeaseGetsNoToken(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	s.mustCtl("policy", "set", "acme", "--pool", "cad", "--borrow-days", "6")
	a, b := rawDevice(t, s, tok, "DEV-A"), rawDevice(t, s, tok, "DEV-B")
	ctx := doCtx(t)
	req := protocol.CheckoutRequest{Feature: "cad", Borrow: protocol.Duration(48 * time.Hour)}
	var first protocol.CheckoutResponse
	if err := a.Do(ctx, protocol.TypeCheckout, "req-a-1", req, &first); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(ctx, protocol.TypeRelease, "rel-a-1", protocol.ReleaseRequest{LeaseID: first.Lease.ID}, nil); err != nil {
		t.Fatal(err)
	}
	var other protocol.CheckoutResponse
	if err := b.Do(ctx, protocol.TypeCheckout, "req-b-1", protocol.CheckoutRequest{Feature: "cad"}, &other); err != nil {
		t.Fatalf("B takes the freed seat: %v", err)
	}
	var replay protocol.CheckoutResponse
	err := a.Do(ctx, protocol.TypeCheckout, "req-a-1", req, &replay)
	if err == nil {
		t.Fatalf("replayed checkout of released lease %d got a token (exp %s) while %d holds the only seat", replay.Lease.ID, replay.Lease.Expires, other.Lease.ID)
	}
	if c := protocol.CodeOf(err); c != protocol.CodeLeaseNotFound && c != protocol.CodeLeaseExpired && !strings.Contains(err.Error(), "released") {
		t.Logf("refusal: %v", err)
	}
	// A fresh request from A is refused for want of a seat, as it should be.
	if err := a.Do(ctx, protocol.TypeCheckout, "req-a-2", protocol.CheckoutRequest{Feature: "cad"}, nil); protocol.CodeOf(err) != protocol.CodeNoSeat {
		t.Fatalf("new checkout by A with the seat taken: %v, want no_seat", err)
	}
}

// TestRequestIDsBelongToTheirCaller replays finding 3: a device of account
// B sending account A's request ID gets no token for A's lease; the same
// device reusing its own ID with another body is refused too, while a plain
// retry of the same request still gets the same lease.
func TestRequestIDsBelongToTheirCaller(t *testing.T) {
	s := startServer(t)
	tokA := s.setupAccount("alpha", "cad", 2)
	tokB := s.setupAccount("bravo", "cad", 2)
	a, b := rawDevice(t, s, tokA, "ALPHA-1"), rawDevice(t, s, tokB, "BRAVO-1")
	ctx := doCtx(t)
	var got protocol.CheckoutResponse
	if err := a.Do(ctx, protocol.TypeCheckout, "shared-id-1", protocol.CheckoutRequest{Feature: "cad"}, &got); err != nil {
		t.Fatal(err)
	}
	var stolen protocol.CheckoutResponse
	err := b.Do(ctx, protocol.TypeCheckout, "shared-id-1", protocol.CheckoutRequest{Feature: "cad"}, &stolen)
	if err == nil {
		claims, _, _ := lease.ParseUnverified(stolen.Lease.Token)
		t.Fatalf("bravo's device replaying alpha's request ID got lease %d, claims %+v", stolen.Lease.ID, claims)
	}
	if protocol.CodeOf(err) != protocol.CodeIdempotencyConflict {
		t.Fatalf("another caller's request ID: %v, want idempotency_conflict", err)
	}
	// Same caller, same ID, another body: refused.
	if err := a.Do(ctx, protocol.TypeCheckout, "shared-id-1", protocol.CheckoutRequest{Feature: "cam"}, nil); protocol.CodeOf(err) != protocol.CodeIdempotencyConflict {
		t.Fatalf("same ID, other body: %v, want idempotency_conflict", err)
	}
	// Same caller, same request: the same lease, as a retry should.
	var again protocol.CheckoutResponse
	if err := a.Do(ctx, protocol.TypeCheckout, "shared-id-1", protocol.CheckoutRequest{Feature: "cad"}, &again); err != nil || again.Lease.ID != got.Lease.ID {
		t.Fatalf("retry: lease %d, err %v; want lease %d", again.Lease.ID, err, got.Lease.ID)
	}
	if ls := s.leases(); len(ls) != 1 {
		t.Fatalf("%d leases after the replays, want 1: %+v", len(ls), ls)
	}
}
