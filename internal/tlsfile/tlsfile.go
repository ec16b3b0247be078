// Package tlsfile builds the client side of TLS from PEM files, the one way
// every connection scimtrail makes (Kafka, OTLP, the upstream, the egress
// destinations) does it: TLS 1.2 at least, a CA bundle that replaces the
// system roots when given, and a client key pair for mutual TLS. Errors
// name the configuration key of the file, never its content.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Files are the PEM files of a client configuration, and the keys (flag
// and YAML names) that set them, for messages.
type Files struct {
	// CAFile, when set, is the only set of CAs trusted (CAKey names it).
	CAFile, CAKey string
	// CertFile and KeyFile, together, are the client certificate and key
	// (PairKeys names them).
	CertFile, KeyFile, PairKeys string
}

// Client returns a client configuration of f: MinVersion TLS 1.2, RootCAs
// from CAFile, Certificates from CertFile and KeyFile.
func Client(f Files) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pool, err := CAPool(f.CAKey, f.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.PairKeys, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// CAPool reads a PEM bundle into a pool of its own, so that only these CAs
// are trusted. key is the configuration key naming path, for messages.
func CAPool(key, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%q: %s holds no PEM certificate", key, path)
	}
	return pool, nil
}
