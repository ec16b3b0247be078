package console_test

import (
	"net/http"
	"strings"
	"testing"
)

// pathsOf lists every kind of path the console answers, with the status a
// valid credential gets.
func pathsOf(f *fixture) map[string]int {
	rec := f.recs[1].ID
	alice, sales := f.ids["alice"], f.ids["sales"]
	return map[string]int{
		"/ui/":                            http.StatusOK,
		"/ui/requests":                    http.StatusOK,
		"/ui/requests?outcome=ERROR":      http.StatusOK,
		"/ui/requests/" + rec:             http.StatusOK,
		"/ui/users":                       http.StatusOK,
		"/ui/users?q=alice":               http.StatusOK,
		"/ui/users/" + alice:              http.StatusOK,
		"/ui/groups":                      http.StatusOK,
		"/ui/groups/" + sales:             http.StatusOK,
		"/ui/summary":                     http.StatusOK,
		"/ui/summary?range=7d":            http.StatusOK,
		"/ui/static/console.css":          http.StatusOK,
		"/ui/static/console.js":           http.StatusOK,
		"/ui/static/":                     http.StatusNotFound,
		"/ui/static/nope.css":             http.StatusNotFound,
		"/ui/nope":                        http.StatusNotFound,
		"/ui/requests/no-such-record":     http.StatusNotFound,
		"/api/v1/requests":                http.StatusOK,
		"/api/v1/requests?format=csv":     http.StatusOK,
		"/api/v1/requests?format=ndjson":  http.StatusOK,
		"/api/v1/requests/" + rec:         http.StatusOK,
		"/api/v1/users":                   http.StatusOK,
		"/api/v1/users/" + alice:          http.StatusOK,
		"/api/v1/groups":                  http.StatusOK,
		"/api/v1/groups/" + sales:         http.StatusOK,
		"/api/v1/idps":                    http.StatusOK,
		"/api/v1/summary":                 http.StatusOK,
		"/api/v1/nope":                    http.StatusNotFound,
		"/api/v1/users/no-such-user":      http.StatusNotFound,
		"/api/v2/requests":                http.StatusNotFound,
		"/ui/requests?outcome=sometimes":  http.StatusBadRequest,
		"/api/v1/requests?from=yesterday": http.StatusBadRequest,
	}
}

func TestConsole_EveryPathRequiresCredentials(t *testing.T) {
	f := newFixture(t)
	refused := map[string]cred{
		"no credential":                       noCred,
		"wrong token":                         bearer("not-the-token"),
		"the token's digest as the token":     bearer(digest(testToken)),
		"empty bearer":                        bearer(""),
		"wrong password":                      basic(testUser, "wrong horse"),
		"right password, unknown user":        basic("mallory", testPassword),
		"another user's password":             basic("auditor", testPassword),
		"empty user and password":             basic("", ""),
		"token as basic password":             basic(testUser, testToken),
		"malformed basic":                     func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!not-base64") },
		"unknown scheme":                      func(r *http.Request) { r.Header.Set("Authorization", "Digest "+testToken) },
		"right password with trailing blank":  basic(testUser, testPassword+" "),
		"right user name in other case":       basic(strings.ToUpper(testUser), testPassword),
		"token with a prefix of the real one": bearer(testToken[:len(testToken)-1]),
	}
	accepted := map[string]cred{
		"token":                  bearer(testToken),
		"token, lower-case":      func(r *http.Request) { r.Header.Set("Authorization", "bearer "+testToken) },
		"password":               asAdmin,
		"password, cached":       asAdmin,
		"another user":           basic("auditor", "someone else's"),
		"second token in config": bearer("another-token"),
	}
	for path, want := range pathsOf(f) {
		for name, c := range refused {
			resp, body := f.do(http.MethodGet, path, c)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d, want 401", path, name, resp.StatusCode)
				continue
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="scimtrail", charset="UTF-8"` {
				t.Errorf("%s with %s: WWW-Authenticate %q", path, name, got)
			}
			// Nothing of the data leaks with the refusal.
			lacks(t, path+" refused", body, "alice", "okta", "<table", f.recs[1].ID)
		}
		for name, c := range accepted {
			if resp, body := f.do(http.MethodGet, path, c); resp.StatusCode != want {
				t.Errorf("%s with %s: %d, want %d\n%s", path, name, resp.StatusCode, want, body)
			}
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, "credential refused") || strings.Contains(logs, testPassword) ||
		strings.Contains(logs, "not-the-token") || strings.Contains(logs, "wrong horse") {
		t.Errorf("refusals are logged, without what was sent:\n%s", logs)
	}
}

func TestConsole_SecurityHeadersOnEveryAnswer(t *testing.T) {
	f := newFixture(t)
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Cache-Control":              "no-store",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	cases := []struct {
		method, path string
		c            cred
		status       int
	}{
		{http.MethodGet, "/ui/requests", asAdmin, http.StatusOK},
		{http.MethodHead, "/ui/requests", asAdmin, http.StatusOK},
		{http.MethodGet, "/ui/static/console.css", asAdmin, http.StatusOK},
		{http.MethodGet, "/api/v1/requests", bearer(testToken), http.StatusOK},
		{http.MethodGet, "/api/v1/requests?format=csv", bearer(testToken), http.StatusOK},
		{http.MethodGet, "/ui/requests", noCred, http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/requests", bearer("wrong"), http.StatusUnauthorized},
		{http.MethodGet, "/ui/nope", asAdmin, http.StatusNotFound},
		{http.MethodGet, "/api/v1/requests/nope", asAdmin, http.StatusNotFound},
		{http.MethodGet, "/api/v1/requests?limit=0", asAdmin, http.StatusBadRequest},
		{http.MethodPost, "/ui/requests", asAdmin, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		resp, _ := f.do(c.method, c.path, c.c)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s (%d): %s %q, want %q", c.method, c.path, resp.StatusCode, k, got, v)
			}
		}
	}
}

func TestConsole_OnlyGETAndHEAD(t *testing.T) {
	f := newFixture(t)
	before := f.get("/api/v1/requests?format=ndjson", http.StatusOK)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "TRACE", "PROPFIND"} {
		for _, path := range []string{"/ui/requests", "/ui/requests/" + f.recs[0].ID, "/api/v1/requests", "/api/v1/users/" + f.ids["alice"], "/ui/nope"} {
			resp, _ := f.do(method, path, asAdmin)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q, want 405 GET, HEAD", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
			// Credentials first, whatever the method.
			if resp, _ := f.do(method, path, noCred); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without credentials: %d, want 401", method, path, resp.StatusCode)
			}
		}
	}
	resp, body := f.do(http.MethodHead, "/ui/requests", asAdmin)
	if resp.StatusCode != http.StatusOK || body != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("HEAD /ui/requests: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if after := f.get("/api/v1/requests?format=ndjson", http.StatusOK); after != before {
		t.Error("the records changed")
	}
}
