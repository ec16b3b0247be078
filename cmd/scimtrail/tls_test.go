package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimtrail test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func tlsConfig(t *testing.T, certFile, keyFile string) config {
	t.Helper()
	upstream := newUpstream(t)
	return config{Listen: "127.0.0.1:0", AdminListen: adminOff, LogFile: filepath.Join(t.TempDir(), "r.jsonl"),
		StateDir: t.TempDir(), TLSCert: certFile, TLSKey: keyFile, Proxy: proxyConfigFor(upstream)}
}

func TestProxy_ServesTLSOnTheListener(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	c := tlsConfig(t, certFile, keyFile)
	st, err := start(t.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.shutdown(5 * time.Second)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + st.proxyAddr + "/scim/v2/ServiceProviderConfig")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}

// TestProxy_BadTLSKeyPairFailsStartup: no listener that accepts and never
// answers, no ready probe saying otherwise.
func TestProxy_BadTLSKeyPairFailsStartup(t *testing.T) {
	certFile, _, _ := selfSigned(t)
	c := tlsConfig(t, certFile, filepath.Join(t.TempDir(), "missing.key"))
	_, err := start(t.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
	if err == nil || !strings.Contains(err.Error(), "tls:") {
		t.Fatalf("start: %v, want a tls error", err)
	}
}
