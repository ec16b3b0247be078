package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/internal/logtest"
	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// Credentials of the test console.
const (
	testToken    = "console-test-token-6f1d"
	testUser     = "admin"
	testPassword = "correct horse battery staple"
	oktaToken    = "okta-test-token"
	entraToken   = "entra-test-token"
)

// fixture is a console over a real registry holding what the real proxy
// stack recorded of an Okta and an Entra ID provisioning cycle.
type fixture struct {
	t    *testing.T
	srv  *httptest.Server
	reg  *registry.Registry
	recs []schema.Record   // in the order they were taken
	ids  map[string]string // the cycles' saved ids: alice, bob, eng, dana, erin, sales
	logs *logtest.Buffer
	cfg  console.Config
}

func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// testConfig accepts testToken and testUser; bcrypt at its lowest cost
// keeps the race-detector run quick.
func testConfig(t *testing.T) console.Config {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	other, err := bcrypt.GenerateFromPassword([]byte("someone else's"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return console.Config{
		TokenSHA256: []string{digest("another-token"), digest(testToken)},
		Users:       []string{"auditor:" + string(other), testUser + ":" + string(hash)},
	}
}

// newFixture runs the cycles through the proxy, stores their records and
// any extra ones, and serves a console over them.
func newFixture(t *testing.T, extra ...schema.Record) *fixture {
	t.Helper()
	recs, ids := runCycles(t)
	return newFixtureWith(t, append(recs, extra...), ids)
}

// newFixtureWith serves a console over recs only.
func newFixtureWith(t *testing.T, recs []schema.Record, ids map[string]string) *fixture {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "registry.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.Export(ctx, recs); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, reg: reg, recs: recs, ids: ids, logs: &logtest.Buffer{}, cfg: testConfig(t)}
	h, err := console.New(reg, f.cfg, console.Options{
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// runCycles sends scimtest's Okta and Entra cycles through a reverse proxy
// in front of scimtest's backend, as `scimtrail demo` does, and returns
// the records the audit pipeline made, in order, with the saved ids.
func runCycles(t *testing.T) ([]schema.Record, map[string]string) {
	t.Helper()
	backend := httptest.NewServer(scimtest.NewBackend(scimtest.Options{}))
	defer backend.Close()
	cache, err := identity.Open(filepath.Join(t.TempDir(), "identity.db"), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	sink := &collector{}
	pipeline := audit.New(audit.Config{}, cache, sink, audit.Options{})
	rp, err := proxy.NewReverse(proxy.Config{
		Upstream: backend.URL,
		IdPs:     []string{"okta=token-sha256:" + digest(oktaToken), "entra=path-prefix:/scim/entra"},
	}, pipeline, nil, proxy.WithRecordBeforeResponse())
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(rp)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	results, err := scimtest.Run(context.Background(), client,
		map[string]string{"okta": front.URL + "/scim/v2", "entra": front.URL + "/scim/entra"},
		map[string]string{"okta": oktaToken, "entra": entraToken},
		slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle()))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, r := range results {
		if r.Step.Save != "" {
			ids[r.Step.Save] = r.ID
		}
	}
	return sink.records(), ids
}

type collector struct {
	mu   sync.Mutex
	recs []schema.Record
}

func (c *collector) Take(_ context.Context, rec schema.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, rec)
	return nil
}

func (c *collector) records() []schema.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// find returns the first record matching ok.
func (f *fixture) find(ok func(schema.Record) bool) schema.Record {
	f.t.Helper()
	for _, r := range f.recs {
		if ok(r) {
			return r
		}
	}
	f.t.Fatal("no such record in the fixture")
	return schema.Record{}
}

// cred is one way of presenting a credential.
type cred func(*http.Request)

func bearer(token string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, password string) cred {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

var (
	asAdmin = basic(testUser, testPassword)
	noCred  = cred(func(*http.Request) {})
)

// do sends a request with c and returns the answer with its body read.
func (f *fixture) do(method, path string, c cred, header ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	c(req)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

// get fetches path as the admin and wants status.
func (f *fixture) get(path string, status int) string {
	f.t.Helper()
	resp, body := f.do(http.MethodGet, path, asAdmin)
	if resp.StatusCode != status {
		f.t.Fatalf("GET %s: %d, want %d\n%s", path, resp.StatusCode, status, body)
	}
	return body
}

// query builds a path with its query string.
func query(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func lacks(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s holds %q", what, w)
		}
	}
}
