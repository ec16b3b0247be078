package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
)

// TestProxy_DotSegmentsCannotBorrowAnotherIdPsPath: a path that walks out
// of one IdP's prefix into another's is matched where it lands, and the
// record says the path was not canonical.
func TestProxy_DotSegmentsCannotBorrowAnotherIdPsPath(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL,
		IdPs: []string{"entra=path-prefix:/scim/entra", "okta=path-prefix:/scim/okta"}}, rec, nil)
	for _, target := range []string{"/scim/entra/../okta/Users", "/scim/entra/%2e%2e/okta/Users"} {
		resp := rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: status %d, want it forwarded", target, resp.StatusCode)
		}
		ex := rec.next(t)
		if ex.IdPName != "okta" {
			t.Errorf("%s: idp %q, want okta (where the path lands)", target, ex.IdPName)
		}
		if len(ex.Notes) == 0 || !strings.Contains(ex.Notes[0], "dot segments") {
			t.Errorf("%s: notes %q, want the non-canonical path noted", target, ex.Notes)
		}
	}
}

// TestProxy_QueryReachesUpstreamAsSent: ReverseProxy would drop a query
// pair with a ";" (a filter value) before the upstream sees it.
func TestProxy_QueryReachesUpstreamAsSent(t *testing.T) {
	const query = "filter=userName%20eq%20%22a;b%22&count=1&bad=%zz"
	got := make(chan string, 1)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { got <- r.URL.RawQuery })
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL}, rec, nil)
	rawRequest(t, addr, "GET /Users?"+query+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if q := <-got; q != query {
		t.Errorf("upstream got query %q, want %q", q, query)
	}
	if ex := rec.next(t); ex.RawQuery != query {
		t.Errorf("exchange query %q, want %q", ex.RawQuery, query)
	}
}

// TestProxy_PathDecodedOnce: an id with an encoded percent is recorded as
// sent, so the record names the resource the upstream acted on.
func TestProxy_PathDecodedOnce(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL}, rec, nil)
	rawRequest(t, addr, "DELETE /scim/v2/Users/%2541 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if ex := rec.next(t); ex.Path != "/scim/v2/Users/%2541" {
		t.Errorf("exchange path %q, want the escaped path as sent", ex.Path)
	}
}

// TestRecord_UpstreamEchoOfTheTokenIsScrubbed: an upstream error quoting
// the bearer token reaches the client untouched but not the exchange.
func TestRecord_UpstreamEchoOfTheTokenIsScrubbed(t *testing.T) {
	const token = "echoed-token-77c1e0"
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"detail":"token ` + token + ` is not valid"}`))
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL}, rec, nil)
	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+"\r\nConnection: close\r\n\r\n")
	if !strings.Contains(string(resp.body), token) {
		t.Fatalf("client body %q: the forwarded bytes must be untouched", resp.body)
	}
	ex := rec.next(t)
	if strings.Contains(string(ex.ResponseBody), token) || !strings.Contains(string(ex.ResponseBody), "[REDACTED]") {
		t.Errorf("exchange body %q: want the token scrubbed", ex.ResponseBody)
	}
}
