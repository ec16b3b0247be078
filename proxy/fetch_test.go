package proxy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/scim"
)

type seenRequest struct {
	method, path, query string
	header              http.Header
}

// scimUpstream serves /scim/v2 and logs every request it gets, in order.
type scimUpstream struct {
	mu   sync.Mutex
	seen []seenRequest
	url  string
}

func newSCIMUpstream(t *testing.T, redirectTo string) *scimUpstream {
	u := &scimUpstream{}
	srv := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone()})
		u.mu.Unlock()
		switch {
		case r.URL.Path == "/scim/v2/redirect":
			http.Redirect(w, r, redirectTo, http.StatusFound)
		case r.URL.Path == "/scim/v2/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/scim+json")
			_, _ = io.WriteString(w, `{"id":"1","userName":"ada@example.com"}`)
		}
	})
	u.url = srv.URL + "/scim/v2"
	return u
}

func (u *scimUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func TestFetch_NeverLeavesUpstream(t *testing.T) {
	elsewhere := newCanary(t)
	upstream := newSCIMUpstream(t, "http://"+elsewhere.addr()+"/Users/1")
	rec := newRecorder()
	rec.onPrepare = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		for _, bad := range []string{
			"http://" + elsewhere.addr() + "/Users/1",
			"https://" + elsewhere.addr() + "/Users/1",
			"//" + elsewhere.addr() + "/Users/1",
			elsewhere.addr() + "/Users/1",
			"Users/1",
			"",
		} {
			if status, body, err := fetch(ctx, bad); err == nil || status != 0 || body != nil {
				t.Errorf("fetch(%q) = %d, %q, %v; want it refused", bad, status, body, err)
			}
		}
		// A redirect is handed back, never followed.
		if status, _, err := fetch(ctx, "/redirect"); status != http.StatusFound || err != nil {
			t.Errorf("fetch(/redirect) = %d, %v; want 302", status, err)
		}
		status, body, err := fetch(ctx, "/Users/1?attributes=emails")
		if status != http.StatusOK || err != nil || !strings.Contains(string(body), `"id":"1"`) {
			t.Errorf("fetch(/Users/1) = %d, %q, %v", status, body, err)
		}
	}
	rec.onRecord = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		if status, _, err := fetch(ctx, "/Users/1"); status != http.StatusOK || err != nil {
			t.Errorf("fetch during Record = %d, %v", status, err)
		}
	}
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.url}, rec, nil)

	req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/Users/1", nil)
	req.Header.Set("Authorization", "Bearer idp-token")
	req.Header.Set("Cookie", "session=abc")
	req.Header.Set("X-Custom", "not for look-ups")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec.next(t)
	elsewhere.assertUntouched(t)

	got := upstream.requests()
	want := []struct{ method, path, query string }{
		{http.MethodGet, "/scim/v2/redirect", ""},
		{http.MethodGet, "/scim/v2/Users/1", "attributes=emails"}, // Prepare: before the DELETE
		{http.MethodDelete, "/scim/v2/Users/1", ""},
		{http.MethodGet, "/scim/v2/Users/1", ""}, // Record: after it
	}
	if len(got) != len(want) {
		t.Fatalf("upstream got %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].method != w.method || got[i].path != w.path || got[i].query != w.query {
			t.Errorf("request %d: %s %s?%s, want %s %s?%s", i, got[i].method, got[i].path, got[i].query, w.method, w.path, w.query)
		}
		if w.method != http.MethodGet {
			continue
		}
		h := got[i].header
		if h.Get("Authorization") != "Bearer idp-token" || h.Get("Accept") != "application/scim+json" {
			t.Errorf("look-up %d: Authorization %q Accept %q", i, h.Get("Authorization"), h.Get("Accept"))
		}
		for _, k := range []string{"Cookie", "X-Custom", "X-Forwarded-For"} {
			if v, ok := h[k]; ok {
				t.Errorf("look-up %d carries %s: %q", i, k, v)
			}
		}
	}
}

func TestFetch_BodyBoundedByMaxBodyBytes(t *testing.T) {
	upstream := newSCIMUpstream(t, "/")
	rec := newRecorder()
	rec.onPrepare = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		status, body, err := fetch(ctx, "/big")
		if status != http.StatusOK || len(body) != 16 || err == nil {
			t.Errorf("fetch(/big) = %d, %d bytes, %v; want 200, 16 bytes and an error", status, len(body), err)
		}
	}
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.url, MaxBodyBytes: 16}, rec, nil)
	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec.next(t)
}
