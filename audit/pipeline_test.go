package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// memSink keeps what it takes, each checked against the schema; refuse
// makes it refuse everything.
type memSink struct {
	t      *testing.T
	v      *schema.Validator
	mu     sync.Mutex
	recs   []schema.Record
	refuse bool
}

func newSink(t *testing.T) *memSink {
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return &memSink{t: t, v: v}
}

func (s *memSink) Take(_ context.Context, r schema.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return errors.New("full")
	}
	b, err := json.Marshal(r)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.v.Validate(b); err != nil {
		s.t.Errorf("record does not match the schema: %v", err)
	}
	s.recs = append(s.recs, r)
	return nil
}

func openCache(t *testing.T) *identity.Store {
	t.Helper()
	c, err := identity.Open(filepath.Join(t.TempDir(), "identity.db"), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fetcher answers look-ups from a map and counts them.
type fetcher struct {
	bodies map[string]string
	calls  []string
}

func (f *fetcher) fetch(_ context.Context, path string) (int, []byte, error) {
	f.calls = append(f.calls, path)
	if b, ok := f.bodies[path]; ok {
		return http.StatusOK, []byte(b), nil
	}
	return http.StatusNotFound, nil, nil
}

func exchange(method, path string, status int, req, resp string) *scim.Exchange {
	return &scim.Exchange{Start: time.Now(), Duration: 2 * time.Millisecond, IdPName: "okta", Method: method, Path: path,
		StatusCode: status, RequestBody: []byte(req), ResponseBody: []byte(resp)}
}

const fixedID = "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10"

const group = `{"id":"g1","displayName":"Eng","members":[{"value":"u1"},{"value":"u2"}]}`

// A list answer fetched without members must not erase what is known of a
// group's membership.
func TestPipeline_ListWithoutMembersKeepsKnownMembership(t *testing.T) {
	cache, sink := openCache(t), newSink(t)
	p := audit.New(audit.Config{}, cache, sink, audit.Options{})
	ctx := context.Background()
	p.Record(ctx, exchange("GET", "/scim/v2/Groups/g1", 200, "", group), nil)
	p.Record(ctx, exchange("GET", "/scim/v2/Groups", 200, "",
		`{"Resources":[{"id":"g1","displayName":"Eng renamed"}]}`), nil)
	p.Record(ctx, exchange("PATCH", "/scim/v2/Groups/g1", 204,
		`{"Operations":[{"op":"replace","path":"members","value":[{"value":"u2"},{"value":"u3"}]}]}`, ""), nil)
	last := sink.recs[len(sink.recs)-1]
	if last.GroupName != "Eng renamed" || strings.Join(last.MembersAdded, ",") != "u3" || strings.Join(last.MembersRemoved, ",") != "u1" {
		t.Errorf("record %+v: want name from the list, +u3 -u1 from the known membership", last)
	}
	// The cache holds the membership after the replace: removing all
	// members names both.
	p.Record(ctx, exchange("PATCH", "/scim/v2/Groups/g1", 204, `{"Operations":[{"op":"remove","path":"members"}]}`, ""), nil)
	last = sink.recs[len(sink.recs)-1]
	if strings.Join(last.MembersRemoved, ",") != "u2,u3" {
		t.Errorf("remove all after replace: members_removed %q, want u2,u3", last.MembersRemoved)
	}
}

func TestPipeline_LooksUpOnlyWhatItDoesNotKnow(t *testing.T) {
	cache, sink := openCache(t), newSink(t)
	f := &fetcher{bodies: map[string]string{"/Users/u9": `{"id":"u9","userName":"nine@example.com","externalId":"x9"}`}}
	p := audit.New(audit.Config{}, cache, sink, audit.Options{})
	ctx := context.Background()
	del := exchange("DELETE", "/Users/u9", 204, "", "")
	p.Prepare(ctx, del, f.fetch)
	p.Prepare(ctx, del, f.fetch) // now known: no second look-up
	p.Record(ctx, del, f.fetch)
	if len(f.calls) != 1 {
		t.Errorf("look-ups %q, want one", f.calls)
	}
	if r := sink.recs[0]; r.UserEmail != "nine@example.com" || r.IdPResourceID != "x9" {
		t.Errorf("record %+v: want the looked-up identity", r)
	}
	// The DELETE forgot u9: a PATCH answered 204 looks it up again.
	p.Record(ctx, exchange("PATCH", "/Users/u9", 204, `{"Operations":[{"op":"replace","path":"active","value":false}]}`, ""), f.fetch)
	if len(f.calls) != 2 {
		t.Errorf("look-ups %q, want a second after the delete", f.calls)
	}
	// A PATCH answered with a body needs none.
	p.Record(ctx, exchange("PATCH", "/Users/u9", 200, `{"Operations":[]}`, `{"id":"u9","userName":"nine@example.com"}`), f.fetch)
	if len(f.calls) != 2 {
		t.Errorf("look-ups %q after a PATCH with a body, want none more", f.calls)
	}
}

func TestPipeline_SkipReadsAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := newSink(t)
	p := audit.New(audit.Config{SkipReads: true}, nil, sink, audit.Options{Registerer: reg, IdPs: []string{"okta"},
		NewID: func() string { return fixedID }})
	ctx := context.Background()
	p.Record(ctx, exchange("GET", "/Users/u1", 200, "", `{"id":"u1"}`), nil)
	p.Record(ctx, exchange("POST", "/Users", 409, `{"userName":"a@b.c"}`, `{"detail":"exists","scimType":"uniqueness"}`), nil)
	weird := exchange("BREW", "/Users", 405, "", "")
	weird.IdPName = "unconfigured"
	p.Record(ctx, weird, nil)
	if len(sink.recs) != 2 || sink.recs[0].Action != "POST" || sink.recs[0].ID != fixedID {
		t.Fatalf("records %+v: want the POST and the BREW, not the GET", sink.recs)
	}
	requests, err := testutil.GatherAndCount(reg, "scimtrail_requests_total")
	if err != nil || requests != 3 {
		t.Errorf("request series %d (%v), want 3 (reads are counted even when not recorded)", requests, err)
	}
	const want = `
# HELP scimtrail_requests_total SCIM requests proxied, by IdP, action, resource type and outcome.
# TYPE scimtrail_requests_total counter
scimtrail_requests_total{action="GET",idp="okta",outcome="SUCCESS",resource_type="USER"} 1
scimtrail_requests_total{action="OTHER",idp="unknown",outcome="ERROR",resource_type="USER"} 1
scimtrail_requests_total{action="POST",idp="okta",outcome="ERROR",resource_type="USER"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scimtrail_requests_total"); err != nil {
		t.Error(err)
	}
	sink.refuse = true // a refused record is the sink's to count; the pipeline goes on
	p.Record(ctx, exchange("DELETE", "/Users/u1", 204, "", ""), nil)
	if n, err := testutil.GatherAndCount(reg, "scimtrail_requests_total"); err != nil || n != 4 {
		t.Errorf("request series %d (%v) after a refused record, want 4", n, err)
	}
}

// countingCache counts writes to the cache it wraps.
type countingCache struct {
	scim.IdentityCache
	puts int
}

func (c *countingCache) Put(ctx context.Context, id scim.Identity) error {
	c.puts++
	return c.IdentityCache.Put(ctx, id)
}

// TestPipeline_UnchangedIdentityIsNotRewritten: a read-back of what is
// known, or an update that changes no tracked attribute, writes nothing.
func TestPipeline_UnchangedIdentityIsNotRewritten(t *testing.T) {
	cache := &countingCache{IdentityCache: openCache(t)}
	p := audit.New(audit.Config{}, cache, newSink(t), audit.Options{})
	ctx := context.Background()
	const user = `{"id":"u1","userName":"ann@example.com","active":true}`
	p.Record(ctx, exchange("GET", "/Users/u1", 200, "", user), nil)
	p.Record(ctx, exchange("GET", "/Users/u1", 200, "", user), nil)
	p.Record(ctx, exchange("GET", "/Users", 200, "", `{"Resources":[`+user+`]}`), nil)
	p.Record(ctx, exchange("PATCH", "/Users/u1", 204, `{"Operations":[{"op":"replace","path":"title","value":"CTO"}]}`, ""), nil)
	if cache.puts != 1 {
		t.Errorf("%d cache writes, want 1 (the first read)", cache.puts)
	}
	p.Record(ctx, exchange("PATCH", "/Users/u1", 204, `{"Operations":[{"op":"replace","path":"active","value":false}]}`, ""), nil)
	if cache.puts != 2 {
		t.Errorf("%d cache writes, want 2 after a deactivation", cache.puts)
	}
}

// TestPipeline_ConcurrentPatchesOfOneGroupKeepEveryMember: PATCHes of one
// group recorded at once must not lose each other's cache updates.
func TestPipeline_ConcurrentPatchesOfOneGroupKeepEveryMember(t *testing.T) {
	cache, sink := openCache(t), newSink(t)
	p := audit.New(audit.Config{}, cache, sink, audit.Options{})
	ctx := context.Background()
	p.Record(ctx, exchange("POST", "/Groups", 201, `{"displayName":"Eng"}`, `{"id":"g1","displayName":"Eng"}`), nil)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"Operations":[{"op":"add","path":"members","value":[{"value":"u%d"}]}]}`, i)
			p.Record(ctx, exchange("PATCH", "/Groups/g1", 204, body, ""), nil)
		})
	}
	wg.Wait()
	p.Record(ctx, exchange("PATCH", "/Groups/g1", 204, `{"Operations":[{"op":"remove","path":"members"}]}`, ""), nil)
	if got := len(sink.recs[len(sink.recs)-1].MembersRemoved); got != n {
		t.Errorf("remove all names %d members, want %d", got, n)
	}
}

