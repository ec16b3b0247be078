package registrytest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// Span is when the population's traffic begins and ends: 90 days.
func Span() (start, end time.Time) {
	start = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	return start, start.Add(90 * 24 * time.Hour)
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Population writes n records about users users and users/100 groups,
// spread over 90 days, shaped like provisioning traffic: each user
// created, then updated, read, (de)activated and moved between groups; 3%
// of the requests refused.
func Population(n, users int, yield func([]schema.Record) error) error {
	rnd := rand.New(rand.NewPCG(1, 2))
	start, _ := Span()
	groups := max(users/100, 1)
	idps := []string{"okta", "entra", "onelogin"}
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

// Open opens the registry at path for a benchmark, filling it with
// Population(records, users) when the file does not exist yet, so a large
// population is built once and reused; "" is a temporary file. It is
// closed when tb ends.
func Open(tb testing.TB, path string, records, users int) *registry.Registry {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "bench.db")
	}
	_, statErr := os.Stat(path)
	ctx := context.Background()
	r, err := registry.Open(ctx, path, registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	if statErr == nil {
		return r
	}
	began := time.Now()
	if err := Population(records, users, func(recs []schema.Record) error { return r.Export(ctx, recs) }); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built %d records, %d users in %s", records, users, time.Since(began).Round(time.Millisecond))
	return r
}
