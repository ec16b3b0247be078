package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
)

// egressE2E is "scimtrail forward" in this process, in front of a SaaS
// application's SCIM API (an in-memory SCIM service over TLS with a CA of
// its own), and a client set up as an in-house SCIM client would be:
// HTTPS_PROXY pointing at scimtrail, scimtrail's CA trusted.
type egressE2E struct {
	e       *e2e
	vendor  string // host:port
	client  *http.Client
	backend *scimtest.Backend
}

func startEgress(t *testing.T) *egressE2E {
	t.Helper()
	backend := scimtest.NewBackend(scimtest.Options{})
	vsrv := httptest.NewUnstartedServer(backend)
	vsrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	vsrv.StartTLS()
	t.Cleanup(vsrv.Close)
	dir := t.TempDir()
	vendorCA := filepath.Join(dir, "vendor-ca.pem")
	if err := os.WriteFile(vendorCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vsrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	if code := run(t.Context(), []string{"ca", "create", "--out", filepath.Join(dir, "ca"), "--permit", "127.0.0.1"}, &stdout, io.Discard); code != 0 {
		t.Fatalf("ca create: status %d", code)
	}
	if !strings.Contains(stdout.String(), "HTTPS_PROXY") {
		t.Errorf("ca create does not say how to use it:\n%s", stdout.String())
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	vendor := strings.TrimPrefix(vsrv.URL, "https://")
	args := []string{"--allow-host", vendor, "--ca-cert", filepath.Join(dir, "ca", "ca.crt"), "--ca-key", filepath.Join(dir, "ca", "ca.key"),
		"--upstream-ca-file", vendorCA, "--client", proxyConfigFor("").IdPs[0], "--client", "entra=path-prefix:/scim/entra",
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	var c config
	fs := forwardFlags(&c)
	fs.SetOutput(io.Discard)
	if err := parseProxyConfig(args, fs, &c); err != nil {
		t.Fatal(err)
	}
	e := startE2E(t, e2eOptions{stack: &c})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	proxyURL, _ := url.Parse("http://" + e.st.proxyAddr)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &egressE2E{e: e, vendor: vendor, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, backend: backend}
}

func (g *egressE2E) run(t *testing.T, steps []scimtest.Step) []scimtest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "https://" + g.vendor
	res, err := scimtest.Run(ctx, g.client, map[string]string{"okta": base + "/scim/v2", "entra": base + "/scim/entra"},
		map[string]string{"okta": oktaToken, "entra": entraToken}, steps)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The Okta and Entra cycles, sent by an in-house client through the egress
// proxy, give the same records as through the reverse proxy — field for
// field, but for the direction and the destination — and the SaaS API gets
// every request as it was sent.
func TestE2E_EgressRecordsMatchTheReverseModes(t *testing.T) {
	steps := slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle())
	g := startEgress(t)
	results := g.run(t, steps)
	egress := g.e.records()
	assertForwardedAsSent(t, g.backend, results)

	r := startE2E(t, e2eOptions{})
	r.run(steps)
	reverse := r.records()
	if len(egress) != len(reverse) || len(egress) < 20 {
		t.Fatalf("%d egress records, %d reverse", len(egress), len(reverse))
	}
	for i := range egress {
		eg, rv := egress[i], reverse[i]
		if eg.Direction != schema.DirectionEgress || eg.DestinationHost != g.vendor {
			t.Fatalf("record %d: direction %q destination %q", i, eg.Direction, eg.DestinationHost)
		}
		if rv.Direction != schema.DirectionIngress || rv.DestinationHost != "" {
			t.Fatalf("reverse record %d: direction %q destination %q", i, rv.Direction, rv.DestinationHost)
		}
		a, b := comparable(t, eg), comparable(t, rv)
		if !jsonEqual(t, a, b) {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			t.Errorf("record %d (%s %s) differs between the modes:\negress  %s\nreverse %s", i, eg.Action, eg.Path, ja, jb)
		}
	}
}

// comparable is a record as a map without what differs between two runs
// or two modes by nature.
func comparable(t *testing.T, r schema.Record) map[string]any {
	t.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "timestamp", "duration_ms", "direction", "destination_host"} {
		delete(m, k)
	}
	return m
}

func TestConfig_ForwardNeedsAllowlistAndCA(t *testing.T) {
	var c config
	fs := forwardFlags(&c)
	fs.SetOutput(io.Discard)
	err := parseProxyConfig(nil, fs, &c)
	want := `requires at least one "allow-host"; requires "ca-cert" and "ca-key" (scimtrail ca create makes them)`
	if err == nil || oneLine(err) != want {
		t.Fatalf("forward without settings: %v\nwant %s", err, want)
	}
	if c.listen() != "127.0.0.1:3128" {
		t.Errorf("the egress proxy listens on %s by default, want loopback", c.listen())
	}
	var stderr strings.Builder
	if code := run(t.Context(), []string{"config", "check", "--egress", "--allow-host", "api.vendor.example", "--ca-cert", "c", "--ca-key", "k"}, io.Discard, &stderr); code != 0 {
		t.Errorf("config check --egress: %d %s", code, stderr.String())
	}
}
