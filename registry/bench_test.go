package registry_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// The README's figures come from
//
//	go test ./registry -run '^$' -bench . -benchtime 2s -registry.records 1000000 -registry.users 100000 -registry.db /tmp/reg1m.db
//
// (the database is built once, about a minute, and reused when the file
// exists). Without the flags the population is small, so CI runs each
// benchmark once in seconds.
var (
	benchRecords = flag.Int("registry.records", 20000, "records in the benchmark registry")
	benchUsers   = flag.Int("registry.users", 2000, "users in the benchmark registry")
	benchDB      = flag.String("registry.db", "", "benchmark registry file, built when missing (default: a temporary one)")
)

// population writes n records about users users and users/100 groups,
// spread over 90 days, shaped like provisioning traffic: each user
// created, then updated, read, (de)activated and moved between groups; 3%
// of the requests refused.
func population(n, users int, yield func([]schema.Record) error) error {
	rnd := rand.New(rand.NewPCG(1, 2))
	groups := max(users/100, 1)
	idps := []string{"okta", "entra", "onelogin"}
	start := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	step := 90 * 24 * time.Hour / time.Duration(n)
	batch := make([]schema.Record, 0, 512)
	for i := range n {
		u := i % users
		x := schema.Record{
			ID:        fmt.Sprintf("%016x-%08d", i, u),
			Timestamp: start.Add(time.Duration(i) * step),
			IdPName:   idps[u%len(idps)],
			Outcome:   schema.OutcomeSuccess, StatusCode: 200,
			Direction: schema.DirectionIngress,
		}
		switch {
		case i < users:
			x.Action, x.StatusCode, x.Events = "POST", 201, []string{"user.created"}
		case rnd.IntN(10) == 0:
			x.Action = "GET"
		default:
			x.Action = "PATCH"
		}
		if i >= users && rnd.IntN(5) == 0 {
			g := rnd.IntN(groups)
			x.ResourceType, x.ResourceID, x.GroupName = schema.ResourceGroup, fmt.Sprintf("g%05d", g), fmt.Sprintf("Group %d", g)
			x.Path = "/scim/v2/Groups/" + x.ResourceID
			if rnd.IntN(3) == 0 {
				x.MembersRemoved, x.Events = []string{fmt.Sprintf("u%06d", u)}, []string{"group.member_removed"}
			} else {
				x.MembersAdded, x.Events = []string{fmt.Sprintf("u%06d", u)}, []string{"group.member_added"}
			}
		} else {
			x.ResourceType, x.ResourceID = schema.ResourceUser, fmt.Sprintf("u%06d", u)
			x.UserEmail, x.UserName = fmt.Sprintf("user%06d@example.com", u), fmt.Sprintf("user%06d@example.com", u)
			x.UserDisplayName, x.IdPResourceID = fmt.Sprintf("User %d", u), fmt.Sprintf("00u%06d", u)
			x.Path = "/scim/v2/Users/" + x.ResourceID
			if x.Action == "PATCH" {
				active := rnd.IntN(4) != 0
				x.Active = &active
				x.Changes = []schema.Change{{Op: "replace", Attribute: "active", Old: raw(!active), New: raw(active)}}
				x.RequestBody = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":%t}}]}`, active)
			}
		}
		if rnd.IntN(33) == 0 {
			x.Outcome, x.StatusCode, x.Events = schema.OutcomeError, 400+rnd.IntN(2)*9, nil
			x.ErrorDetail = []string{"userName is already in use", "invalid filter", "mutability: id is readOnly"}[rnd.IntN(3)]
		}
		batch = append(batch, x)
		if len(batch) == cap(batch) || i == n-1 {
			if err := yield(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func benchRegistry(b *testing.B) *registry.Registry {
	b.Helper()
	path := *benchDB
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	_, statErr := os.Stat(path)
	ctx := context.Background()
	r, err := registry.Open(ctx, path, registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	if statErr == nil && *benchDB != "" {
		return r
	}
	began := time.Now()
	if err := population(*benchRecords, *benchUsers, func(recs []schema.Record) error { return r.Export(ctx, recs) }); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d records, %d users in %s", *benchRecords, *benchUsers, time.Since(began).Round(time.Millisecond))
	return r
}

func BenchmarkRequests(b *testing.B) {
	r := benchRegistry(b)
	ctx := context.Background()
	u := *benchUsers / 2
	last := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).Add(90 * 24 * time.Hour)
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
	last := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).Add(90 * 24 * time.Hour)
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
	_ = population(4096, 1000, func(batch []schema.Record) error {
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