// In egress mode two SaaS applications may use the same ids: what one
// taught the cache must not name the other's resource.
func TestPipeline_EgressDestinationsDoNotShareIdentities(t *testing.T) {
	cache, sink := openCache(t), newSink(t)
	p := audit.New(audit.Config{}, cache, sink, audit.Options{})
	ctx := context.Background()
	at := func(dest string, ex *scim.Exchange) *scim.Exchange {
		ex.Destination, ex.Direction = dest, schema.DirectionEgress
		return ex
	}
	p.Record(ctx, at("a.example:443", exchange("POST", "/scim/v2/Users", 201, `{"userName":"ann@a.example"}`,
		`{"id":"42","userName":"ann@a.example","emails":[{"value":"ann@a.example","primary":true}]}`)), nil)
	p.Record(ctx, at("b.example:443", exchange("POST", "/scim/v2/Users", 201, `{"userName":"bob@b.example"}`,
		`{"id":"42","userName":"bob@b.example","emails":[{"value":"bob@b.example","primary":true}]}`)), nil)
	p.Record(ctx, at("a.example:443", exchange("DELETE", "/scim/v2/Users/42", 204, "", "")), nil)
	p.Record(ctx, at("b.example:443", exchange("PATCH", "/scim/v2/Users/42", 204, `{"Operations":[{"op":"replace","path":"active","value":false}]}`, "")), nil)
	del, patch := sink.recs[2], sink.recs[3]
	if del.UserEmail != "ann@a.example" || patch.UserEmail != "bob@b.example" {
		t.Fatalf("DELETE at a names %q, PATCH at b names %q: the destinations' identities mixed", del.UserEmail, patch.UserEmail)
	}
	if del.DestinationHost != "a.example:443" || del.Direction != schema.DirectionEgress {
		t.Errorf("record direction %q destination %q", del.Direction, del.DestinationHost)
	}
	// The reverse proxy's own cache is apart from both.
	p.Record(ctx, exchange("DELETE", "/scim/v2/Users/42", 204, "", ""), nil)
	if got := sink.recs[4].UserEmail; got != "" {
		t.Errorf("reverse-mode DELETE named %q from an egress destination", got)
	}
}
