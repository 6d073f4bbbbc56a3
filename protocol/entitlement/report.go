package entitlement

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
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
	var x5c []string
	for _, p := range [][]byte{keyCertPEM, caPEM} {
		b, _ := pem.Decode(p)
		if b == nil || b.Type != "CERTIFICATE" {
			return "", errors.New("report: sign: a certificate is not PEM")
		}
		x5c = append(x5c, base64.StdEncoding.EncodeToString(b.Bytes))
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("report: encode: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType(ReportType).WithHeader("x5c", x5c)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("report: signer: %w", err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("report: sign: %w", err)
	}
	return obj.CompactSerialize()
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
func VerifyReport(jws, caSHA256 string) (*VerifiedReport, error) {
	jws = strings.TrimSpace(jws)
	if len(jws) > 16<<20 {
		return nil, errors.New("report: larger than 16 MiB")
	}
	obj, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("report: not a compact EdDSA JWS: %w", err)
	}
	if len(obj.Signatures) != 1 {
		return nil, errors.New("report: want exactly one signature")
	}
	h := obj.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != ReportType {
		return nil, fmt.Errorf("report: typ is %q, want %q", typ, ReportType)
	}
	chain, err := HeaderCertificates(jws)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
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
	payload := obj.UnsafePayloadWithoutVerification()
	if err := decodeReport(payload, &r); err != nil {
		return nil, err
	}
	pub, cluster, err := VerifyKeyCert(keyPEM, roots, r.Generated)
	if err != nil {
		return nil, fmt.Errorf("report: signing key: %w", err)
	}
	if _, err := obj.Verify(pub); err != nil {
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
// 7515 section 4.1.6) from a compact JWS's protected header. go-jose keeps
// x5c to itself, and the files Tally signs (true-up reports, a device's
// offline requests) name their signer there. It does not verify them.
func HeaderCertificates(jws string) ([]*x509.Certificate, error) {
	head, _, ok := strings.Cut(strings.TrimSpace(jws), ".")
	if !ok {
		return nil, errors.New("not a compact JWS")
	}
	var hdr struct {
		X5C []string `json:"x5c"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, errors.New("the protected header is not base64url JSON")
	}
	out := make([]*x509.Certificate, len(hdr.X5C))
	for i, s := range hdr.X5C {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("x5c[%d] is not base64: %w", i, err)
		}
		if out[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("x5c[%d]: %w", i, err)
		}
	}
	return out, nil
}
