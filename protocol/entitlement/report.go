package entitlement

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol/jws"
)

// ReportType is the JWS typ header of a signed true-up report.
const ReportType = "tally-usage-report+jwt"

// Report is a cluster's account of what it handed out, for the vendor: the
// peak and seat-days per entitlement and feature, the denials and the days
// over the purchased seats. The cluster signs it with a lease-signing key
// whose certificate (from the cluster CA) and the CA travel in the JWS
// header (x5c), so the vendor needs nothing but the file and, to bind it to
// a customer, the CA fingerprint their entitlement names.
type Report struct {
	Cluster   string        `json:"cluster"`
	Account   string        `json:"account"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Generated time.Time     `json:"generated"`
	Lines     []ReportLine  `json:"lines"`
	Denials   []DenialCount `json:"denials,omitempty"`
}

// ReportLine is one feature's usage under one entitlement (Serial empty:
// a pool under no entitlement).
type ReportLine struct {
	Serial      string  `json:"serial,omitempty"`
	Feature     string  `json:"feature"`
	Seats       int     `json:"seats"`
	Peak        int     `json:"peak"`
	SeatDays    float64 `json:"seat_days"`
	OverageDays int     `json:"overage_days"`
	Denials     int     `json:"denials"`
}

// DenialCount is refused checkouts of one feature on one day for one reason.
type DenialCount struct {
	Day     string `json:"day"` // YYYY-MM-DD, UTC
	Feature string `json:"feature"`
	Team    string `json:"team,omitempty"`
	Code    string `json:"code"`
	Count   int    `json:"count"`
}

// SignReport signs r with a lease-signing key and puts the key's
// certificate and the CA certificate (DER) in the x5c header.
func SignReport(r Report, key ed25519.PrivateKey, keyCertPEM, caPEM []byte) (string, error) {
	var x5c [][]byte
	for _, p := range [][]byte{keyCertPEM, caPEM} {
		b, _ := pem.Decode(p)
		if b == nil || b.Type != "CERTIFICATE" {
			return "", errors.New("report: sign: a certificate is not PEM")
		}
		x5c = append(x5c, b.Bytes)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("report: encode: %w", err)
	}
	token, err := jws.Sign(key, jws.Header{Typ: ReportType, X5C: x5c}, payload)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return token, nil
}

// VerifiedReport is a report whose signature chains to a cluster CA.
type VerifiedReport struct {
	Report
	// CASHA256 is the fingerprint of the CA the signing key chains to;
	// compare it with the entitlement's cluster binding.
	CASHA256 string
}

// VerifyReport checks a signed report: the signature verifies under the
// key in the first x5c certificate, that certificate is a lease-signing key
// certificate issued by the CA in the second, and, when caSHA256 is given,
// that CA is the one named. One changed byte anywhere fails it.
func VerifyReport(token, caSHA256 string) (*VerifiedReport, error) {
	token = strings.TrimSpace(token)
	tok, err := jws.Parse(token, 16<<20, jws.EdDSA)
	if err != nil {
		return nil, fmt.Errorf("report: not a compact EdDSA JWS: %w", err)
	}
	if typ := tok.Header.Typ; typ != ReportType {
		return nil, fmt.Errorf("report: typ is %q, want %q", typ, ReportType)
	}
	chain := tok.Certs
	if len(chain) != 2 {
		return nil, errors.New("report: the header must carry the signing-key and CA certificates (x5c of two)")
	}
	ca := chain[1]
	if !ca.IsCA {
		return nil, errors.New("report: the second certificate is not a CA")
	}
	fp := CAFingerprint(ca)
	if caSHA256 != "" && !strings.EqualFold(fp, caSHA256) {
		return nil, fmt.Errorf("report: signed under cluster CA %s, not %s: it comes from another cluster", fp, caSHA256)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})
	// The key certificate is checked at the report's own time: a report
	// stays verifiable after the node's certificate is reissued.
	var r Report
	if err := decodeReport(tok.Payload, &r); err != nil {
		return nil, err
	}
	pub, cluster, err := VerifyKeyCert(keyPEM, roots, r.Generated)
	if err != nil {
		return nil, fmt.Errorf("report: signing key: %w", err)
	}
	if err := tok.Verify(pub); err != nil {
		return nil, errors.New("report: the signature does not verify: the report was changed after signing")
	}
	if cluster != r.Cluster {
		return nil, fmt.Errorf("report: says cluster %s but is signed by a key of cluster %s", r.Cluster, cluster)
	}
	return &VerifiedReport{Report: r, CASHA256: fp}, nil
}

func decodeReport(b []byte, r *Report) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return fmt.Errorf("report: payload: %w", err)
	}
	return nil
}

// HeaderCertificates reads the x5c certificates (standard base64 DER, RFC
// 7515 section 4.1.6) from a compact JWS's protected header: the files Tally
// signs with a certificate (true-up reports, a device's offline requests)
// name their signer there. The header is parsed as strictly as
// jws.Parse does; the signature and the certificates are not verified.
func HeaderCertificates(token string) ([]*x509.Certificate, error) {
	tok, err := jws.Parse(strings.TrimSpace(token), 16<<20, jws.EdDSA, jws.ES256)
	if err != nil {
		return nil, err
	}
	return tok.Certs, nil
}
