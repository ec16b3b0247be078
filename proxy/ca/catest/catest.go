// Package catest makes throwaway CAs for tests: an Authority to give the
// egress proxy and the pool a client trusting it needs.
package catest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/proxy/ca"
)

// New creates a CA with opts and returns its Authority (clock now, nil for
// time.Now), a pool holding its certificate, and the certificate's PEM.
func New(t testing.TB, opts ca.CreateOptions, now func() time.Time) (*ca.Authority, *x509.CertPool, []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.New(pair, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return a, pool, certPEM
}
