package ca_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/proxy/ca"
)

func verifyIP(t *testing.T, a *ca.Authority, pool *x509.CertPool, ip string) error {
	t.Helper()
	c, err := a.Certificate(ip)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: time.Now()})
	if err != nil {
		return err
	}
	return c.Leaf.VerifyHostname(ip)
}

// TestCreate_NameConstraintsCoverBothKindsOfName: a CA limited to some
// DNS names must not vouch for any IP address, and a CA limited to some
// addresses must not vouch for any DNS name (an absent kind of constraint
// leaves that kind unconstrained, RFC 5280 4.2.1.10).
func TestCreate_NameConstraintsCoverBothKindsOfName(t *testing.T) {
	dnsOnly, dnsPool := newAuthority(t, ca.CreateOptions{PermittedHosts: []string{"api.vendor.example"}}, nil)
	if err := verifyIP(t, dnsOnly, dnsPool, "10.0.0.1"); err == nil {
		t.Error("a CA limited to api.vendor.example vouched for 10.0.0.1")
	}
	if err := verifyIP(t, dnsOnly, dnsPool, "2001:db8::1"); err == nil {
		t.Error("a CA limited to api.vendor.example vouched for 2001:db8::1")
	}
	ipOnly, ipPool := newAuthority(t, ca.CreateOptions{PermittedHosts: []string{"127.0.0.1"}}, nil)
	bank, _ := ipOnly.Certificate("bank.example")
	if err := verify(bank, ipPool, "bank.example", time.Now()); err == nil {
		t.Error("a CA limited to 127.0.0.1 vouched for bank.example")
	}
	if err := verifyIP(t, ipOnly, ipPool, "127.0.0.1"); err != nil {
		t.Errorf("permitted address: %v", err)
	}
	if err := verifyIP(t, ipOnly, ipPool, "127.0.0.2"); err == nil {
		t.Error("a CA limited to 127.0.0.1 vouched for 127.0.0.2")
	}
}

// TestCreate_PermitTakesTheAllowHostSpelling: "*.vendor.example", as
// --allow-host writes it, permits the subdomains (and only them).
func TestCreate_PermitTakesTheAllowHostSpelling(t *testing.T) {
	a, pool := newAuthority(t, ca.CreateOptions{PermittedHosts: []string{"*.vendor.example:443", "api.other.example:8443"}}, nil)
	for host, want := range map[string]bool{
		"tenant1.vendor.example": true, "a.b.vendor.example": true, "api.other.example": true,
		"vendor.example": false, "evilvendor.example": false, "bank.example": false,
	} {
		c, err := a.Certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(c, pool, host, time.Now()); (err == nil) != want {
			t.Errorf("%s: verify error %v, want allowed %v", host, err, want)
		}
	}
}

// TestCreate_RefusesAPermitThatIsNotAHost: a mistyped --permit must not
// silently become a constraint nothing matches, or no constraint at all.
func TestCreate_RefusesAPermitThatIsNotAHost(t *testing.T) {
	for _, p := range []string{"https://api.vendor.example", "", ":443", "api.vendor.example/scim", "user@api.vendor.example",
		"*", "*.", "a.*.example", "10.0.0.0/8", "api vendor.example"} {
		if _, _, err := ca.Create(ca.CreateOptions{PermittedHosts: []string{p}}); err == nil || !strings.Contains(err.Error(), "permit") {
			t.Errorf("--permit %q: %v, want an error naming it", p, err)
		}
	}
	if _, _, err := ca.Create(ca.CreateOptions{PermittedHosts: []string{"API.Vendor.Example", "[2001:db8::1]:443", "10.0.0.5", "vendor.example."}}); err != nil {
		t.Errorf("valid permits: %v", err)
	}
}

// TestAuthority_TrailingDotIsTheSameHost: "api.vendor.example." gets the
// certificate of api.vendor.example, which verifies.
func TestAuthority_TrailingDotIsTheSameHost(t *testing.T) {
	a, pool := newAuthority(t, ca.CreateOptions{PermittedHosts: []string{"vendor.example"}}, nil)
	dot, err := a.Certificate("api.vendor.example.:443")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := a.Certificate("api.vendor.example")
	if dot != plain {
		t.Error("a trailing dot minted a second certificate")
	}
	if err := verify(dot, pool, "api.vendor.example", time.Now()); err != nil {
		t.Error(err)
	}
}
