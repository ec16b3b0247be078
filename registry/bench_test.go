package registry_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/registry/registrytest"
	"github.com/scimtrail/scimtrail/schema"
)

// The README's figures come from
//
//	go test ./registry -run '^$' -bench . -benchtime 2s -registry.records 1000000 -registry.users 100000 -registry.db /tmp/reg1m.db
//
// (the database is built once, a few minutes, and reused when the file
// exists). Without the flags the population is small, so CI runs each
// benchmark once in seconds.
var (
	benchRecords = flag.Int("registry.records", 20000, "records in the benchmark registry")
	benchUsers   = flag.Int("registry.users", 2000, "users in the benchmark registry")
	benchDB      = flag.String("registry.db", "", "benchmark registry file, built when missing (default: a temporary one)")
)

func benchRegistry(b *testing.B) *registry.Registry {
	return registrytest.Open(b, *benchDB, *benchRecords, *benchUsers)
}

func BenchmarkRequests(b *testing.B) {
	r := benchRegistry(b)
	ctx := context.Background()
	u := *benchUsers / 2
	_, last := registrytest.Span()
	deep, err := r.Requests(ctx, registry.Filter{Limit: 50 * 20}) // page 21's cursor
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		f    registry.Filter
	}{
		{"newest", registry.Filter{}},
		{"outcome=ERROR", registry.Filter{Outcome: "ERROR"}},
		{"idp=entra", registry.Filter{IdP: "entra"}},
		{"action=GET", registry.Filter{Action: "GET"}},
		{"type=GROUP", registry.Filter{ResourceType: "GROUP"}},
		{"email", registry.Filter{Email: fmt.Sprintf("user%06d@example.com", u)}},
		{"group", registry.Filter{Group: "Group 7"}},
		{"resource_id", registry.Filter{ResourceID: fmt.Sprintf("u%06d", u)}},
		{"external_id", registry.Filter{ResourceID: fmt.Sprintf("00u%06d", u)}},
		{"last_day", registry.Filter{From: last.Add(-24 * time.Hour), To: last}},
		{"idp+outcome+type+week", registry.Filter{IdP: "okta", Outcome: "ERROR", ResourceType: "USER", From: last.Add(-7 * 24 * time.Hour), To: last}},
		{"page_21", registry.Filter{After: deep.Next}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, err := r.Requests(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Records) == 0 {
					b.Fatal("no records: the filter matches nothing in the population")
				}
			}
		})
	}
}

func BenchmarkUserPage(b *testing.B) {
	r := benchRegistry(b)
	ctx := context.Background()
	id := fmt.Sprintf("u%06d", *benchUsers/2)
	for b.Loop() {
		if _, ok, err := r.User(ctx, "", id); err != nil || !ok {
			b.Fatal(ok, err)
		}
		if tl, err := r.UserTimeline(ctx, "", id, 0); err != nil || len(tl) == 0 {
			b.Fatal(len(tl), err)
		}
	}
}

func BenchmarkSummary(b *testing.B) {
	r := benchRegistry(b)
	ctx := context.Background()
	_, last := registrytest.Span()
	for _, span := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		b.Run(span.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Summary(ctx, last.Add(-span), last); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExport is ingestion: records/s into a registry that already
// holds the population.
func BenchmarkExport(b *testing.B) {
	r := benchRegistry(b)
	ctx := context.Background()
	var recs []schema.Record
	_ = registrytest.Population(4096, 1000, func(batch []schema.Record) error {
		recs = append(recs, batch...)
		return nil
	})
	n := 0
	for b.Loop() {
		batch := recs[(n*512)%len(recs):][:512]
		for i := range batch {
			batch[i].ID = fmt.Sprintf("bench-%d-%d", n, i)
		}
		if err := r.Export(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*512)/b.Elapsed().Seconds(), "records/s")
}
