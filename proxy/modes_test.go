package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/proxy/ca"
	"github.com/scimtrail/scimtrail/proxy/ca/catest"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// TestModes_GoldenExchangesGiveTheSameRecordsInBothModes sends the request
// of every derivation golden file (scim/testdata/derive) through the
// reverse proxy and through the egress proxy, to a SCIM service that
// answers as the file says, with what the file says was known before; each
// mode must yield the file's record — so a SIEM query written for one
// direction works for the other. Only the per-run keys (id, timestamp,
// duration_ms) and the direction and destination differ.
func TestModes_GoldenExchangesGiveTheSameRecordsInBothModes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "scim", "testdata", "derive", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	ran := 0
	for _, file := range files {
		c, err := scimtest.LoadGolden(file)
		if err != nil {
			t.Fatal(err)
		}
		g := c.Exchange
		if g.RequestTruncated || g.ResponseTruncated {
			continue // made by a capture limit, not by what was sent
		}
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		for _, mode := range []string{schema.DirectionIngress, schema.DirectionEgress} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				got := throughProxy(t, mode, c)
				want := recordMap(t, c.Want.Record)
				for _, k := range []string{"id", "timestamp", "duration_ms"} {
					delete(got, k)
					delete(want, k)
				}
				if got["direction"] != mode {
					t.Errorf("direction %v, want %s", got["direction"], mode)
				}
				delete(got, "direction")
				delete(got, "destination_host")
				if !reflect.DeepEqual(got, want) {
					gj, _ := json.Marshal(got)
					wj, _ := json.Marshal(want)
					t.Errorf("record through the %s proxy:\n got %s\nwant %s", mode, gj, wj)
				}
			})
		}
		ran++
	}
	if ran < 30 {
		t.Fatalf("only %d golden cases ran", ran)
	}
}

// throughProxy sends c's request through the proxy of mode and returns
// the record the audit pipeline made of it, as a map.
func throughProxy(t *testing.T, mode string, c scimtest.GoldenCase) map[string]any {
	t.Helper()
	g := c.Exchange
	service := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("User-Agent") == "scimtrail" {
			// The proxy's own look-up: the resource as it is after the
			// request, when the file says.
			if len(c.After) == 0 {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/scim+json")
			w.Write(scimtest.Compact(c.After))
			return
		}
		if r.Method != g.Method || r.URL.EscapedPath() != g.Path || r.URL.RawQuery != g.Query {
			t.Errorf("the service got %s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
		}
		if body, _ := io.ReadAll(r.Body); !bytes.Equal(body, g.RequestBody()) {
			t.Errorf("the service got body %q, want %q", body, g.RequestBody())
		}
		if len(g.Response) > 0 {
			w.Header().Set("Content-Type", "application/scim+json")
		} else if g.ResponseText != "" {
			w.Header().Set("Content-Type", "text/html")
		}
		w.WriteHeader(g.Status)
		w.Write(g.ResponseBody())
	})
	token := "token-of-" + g.IdP
	sum := sha256.Sum256([]byte(token))
	matcher := g.IdP + "=token-sha256:" + hex.EncodeToString(sum[:])
	if g.IdP == "" || g.IdP == proxy.UnknownIdP {
		matcher = ""
	}
	sink := &oneRecord{}
	pipeline := audit.New(audit.Config{Redact: []string{"secretAnswer"}}, priorCache{c.Prior}, sink, audit.Options{})

	var client *http.Client
	var base string
	if mode == schema.DirectionIngress {
		srv := httptest.NewServer(service)
		t.Cleanup(srv.Close)
		cfg := proxy.Config{Upstream: srv.URL}
		if matcher != "" {
			cfg.IdPs = []string{matcher}
		}
		rp, err := proxy.NewReverse(cfg, pipeline, nil, proxy.WithRecordBeforeResponse())
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(rp)
		t.Cleanup(front.Close)
		client, base = &http.Client{Transport: &http.Transport{}}, front.URL
	} else {
		srv := httptest.NewUnstartedServer(service)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		vendorCA := filepath.Join(t.TempDir(), "vendor.pem")
		os.WriteFile(vendorCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
		authority, pool, _ := catest.New(t, ca.CreateOptions{}, nil)
		host := strings.TrimPrefix(srv.URL, "https://")
		cfg := proxy.ForwardConfig{AllowHosts: []string{host}, UpstreamCAFile: vendorCA, Clients: []string{}}
		if matcher != "" {
			cfg.Clients = []string{matcher}
		}
		fp, err := proxy.NewForward(cfg, authority, pipeline, nil)
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(fp)
		t.Cleanup(front.Close)
		u, _ := url.Parse(front.URL)
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: pool}}}
		base = srv.URL
	}
	defer client.CloseIdleConnections()
	target := base + g.Path
	if g.Query != "" {
		target += "?" + g.Query
	}
	var body io.Reader
	if b := g.RequestBody(); len(b) > 0 {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(g.Method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", g.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != g.Status || !bytes.Equal(got, g.ResponseBody()) {
		t.Errorf("the client got %d %q, want the service's %d %q", resp.StatusCode, got, g.Status, g.ResponseBody())
	}
	rec, ok := sink.get()
	if !ok {
		t.Fatal("no record")
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return recordMap(t, raw)
}

func recordMap(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// oneRecord keeps the last record the pipeline hands it.
type oneRecord struct {
	mu  sync.Mutex
	rec *schema.Record
}

func (o *oneRecord) Take(_ context.Context, r schema.Record) error {
	o.mu.Lock()
	o.rec = &r
	o.mu.Unlock()
	return nil
}

func (o *oneRecord) get() (schema.Record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rec == nil {
		return schema.Record{}, false
	}
	return *o.rec, true
}

// priorCache knows one identity, as the golden file says was known before
// the request, under any scope the pipeline gives it, and forgets what it
// is told.
type priorCache struct{ prior *scim.Identity }

func (p priorCache) Get(_ context.Context, resourceType, id string) (scim.Identity, bool, error) {
	if _, bare, scoped := strings.Cut(id, "\x00"); scoped {
		id = bare
	}
	if p.prior == nil || p.prior.Type != resourceType || p.prior.ID != id {
		return scim.Identity{}, false, nil
	}
	return *p.prior, true, nil
}

func (priorCache) Put(context.Context, scim.Identity) error     { return nil }
func (priorCache) Delete(context.Context, string, string) error { return nil }
