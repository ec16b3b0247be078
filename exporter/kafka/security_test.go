package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

func TestSink_SASL(t *testing.T) {
	const user, password = "scimtrail", "s3cret-pa55word"
	for _, tc := range []struct {
		mechanism string
		reader    sasl.Mechanism
	}{
		{kafka.SASLPlain, plain.Auth{User: user, Pass: password}.AsMechanism()},
		{kafka.SASLSCRAMSHA256, scram.Auth{User: user, Pass: password}.AsSha256Mechanism()},
		{kafka.SASLSCRAMSHA512, scram.Auth{User: user, Pass: password}.AsSha512Mechanism()},
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(tc.mechanism, user, password))
			sasl := kafka.SASLConfig{Mechanism: strings.ToLower(tc.mechanism), Username: user, Password: password}
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), SASL: sasl}, kafka.Options{})
			rec := record(1, "res-1")
			if err := s.Export(t.Context(), []schema.Record{rec}); err != nil {
				t.Fatal(err)
			}
			if got := decodeJSON(t, consume(t, c, 1, kgo.SASL(tc.reader))[0]); got.ID != rec.ID {
				t.Fatalf("read %s", got.ID)
			}
		})
	}
}

// TestSink_WrongSASLPasswordIsRetryableAndNeverEchoed: a refused login is
// the operator's to fix; the spool keeps the records until then, and the
// error it logs must not carry the password that was tried.
func TestSink_WrongSASLPasswordIsRetryableAndNeverEchoed(t *testing.T) {
	const wrong = "not-the-pa55word"
	for _, mechanism := range []string{kafka.SASLPlain, kafka.SASLSCRAMSHA256} {
		t.Run(mechanism, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(mechanism, "scimtrail", "right"))
			sasl := kafka.SASLConfig{Mechanism: mechanism, Username: "scimtrail", Password: wrong}
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), SASL: sasl}, kafka.Options{})
			err := s.Export(t.Context(), []schema.Record{record(1, "res-1")})
			if err == nil || exporter.IsPermanent(err) {
				t.Fatalf("Export = %v, want a retryable error", err)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("error carries the password: %v", err)
			}
		})
	}
}

// pki is a throw-away CA with a broker certificate for the name
// kafka.internal only (not 127.0.0.1, so the server name setting matters)
// and a client certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string
	broker                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "scimtrail test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			DNSNames:     dns,
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	brokerDER, brokerKey := issue(2, "kafka.internal", x509.ExtKeyUsageServerAuth, []string{"kafka.internal"})
	clientDER, clientKey := issue(3, "scimtrail", x509.ExtKeyUsageClientAuth, nil)

	p := pki{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "client.pem"),
		keyFile:  filepath.Join(dir, "client-key.pem"),
		broker:   tls.Certificate{Certificate: [][]byte{brokerDER}, PrivateKey: brokerKey},
		pool:     x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.keyFile, "EC PRIVATE KEY", keyDER)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSink_MutualTLS runs kfake with a TLS listener that requires a client
// certificate from the test CA.
func TestSink_MutualTLS(t *testing.T) {
	p := newPKI(t)
	c := startCluster(t, kfake.SeedTopics(1, topic), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{p.broker},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}))
	good := kafka.TLSConfig{Enabled: true, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "kafka.internal"}

	t.Run("verified both ways", func(t *testing.T) {
		s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), TLS: good}, kafka.Options{})
		rec := record(1, "res-1")
		if err := s.Export(t.Context(), []schema.Record{rec}); err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		reader := kgo.DialTLSConfig(&tls.Config{RootCAs: p.pool, ServerName: "kafka.internal", Certificates: []tls.Certificate{pair}})
		if got := decodeJSON(t, consume(t, c, 1, reader)[0]); got.ID != rec.ID {
			t.Fatalf("read %s", got.ID)
		}
	})

	// Each refusal is the operator's to fix, so the spool should keep the
	// records and retry: none is permanent.
	for name, mutate := range map[string]func(*kafka.TLSConfig){
		"broker name not checked against the dialed address": func(c *kafka.TLSConfig) { c.ServerName = "" },
		"no client certificate":                              func(c *kafka.TLSConfig) { c.CertFile, c.KeyFile = "", "" },
		"broker CA not trusted":                              func(c *kafka.TLSConfig) { c.CAFile = "" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), TLS: cfg}, kafka.Options{})
			err := s.Export(t.Context(), []schema.Record{record(2, "res-1")})
			if err == nil || exporter.IsPermanent(err) {
				t.Fatalf("Export = %v, want a retryable error", err)
			}
		})
	}
}

func TestNew_ReportsUnreadableTLSFiles(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for name, tc := range map[string]struct {
		tls  kafka.TLSConfig
		want string
	}{
		"missing CA":      {kafka.TLSConfig{Enabled: true, CAFile: missing}, `kafka: "kafka-tls-ca": open ` + missing},
		"CA without PEM":  {kafka.TLSConfig{Enabled: true, CAFile: notPEM}, `kafka: "kafka-tls-ca": ` + notPEM + ` holds no PEM certificate`},
		"key is not cert": {kafka.TLSConfig{Enabled: true, CertFile: p.keyFile, KeyFile: p.keyFile}, `kafka: "kafka-tls-cert", "kafka-tls-key": tls:`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := kafka.New(kafka.Config{Brokers: []string{"127.0.0.1:9093"}, TLS: tc.tls}, kafka.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q…", err, tc.want)
			}
		})
	}
}
