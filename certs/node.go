package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// IssueNode issues a node (server) certificate and its new P-256 key, both
// PEM encoded. hosts are the names and addresses agents, administrators and
// other nodes use to reach the node; "localhost", 127.0.0.1 and ::1 are
// always added. The certificate is valid for ServerAuth and ClientAuth, so
// nodes can also present it to each other.
func (ca *CA) IssueNode(nodeID string, hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := validateID("node ID", nodeID); err != nil {
		return nil, nil, fmt.Errorf("issue node certificate: %w", err)
	}
	dnsNames, ips, err := splitHosts(hosts)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate for %s: %w", nodeID, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate for %s: generate key: %w", nodeID, err)
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: nodeID, Organization: []string{Organization}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(NodeValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  []*url.URL{nodeURI(nodeID)},
	}
	cert, err := ca.sign(tmpl, &key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate for %s: %w", nodeID, err)
	}
	keyPEM, err = EncodeKeyPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node certificate for %s: %w", nodeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), keyPEM, nil
}

// NodeID is the node ID in a node certificate's tally://node/<id> URI SAN.
func NodeID(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("node ID: no certificate")
	}
	var found []string
	for _, u := range cert.URIs {
		if !isTallyURI(u, "node") {
			continue
		}
		parts, err := uriPath(u)
		if err != nil || len(parts) != 1 || validateID("node ID", parts[0]) != nil {
			return "", fmt.Errorf("node ID: malformed node URI %q in certificate %q", u.String(), cert.Subject.CommonName)
		}
		found = append(found, parts[0])
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("node ID: certificate %q is not a Tally node certificate (no tally://node/ URI SAN)", cert.Subject.CommonName)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("node ID: certificate %q names more than one node", cert.Subject.CommonName)
	}
}

func nodeURI(nodeID string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: "node", Path: "/" + nodeID, RawPath: "/" + url.PathEscape(nodeID)}
}

// splitHosts sorts hosts into DNS names and IP addresses, adds the loopback
// names and drops duplicates. Empty entries are skipped; "[::1]" is
// accepted for an IPv6 address.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	dnsNames := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	seenName := map[string]bool{"localhost": true}
	seenIP := map[string]bool{"127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !seenIP[ip.String()] {
				seenIP[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if !validHostname(name) {
			return nil, nil, fmt.Errorf("host %q is neither an IP address nor a valid DNS name", h)
		}
		if !seenName[name] {
			seenName[name] = true
			dnsNames = append(dnsNames, name)
		}
	}
	return dnsNames, ips, nil
}

// validHostname accepts DNS names made of letters, digits, '-' and '_'
// labels, with an optional leading "*." wildcard label.
func validHostname(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
