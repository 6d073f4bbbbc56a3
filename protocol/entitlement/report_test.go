package entitlement_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
)

func TestReportVerifiesAndAnEditedByteDoesNot(t *testing.T) {
	ca, err := certs.NewCA("tally-rep", t0)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := lease.GenerateKey()
	pub := key.Public().(ed25519.PublicKey)
	kc, err := ca.IssueSigningKey(pub, lease.KeyID(pub), "tally-rep", t0)
	if err != nil {
		t.Fatal(err)
	}
	r := entitlement.Report{Cluster: "tally-rep", Account: "acme", From: t0, To: t0.Add(30 * 24 * time.Hour), Generated: t0.Add(31 * 24 * time.Hour),
		Lines: []entitlement.ReportLine{{Serial: "ENT-1", Feature: "countthings", Seats: 5, Peak: 5, SeatDays: 87.5, Denials: 3}}}
	jws, err := entitlement.SignReport(r, key, kc, ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	fp := entitlement.CAFingerprint(ca.Cert)
	got, err := entitlement.VerifyReport(jws, fp)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lines[0].Peak != 5 || got.CASHA256 != fp {
		t.Fatalf("report: %+v", got)
	}
	// Every single-byte change to the payload or signature fails.
	parts := strings.Split(jws, ".")
	for i := 0; i < len(parts[1]); i += 7 {
		b := []byte(parts[1])
		b[i] = flip(b[i])
		if _, err := entitlement.VerifyReport(parts[0]+"."+string(b)+"."+parts[2], fp); err == nil {
			t.Fatalf("payload edited at %d verified", i)
		}
	}
	other, _ := certs.NewCA("tally-rep", t0)
	if _, err := entitlement.VerifyReport(jws, entitlement.CAFingerprint(other.Cert)); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("another cluster's CA: %v", err)
	}
}

func flip(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}
