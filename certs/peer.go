package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// VerifyNode checks that chain (leaf first) is a Tally node certificate
// issued by the cluster CA in pool, and returns the node's ID. Node-to-node
// calls authenticate this way: by the chain and the node identity, not by
// host name, because nodes are often addressed by IP.
func VerifyNode(pool *x509.CertPool, chain []*x509.Certificate, now time.Time) (string, error) {
	if pool == nil {
		return "", errors.New("no cluster CA to verify the node against")
	}
	if len(chain) == 0 {
		return "", errors.New("the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "", fmt.Errorf("peer certificate is not from this cluster's CA: %w", err)
	}
	id, err := NodeID(chain[0])
	if err != nil {
		return "", fmt.Errorf("peer certificate is not a Tally node certificate: %w", err)
	}
	return id, nil
}

// NodeClientTLS is the TLS configuration a node uses to call another node:
// it presents its own node certificate and accepts only a server holding a
// node certificate from the same CA.
func NodeClientTLS(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Host names are not checked: VerifyConnection checks the chain and
		// the node identity instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyNode(pool, cs.PeerCertificates, time.Now())
			return err
		},
	}
}
