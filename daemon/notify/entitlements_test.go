package notify

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol/entitlement"
)

// TestEntitlementExpiryReminder: the reminder names the entitlement, its
// features and the exact end, says hours when under two days, and stops
// once a renewal covering the same features is imported.
func TestEntitlementExpiryReminder(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	st := ledger.New()
	idx := uint64(0)
	apply := func(c ledger.Command) {
		t.Helper()
		idx++
		c.Now = t0
		if r := st.Apply(idx, &c); r.Error != nil {
			t.Fatalf("%s: %v", c.Type, r.Error)
		}
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(serial, supersedes string, end time.Time) string {
		jws, err := entitlement.Sign(entitlement.Entitlement{Vendor: "CAD Corp", Customer: "Acme", Serial: serial, Supersedes: supersedes,
			Features: []entitlement.Feature{{Name: "cad", Seats: 3}}, IssuedAt: t0.Add(-time.Hour), NotBefore: t0.Add(-time.Hour), Expires: end}, priv)
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}
	apply(ledger.Command{Type: ledger.CmdBootstrap, Payload: &ledger.Bootstrap{ClusterID: "c1", Settings: ledger.DefaultSettings()}})
	apply(ledger.Command{Type: ledger.CmdCreateAccount, Payload: &ledger.CreateAccount{ID: "acme", Name: "Acme", Model: ledger.ModelFloating}})
	apply(ledger.Command{Type: ledger.CmdTrustVendor, Payload: &ledger.TrustVendor{Name: "CAD Corp", PublicKey: pub}})
	end := t0.Add(30 * time.Hour)
	apply(ledger.Command{Type: ledger.CmdImportEntitlement, Payload: &ledger.ImportEntitlement{Account: "acme", JWS: sign("E-1", "", end)}})

	src := EntitlementExpiry{Within: 14 * 24 * time.Hour}
	if r := src.Due(st, t0.Add(-20*24*time.Hour)); len(r) != 0 {
		t.Fatalf("reminded three weeks ahead: %+v", r)
	}
	r := src.Due(st, t0)
	if len(r) != 1 || r[0].Kind != ledger.NotifyEntitlementExpiry {
		t.Fatalf("reminders: %+v", r)
	}
	for _, want := range []string{"E-1", "CAD Corp", "cad", end.Format("Monday 2 January 2006 15:04 MST"), "in 30 hours", "tallyctl entitlements import acme"} {
		if !strings.Contains(r[0].Body, want) {
			t.Errorf("the reminder does not say %q:\n%s", want, r[0].Body)
		}
	}
	apply(ledger.Command{Type: ledger.CmdImportEntitlement, Payload: &ledger.ImportEntitlement{Account: "acme", JWS: sign("E-2", "E-1", end.Add(365*24*time.Hour))}})
	if r := src.Due(st, t0); len(r) != 0 {
		t.Fatalf("reminded after the renewal: %+v", r)
	}
}
