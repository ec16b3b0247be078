package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/registry/registrytest"
)

// The README's figures come from
//
//	go test ./console -run '^$' -bench Page -benchtime 2s -registry.records 1000000 -registry.users 100000 -registry.db /tmp/reg1m.db
//
// (the same database as the registry's benchmarks: built once when the
// file is missing). Without the flags the population is small, so CI runs
// each benchmark once in seconds.
var (
	benchRecords = flag.Int("registry.records", 20000, "records in the benchmark registry")
	benchUsers   = flag.Int("registry.users", 2000, "users in the benchmark registry")
	benchDB      = flag.String("registry.db", "", "benchmark registry file, built when missing (default: a temporary one)")
)

// BenchmarkPage is the console's answer, end to end but for the network:
// credential check, registry query, template rendering.
func BenchmarkPage(b *testing.B) {
	reg := registrytest.Open(b, *benchDB, *benchRecords, *benchUsers)
	_, end := registrytest.Span()
	sum := sha256.Sum256([]byte("bench-token"))
	h, err := console.New(reg, console.Config{TokenSHA256: []string{hex.EncodeToString(sum[:])}},
		console.Options{Now: func() time.Time { return end }})
	if err != nil {
		b.Fatal(err)
	}
	day := url.Values{"from": {end.Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}}.Encode()
	user := fmt.Sprintf("u%06d", *benchUsers/2)
	for _, target := range []string{
		"/ui/",
		"/ui/?outcome=ERROR",
		"/ui/?idp=entra&action=PATCH&resource_type=USER&outcome=ERROR",
		"/ui/?email=" + fmt.Sprintf("user%06d@example.com", *benchUsers/2),
		"/ui/?group=Group+7",
		"/ui/?resource_id=" + user,
		"/ui/?" + day,
		"/ui/users/" + user,
		"/ui/summary?range=24h",
		"/ui/summary?range=30d",
		"/api/v1/requests?outcome=ERROR&limit=100",
	} {
		b.Run(target, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Authorization", "Bearer bench-token")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", target, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
