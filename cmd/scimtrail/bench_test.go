package main

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkStack_PatchUser sends an Okta-shaped deactivation PATCH from
// parallel clients to the in-memory SCIM service three ways: directly, through
// a plain httputil.ReverseProxy, and through scimtrail (capture, derivation,
// identity cache, JSON-lines file). Client, proxy and service share the
// machine, so the figures compare, they do not measure the proxy alone.
func BenchmarkStack_PatchUser(b *testing.B) {
	upstream := newUpstream(b)
	c := config{Listen: "127.0.0.1:0", AdminListen: adminOff, LogFile: filepath.Join(b.TempDir(), "r.jsonl"),
		StateDir: b.TempDir(), Lookup: true, Proxy: proxyConfigFor(upstream)}
	st, err := start(b.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.shutdown(10 * time.Second)
	target, _ := url.Parse(upstream)
	plain := newUpstreamHandler(b, &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(upstream+"/scim/v2/Users", "application/scim+json", strings.NewReader(
		`{"userName":"bench@example.com","emails":[{"primary":true,"value":"bench@example.com"}],"externalId":"00ubench","active":true}`))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	const patch = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	for _, via := range []struct{ name, base string }{
		{"direct", upstream}, {"httputil", plain}, {"scimtrail", "http://" + st.proxyAddr},
	} {
		b.Run(via.name, func(b *testing.B) {
			u := via.base + "/scim/v2/Users/" + id
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPatch, u, strings.NewReader(patch))
					req.Header.Set("Authorization", "Bearer "+oktaToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
