package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/proxy/ca"
	"github.com/scimtrail/scimtrail/proxy/ca/catest"
)

func newAuthority(t *testing.T, opts ca.CreateOptions, now func() time.Time) (*ca.Authority, *x509.CertPool) {
	t.Helper()
	a, pool, _ := catest.New(t, opts, now)
	return a, pool
}

func verify(c *tls.Certificate, pool *x509.CertPool, host string, at time.Time) error {
	_, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: at})
	return err
}

func TestCreate_MakesAnECDSAP256CAThatSignsLeavesOnly(t *testing.T) {
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.IsCA || !cert.MaxPathLenZero || cert.MaxPathLen != 0 || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA %v, path len zero %v, key usage %v", cert.IsCA, cert.MaxPathLenZero, cert.KeyUsage)
	}
	if len(cert.SubjectKeyId) == 0 {
		t.Error("no subject key id")
	}
	if !strings.Contains(string(keyPEM), "BEGIN PRIVATE KEY") {
		t.Error("key is not PKCS #8 PEM")
	}
}

func TestAuthority_LeafVerifiesForItsHostOnlyAndIsShortLived(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a, pool := newAuthority(t, ca.CreateOptions{Now: func() time.Time { return now }}, func() time.Time { return now })
	c, err := a.Certificate("api.vendor.example:443")
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(c, pool, "api.vendor.example", now); err != nil {
		t.Fatalf("leaf does not verify: %v", err)
	}
	if err := verify(c, pool, "other.example", now); err == nil {
		t.Fatal("leaf verifies for another host")
	}
	if life := c.Leaf.NotAfter.Sub(now); life > ca.DefaultLeafValidity {
		t.Errorf("leaf valid %v, want at most %v", life, ca.DefaultLeafValidity)
	}
	if len(c.Certificate) != 2 {
		t.Errorf("chain of %d certificates, want leaf and CA", len(c.Certificate))
	}
	ip, err := a.Certificate("127.0.0.1:8443")
	if err != nil {
		t.Fatal(err)
	}
	if len(ip.Leaf.IPAddresses) != 1 || !ip.Leaf.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) || len(ip.Leaf.DNSNames) != 0 {
		t.Errorf("IP leaf SANs: %v %v", ip.Leaf.IPAddresses, ip.Leaf.DNSNames)
	}
}

func TestAuthority_CachesLeavesAndRenewsBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, pool := newAuthority(t, ca.CreateOptions{Now: clock}, clock)
	first, _ := a.Certificate("api.vendor.example")
	again, _ := a.Certificate("API.vendor.example:443")
	if first != again {
		t.Fatal("a second handshake for the same host minted a new certificate")
	}
	now = now.Add(ca.DefaultLeafValidity - 30*time.Minute) // within the last hour
	renewed, _ := a.Certificate("api.vendor.example")
	if renewed == first {
		t.Fatal("a certificate about to expire was served again")
	}
	if err := verify(renewed, pool, "api.vendor.example", now.Add(time.Hour)); err != nil {
		t.Fatalf("renewed leaf: %v", err)
	}
}

// A CA made for some hosts cannot vouch for others, even if its key leaks:
// verifiers enforce its name constraints.
func TestCreate_NameConstraintsLimitWhatAStolenKeyCanSign(t *testing.T) {
	a, pool := newAuthority(t, ca.CreateOptions{PermittedHosts: []string{"api.vendor.example:443", "127.0.0.1"}}, nil)
	ok, _ := a.Certificate("api.vendor.example")
	if err := verify(ok, pool, "api.vendor.example", time.Now()); err != nil {
		t.Fatalf("permitted host: %v", err)
	}
	bank, _ := a.Certificate("bank.example")
	if err := verify(bank, pool, "bank.example", time.Now()); err == nil {
		t.Fatal("a constrained CA vouched for a host outside its constraints")
	}
}

func TestNew_RefusesWhatIsNotAUsableCA(t *testing.T) {
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	if _, err := ca.New(pair, func() time.Time { return time.Now().Add(2 * time.Hour) }); err == nil || !strings.Contains(err.Error(), "not now") {
		t.Errorf("expired CA: %v", err)
	}
	a, _ := newAuthority(t, ca.CreateOptions{}, nil)
	leaf, _ := a.Certificate("api.vendor.example")
	if _, err := ca.New(*leaf, nil); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("leaf as CA: %v", err)
	}
}

func TestWriteFiles_KeyPrivateAndNeverOverwritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "egress-ca")
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := ca.WriteFiles(dir, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode().Perm(), err)
	}
	if _, err := ca.Load(certPath, keyPath); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, _, err := ca.WriteFiles(dir, certPEM, keyPEM); err == nil {
		t.Fatal("WriteFiles overwrote an existing CA")
	}
}

// A directory holding only a certificate is not topped up with a new key.
func TestWriteFiles_NoStrayKeyBesideAnExistingCertificate(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ca.CertFile), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.WriteFiles(dir, certPEM, keyPEM); err == nil {
		t.Fatal("WriteFiles wrote beside an existing certificate")
	}
	if _, err := os.Stat(filepath.Join(dir, ca.KeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a key was left beside the existing certificate: %v", err)
	}
}
