package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/schema"
)

// seenRequest is what the upstream received of one request.
type seenRequest struct {
	method, path, query string
	sum                 [32]byte
	size                int
}

// TestE2E_BadInputIsForwardedAsItCameAndRecorded: malformed JSON, invalid
// UTF-8, a body over the capture limit, an empty body, a non-SCIM path and
// an unknown IdP each reach the upstream byte for byte, and each yields one
// record that matches the schema and says what could not be derived.
func TestE2E_BadInputIsForwardedAsItCameAndRecorded(t *testing.T) {
	var mu sync.Mutex
	var seen []seenRequest
	lookups := 0
	upstream := newUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.UserAgent() == "scimtrail" { // the look-up before the DELETE of an unknown user
			lookups++
			mu.Unlock()
			w.WriteHeader(http.StatusNotFound)
			return
		}
		seen = append(seen, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, sha256.Sum256(body), len(body)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidSyntax","detail":"bad request"}`)
	}))
	logFile := filepath.Join(t.TempDir(), "records.jsonl")
	c := config{Listen: "127.0.0.1:0", AdminListen: adminOff, LogFile: logFile, StateDir: t.TempDir(), Proxy: proxyConfigFor(upstream)}
	st, err := start(t.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"userName":"big@example.com","password":"p4ss-in-huge-body","photos":[{"value":"` + strings.Repeat("A", 3<<20) + `"}]}`
	cases := []struct {
		name, method, path, body, token, note string
	}{
		{"malformed JSON", "POST", "/scim/v2/Users", `{"userName": "x@example.com", "password": "p4ss-in-bad-json"`, oktaToken, "not valid JSON"},
		{"invalid UTF-8", "PATCH", "/scim/v2/Users/%FF%FE", "{\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\xff\xfe\"}]}", oktaToken, "identity unknown"},
		{"huge body", "POST", "/scim/big/Users", huge, oktaToken, "capture limit"},
		{"empty body", "POST", "/scim/v2/Groups", "", oktaToken, ""},
		{"non-SCIM path", "GET", "/wp-login.php", "", oktaToken, "not a SCIM"},
		{"unknown IdP", "DELETE", "/scim/v2/Users/u1", "", "nobody-knows-this-token", "identity unknown"},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, "http://"+st.proxyAddr+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want the upstream's 400", tc.name, resp.StatusCode)
		}
	}
	client.CloseIdleConnections()
	if err := st.shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, logFile: logFile, stopped: true}
	recs := e.records()
	if len(recs) != len(cases) || len(seen) != len(cases) || lookups != 1 {
		t.Fatalf("%d records, %d upstream requests and %d look-ups for %d requests", len(recs), len(seen), lookups, len(cases))
	}
	for i, tc := range cases {
		if s := seen[i]; s.sum != sha256.Sum256([]byte(tc.body)) || s.method != tc.method || s.path != tc.path {
			t.Errorf("%s: upstream got %s %s (%d bytes), not the request as sent", tc.name, s.method, s.path, s.size)
		}
		// A record is written when its handler finishes, so records of
		// requests that overlap may come in either order.
		j := slices.IndexFunc(recs, func(r schema.Record) bool { return r.Action == tc.method && r.Path == tc.path })
		if j < 0 {
			t.Errorf("%s: no record", tc.name)
			continue
		}
		r := recs[j]
		if r.Outcome != "ERROR" || r.StatusCode != http.StatusBadRequest || r.ErrorDetail != "bad request" || r.SCIMType != "invalidSyntax" {
			t.Errorf("%s: record outcome %s %d %q %q", tc.name, r.Outcome, r.StatusCode, r.ErrorDetail, r.SCIMType)
		}
		if tc.note != "" && !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
			t.Errorf("%s: notes %q, want one saying %q", tc.name, r.Notes, tc.note)
		}
		switch tc.name {
		case "huge body":
			if !r.BodyTruncated {
				t.Errorf("%s: body_truncated not set", tc.name)
			}
		case "unknown IdP":
			if r.IdPName != "unknown" {
				t.Errorf("%s: idp_name %q", tc.name, r.IdPName)
			}
		default:
			if r.IdPName != "okta" {
				t.Errorf("%s: idp_name %q", tc.name, r.IdPName)
			}
		}
	}
	raw := mustRead(t, logFile)
	for _, secret := range []string{"p4ss-in-bad-json", "p4ss-in-huge-body", "nobody-knows-this-token"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("records contain %q", secret)
		}
	}
}
