package ca

import (
	"crypto/tls"
	"fmt"
	"testing"
)

// TestAuthority_CacheIsBounded: a wildcard allow-host lets a client name
// any number of subdomains; the leaves kept for them must not grow without
// bound.
func TestAuthority_CacheIsBounded(t *testing.T) {
	certPEM, keyPEM, err := Create(CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	a, err := New(pair, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedLeaves + 100 {
		if _, err := a.Certificate(fmt.Sprintf("h%d.vendor.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cache); n > maxCachedLeaves {
		t.Fatalf("%d leaves cached, want at most %d", n, maxCachedLeaves)
	}
}
