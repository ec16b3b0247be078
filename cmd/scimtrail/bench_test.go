package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkStack_PatchUser sends an Okta-shaped deactivation PATCH through
// the whole stack (proxy, capture, derivation, identity cache, JSON-lines
// file) to the in-memory SCIM service, from parallel clients.
func BenchmarkStack_PatchUser(b *testing.B) {
	upstream := newUpstream(b)
	c := config{Listen: "127.0.0.1:0", AdminListen: adminOff, LogFile: filepath.Join(b.TempDir(), "r.jsonl"),
		StateDir: b.TempDir(), Lookup: true, Proxy: proxyConfigFor(upstream)}
	st, err := start(b.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.shutdown(10 * time.Second)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	base := "http://" + st.proxyAddr + "/scim/v2"
	resp, err := client.Post(base+"/Users", "application/scim+json", strings.NewReader(
		`{"userName":"bench@example.com","emails":[{"primary":true,"value":"bench@example.com"}],"externalId":"00ubench","active":true}`))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	const patch = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPatch, base+"/Users/"+id, strings.NewReader(patch))
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
}
