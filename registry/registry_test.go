package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func open(t *testing.T) *registry.Registry {
	t.Helper()
	r, err := registry.Open(t.Context(), filepath.Join(t.TempDir(), "registry.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rec is a successful record at t0 + minute minutes.
func rec(id string, minute int, action, rtype, resourceID string) schema.Record {
	return schema.Record{
		ID: id, Timestamp: t0.Add(time.Duration(minute) * time.Minute), IdPName: "okta",
		Action: action, ResourceType: rtype, ResourceID: resourceID,
		Outcome: schema.OutcomeSuccess, StatusCode: 200, Path: "/scim/v2/x",
	}
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func export(t *testing.T, r *registry.Registry, recs ...schema.Record) {
	t.Helper()
	if err := r.Export(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// history is an Okta-shaped life of one user and one group.
func history() []schema.Record {
	create := rec("r1", 0, "POST", schema.ResourceUser, "u1")
	create.UserEmail, create.UserName, create.IdPResourceID, create.UserDisplayName, create.Active =
		"ann@example.com", "ann@example.com", "00u1", "Ann Lee", ptr(true)
	create.Events = []string{"user.created"}

	rename := rec("r2", 1, "PATCH", schema.ResourceUser, "u1")
	rename.UserEmail, rename.UserName, rename.IdPResourceID, rename.UserDisplayName =
		"ann.lee@example.com", "ann@example.com", "00u1", "Ann Lee"
	// As a sidecar without its identity cache writes it: no old value.
	rename.Changes = []schema.Change{{Op: "replace", Attribute: "emails", New: raw("ann.lee@example.com")}}
	rename.Events = []string{"user.updated"}

	group := rec("r3", 2, "POST", schema.ResourceGroup, "g1")
	group.GroupName, group.MembersAdded, group.Events = "Engineering", []string{"u1", "u9"}, []string{"group.created", "group.member_added"}

	refused := rec("r4", 3, "POST", schema.ResourceUser, "")
	refused.UserEmail, refused.Outcome, refused.StatusCode, refused.ErrorDetail = "ann.lee@example.com", schema.OutcomeError, 409, "userName exists"

	remove := rec("r5", 4, "PATCH", schema.ResourceGroup, "g1")
	remove.GroupName, remove.MembersRemoved, remove.Events = "Engineering", []string{"u1"}, []string{"group.member_removed"}

	deactivate := rec("r6", 5, "PATCH", schema.ResourceUser, "u1")
	deactivate.UserEmail, deactivate.Active = "ann.lee@example.com", ptr(false)
	deactivate.Changes = []schema.Change{{Op: "replace", Attribute: "active", Old: raw(true), New: raw(false)}}
	deactivate.Events = []string{"user.deactivated"}
	return []schema.Record{create, rename, group, refused, remove, deactivate}
}

func TestExport_StateAndTimeline(t *testing.T) {
	r := open(t)
	export(t, r, history()...)
	ctx := t.Context()

	u, ok, err := r.User(ctx, "", "u1")
	if err != nil || !ok {
		t.Fatalf("User: %v %v", ok, err)
	}
	if u.Email != "ann.lee@example.com" || u.UserName != "ann@example.com" || u.DisplayName != "Ann Lee" ||
		u.ExternalID != "00u1" || u.Active == nil || *u.Active || u.Deleted || len(u.Groups) != 0 {
		t.Errorf("user = %+v", u)
	}
	if !u.FirstSeen.Equal(t0) || !u.LastSeen.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("seen %s..%s", u.FirstSeen, u.LastSeen)
	}
	tl, err := r.UserTimeline(ctx, "", "u1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		s := e.Record.ID
		if e.Membership != "" {
			s += ":" + e.Membership + ":" + e.Group.Name
		}
		got = append(got, s)
	}
	want := []string{"r6", "r5:removed:Engineering", "r4", "r3:added:Engineering", "r2", "r1"}
	if !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	// The registry knew the e-mail the sidecar did not: old → new.
	if c := tl[4].Record.Changes[0]; string(c.Old) != `"ann@example.com"` || string(c.New) != `"ann.lee@example.com"` {
		t.Errorf("completed change = %s → %s", c.Old, c.New)
	}

	g, ok, err := r.Group(ctx, "", "g1")
	if err != nil || !ok || g.Name != "Engineering" || len(g.Members) != 1 || g.Members[0].ID != "u9" || g.Members[0].Email != "" {
		t.Fatalf("group = %+v %v %v", g, ok, err)
	}
	gtl, err := r.GroupTimeline(ctx, "", "g1", 0)
	if err != nil || len(gtl) != 2 || gtl[1].Members["u1"] != "ann.lee@example.com" {
		t.Fatalf("group timeline = %+v %v", gtl, err)
	}
}

func TestExport_IdempotentByID(t *testing.T) {
	r := open(t)
	recs := history()
	export(t, r, recs...)
	before := snapshot(t, r)
	export(t, r, recs...)          // a replay
	export(t, r, recs[2], recs[0]) // a redelivery, out of order
	if after := snapshot(t, r); after != before {
		t.Errorf("state changed on replay:\n%s\n%s", before, after)
	}
}

// snapshot is everything the registry answers, as one string.
func snapshot(t *testing.T, r *registry.Registry) string {
	t.Helper()
	ctx := t.Context()
	p, err := r.Requests(ctx, registry.Filter{Limit: registry.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	u, _, _ := r.User(ctx, "", "u1")
	g, _, _ := r.Group(ctx, "", "g1")
	tl, _ := r.UserTimeline(ctx, "", "u1", 0)
	s, err := r.Summary(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal([]any{p, u, g, tl, s})
	return string(b)
}

func TestExport_GroupPUTReplacesMembership(t *testing.T) {
	r := open(t)
	create := rec("a", 0, "POST", schema.ResourceGroup, "g1")
	create.GroupName, create.MembersAdded = "Sales", []string{"u1", "u2"}
	// The proxy did not know the prior list, so it reported no removals;
	// the PUT body names the whole membership.
	put := rec("b", 1, "PUT", schema.ResourceGroup, "g1")
	put.GroupName, put.MembersAdded = "Sales", []string{"u3"}
	put.RequestBody = `{"displayName":"Sales","members":[{"value":"u2"},{"value":"u3"}]}`
	del := rec("c", 2, "DELETE", schema.ResourceGroup, "g1")
	export(t, r, create, put)
	g, _, _ := r.Group(t.Context(), "", "g1")
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"u2", "u3"}) {
		t.Errorf("members after PUT = %v", ids)
	}
	if tl, _ := r.UserTimeline(t.Context(), "", "u1", 0); len(tl) != 2 || tl[0].Membership != "removed" || tl[0].Record.ID != "b" {
		t.Errorf("u1 timeline = %+v", tl)
	}
	export(t, r, del)
	if g, _, _ := r.Group(t.Context(), "", "g1"); !g.Deleted || len(g.Members) != 0 {
		t.Errorf("after DELETE: %+v", g)
	}
}

func TestExport_DestinationsKeptApart(t *testing.T) {
	r := open(t)
	a := rec("a", 0, "POST", schema.ResourceUser, "1")
	a.UserEmail = "ann@example.com"
	b := rec("b", 0, "POST", schema.ResourceUser, "1")
	b.UserEmail, b.DestinationHost, b.Direction = "bob@example.com", "api.saas.example", schema.DirectionEgress
	export(t, r, a, b)
	ua, _, _ := r.User(t.Context(), "", "1")
	ub, _, _ := r.User(t.Context(), "api.saas.example", "1")
	if ua.Email != "ann@example.com" || ub.Email != "bob@example.com" {
		t.Errorf("same id at two destinations mixed: %q %q", ua.Email, ub.Email)
	}
}

func TestRequests_FiltersAndPaging(t *testing.T) {
	r := open(t)
	var recs []schema.Record
	for i := range 230 {
		x := rec(fmt.Sprintf("r%03d", i), i/3, "PATCH", schema.ResourceUser, fmt.Sprintf("u%d", i%10))
		x.UserEmail = fmt.Sprintf("User%d@Example.com", i%10)
		x.IdPResourceID = fmt.Sprintf("ext%d", i%10)
		if i%2 == 0 {
			x.IdPName = "entra"
		}
		if i%7 == 0 {
			x.Outcome, x.StatusCode, x.ErrorDetail = schema.OutcomeError, 400, "bad"
		}
		if i%5 == 0 {
			x.ResourceType, x.Action, x.GroupName, x.UserEmail = schema.ResourceGroup, "POST", "Eng", ""
		}
		recs = append(recs, x)
	}
	export(t, r, recs...)
	count := func(keep func(schema.Record) bool) int {
		n := 0
		for _, x := range recs {
			if keep(x) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		f    registry.Filter
		keep func(schema.Record) bool
	}{
		{"all", registry.Filter{}, func(schema.Record) bool { return true }},
		{"outcome", registry.Filter{Outcome: "error"}, func(x schema.Record) bool { return x.Outcome == schema.OutcomeError }},
		{"idp", registry.Filter{IdP: "entra"}, func(x schema.Record) bool { return x.IdPName == "entra" }},
		{"action", registry.Filter{Action: "post"}, func(x schema.Record) bool { return x.Action == "POST" }},
		{"type", registry.Filter{ResourceType: "user"}, func(x schema.Record) bool { return x.ResourceType == schema.ResourceUser }},
		{"email any case", registry.Filter{Email: "user3@example.COM"}, func(x schema.Record) bool { return x.UserEmail == "User3@Example.com" }},
		{"group", registry.Filter{Group: "eng"}, func(x schema.Record) bool { return x.GroupName == "Eng" }},
		{"resource id", registry.Filter{ResourceID: "u4"}, func(x schema.Record) bool { return x.ResourceID == "u4" }},
		{"external id", registry.Filter{ResourceID: "ext4"}, func(x schema.Record) bool { return x.IdPResourceID == "ext4" }},
		{"time range", registry.Filter{From: t0.Add(10 * time.Minute), To: t0.Add(20 * time.Minute)}, func(x schema.Record) bool {
			return !x.Timestamp.Before(t0.Add(10*time.Minute)) && x.Timestamp.Before(t0.Add(20*time.Minute))
		}},
		{"combined", registry.Filter{IdP: "entra", Outcome: "ERROR", ResourceType: "GROUP"}, func(x schema.Record) bool {
			return x.IdPName == "entra" && x.Outcome == schema.OutcomeError && x.ResourceType == schema.ResourceGroup
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.Limit = 17
			seen := map[string]bool{}
			var last schema.Record
			for page := 0; page < 100; page++ {
				p, err := r.Requests(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range p.Records {
					if !tc.keep(x) {
						t.Fatalf("%s does not match the filter", x.ID)
					}
					if seen[x.ID] {
						t.Fatalf("%s twice", x.ID)
					}
					if last.ID != "" && (x.Timestamp.After(last.Timestamp) || (x.Timestamp.Equal(last.Timestamp) && x.ID > last.ID)) {
						t.Fatalf("%s after %s: not newest first", x.ID, last.ID)
					}
					seen[x.ID], last = true, x
				}
				if p.Next == "" {
					break
				}
				f.After = p.Next
			}
			if want := count(tc.keep); len(seen) != want || want == 0 {
				t.Errorf("walked %d records, want %d", len(seen), want)
			}
		})
	}
	if _, err := r.Requests(t.Context(), registry.Filter{After: "nope"}); err != registry.ErrBadCursor {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestPrune(t *testing.T) {
	r := open(t)
	export(t, r, history()...)
	n, err := r.Prune(t.Context(), t0.Add(3*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	p, _ := r.Requests(t.Context(), registry.Filter{})
	if len(p.Records) != 3 || p.Records[2].ID != "r4" {
		t.Errorf("left %d records", len(p.Records))
	}
	// The current state is not history: Ann is still there.
	if u, ok, _ := r.User(t.Context(), "", "u1"); !ok || u.Email != "ann.lee@example.com" {
		t.Errorf("user pruned: %+v", u)
	}
	if tl, _ := r.UserTimeline(t.Context(), "", "u1", 0); len(tl) != 3 {
		t.Errorf("timeline after prune: %d entries", len(tl))
	}
}

func TestSummary(t *testing.T) {
	r := open(t)
	recs := history()
	late := rec("late", 125, "GET", schema.ResourceUser, "u1")
	late.IdPName = "entra"
	export(t, r, append(recs, late)...)
	s, err := r.Summary(t.Context(), t0, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s.Step != time.Hour || len(s.Buckets) != 3 || !slices.Equal(s.IdPs, []string{"entra", "okta"}) {
		t.Fatalf("summary shape: step %s, %d buckets, idps %v", s.Step, len(s.Buckets), s.IdPs)
	}
	if c := s.Buckets[0].ByIdP["okta"]; c.Success != 5 || c.Error != 1 {
		t.Errorf("first hour okta = %+v", c)
	}
	if c := s.Buckets[2].ByIdP["entra"]; c.Success != 1 {
		t.Errorf("third hour entra = %+v", c)
	}
	if s.Totals != (registry.Counts{Success: 6, Error: 1}) {
		t.Errorf("totals = %+v", s.Totals)
	}
	if len(s.TopErrors) != 1 || s.TopErrors[0].Detail != "userName exists" || s.TopErrors[0].Count != 1 {
		t.Errorf("top errors = %+v", s.TopErrors)
	}
	idps, err := r.IdPs(t.Context())
	if err != nil || !slices.Equal(idps, []string{"entra", "okta"}) {
		t.Errorf("IdPs = %v %v", idps, err)
	}
}

func TestUsersAndGroupsSearch(t *testing.T) {
	r := open(t)
	export(t, r, history()...)
	us, err := r.Users(t.Context(), "ANN.", 10)
	if err != nil || len(us) != 1 || us[0].ID != "u1" {
		t.Errorf("Users(ANN.) = %+v %v", us, err)
	}
	if us, _ := r.Users(t.Context(), "ann@", 10); len(us) != 1 {
		t.Errorf("by userName: %+v", us)
	}
	if us, _ := r.Users(t.Context(), "zed", 10); len(us) != 0 {
		t.Errorf("Users(zed) = %+v", us)
	}
	if gs, err := r.Groups(t.Context(), "eng", 10); err != nil || len(gs) != 1 || gs[0].Name != "Engineering" {
		t.Errorf("Groups(eng) = %+v %v", gs, err)
	}
}

func TestOpen_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	ctx := context.Background()
	r, err := registry.Open(ctx, path, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	export(t, r, history()...)
	r.Close()
	r, err = registry.Open(ctx, path, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if x, ok, err := r.Request(ctx, "r2"); err != nil || !ok || x.UserEmail != "ann.lee@example.com" {
		t.Errorf("after reopen: %+v %v %v", x, ok, err)
	}
}

func members(t *testing.T, r *registry.Registry, gid string) []string {
	t.Helper()
	g, _, err := r.Group(t.Context(), "", gid)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// Records arrive out of order: a user's and a group's records travel on
// different Kafka partitions, several sidecars write to one topic, a SIEM
// export may be sorted newest first. The membership follows the newest
// record, whatever arrived first; the timeline keeps every change.
func TestExport_MembershipFollowsTheNewestRecordNotTheLastArrived(t *testing.T) {
	add := func(id string, minute int, uids ...string) schema.Record {
		x := rec(id, minute, "PATCH", schema.ResourceGroup, "g1")
		x.GroupName, x.MembersAdded = "Eng", uids
		return x
	}
	remove := func(id string, minute int, uids ...string) schema.Record {
		x := rec(id, minute, "PATCH", schema.ResourceGroup, "g1")
		x.GroupName, x.MembersRemoved = "Eng", uids
		return x
	}
	put := func(id string, minute int, uids ...string) schema.Record {
		x := rec(id, minute, "PUT", schema.ResourceGroup, "g1")
		x.GroupName = "Eng"
		var ms []string
		for _, u := range uids {
			ms = append(ms, `{"value":"`+u+`"}`)
		}
		x.RequestBody = `{"displayName":"Eng","members":[` + strings.Join(ms, ",") + `]}`
		return x
	}
	delGroup := rec("dg", 5, "DELETE", schema.ResourceGroup, "g1")
	delUser := rec("du", 5, "DELETE", schema.ResourceUser, "u9")
	delU1 := rec("du1", 5, "DELETE", schema.ResourceUser, "u1")
	createU1 := rec("cu1", 6, "POST", schema.ResourceUser, "u1")
	pathless := add("b", 2, "u3")
	pathless.RequestBody = `{"Operations":[{"op":"replace","value":{"members":[{"value":"u3"}]}}]}`
	tests := []struct {
		name    string
		arrival []schema.Record
		want    []string
	}{
		{"remove arrives before the older add", []schema.Record{remove("b", 2, "u1"), add("a", 1, "u1")}, []string{}},
		{"add arrives before the older remove", []schema.Record{add("b", 2, "u1"), remove("a", 1, "u1")}, []string{"u1"}},
		{"an add older than the group's deletion", []schema.Record{add("a", 1, "u1"), delGroup, add("b", 3, "u9")}, []string{}},
		{"an add older than the user's deletion", []schema.Record{delUser, add("a", 3, "u9")}, []string{}},
		{"an older PUT after a newer one", []schema.Record{put("b", 9, "new"), put("a", 4, "old")}, []string{"new"}},
		{"a removed member, then the group's deletion, then an older add", []schema.Record{add("a", 1, "u1"), remove("b", 2, "u1"), delGroup, add("c", 3, "u1")}, []string{}},
		{"a removed member, then a PUT without it, then an older add", []schema.Record{add("a", 1, "u1"), remove("b", 2, "u1"), put("p", 5, "x"), add("c", 3, "u1")}, []string{"x"}},
		{"a removed member, then the user's deletion, then an older add", []schema.Record{add("a", 1, "u1"), remove("b", 2, "u1"), delU1, add("c", 3, "u1")}, []string{}},
		{"a PUT keeping a member, then an older remove", []schema.Record{add("a", 1, "u1"), put("p", 5, "u1"), remove("b", 3, "u1")}, []string{"u1"}},
		{"the user re-created, then its older deletion", []schema.Record{add("a", 1, "u1"), createU1, delU1}, []string{}},
		{"the user deleted and re-created, then an older add", []schema.Record{delU1, createU1, add("c", 3, "u1")}, []string{}},
		{"an add at the instant of the group's deletion", []schema.Record{delGroup, add("c", 5, "u1")}, []string{}},
		{"a path-less PATCH replacing the members", []schema.Record{add("a", 1, "u1", "u2"), pathless}, []string{"u3"}},
		{"a PATCH replacing the list the proxy did not know", []schema.Record{add("a", 1, "u1", "u2"), func() schema.Record {
			x := add("b", 2, "u3")
			x.RequestBody = `{"Operations":[{"op":"replace","path":"members","value":[{"value":"u3"}]}]}`
			return x
		}()}, []string{"u3"}},
		{"a PATCH removing every member", []schema.Record{add("a", 1, "u1", "u2"), func() schema.Record {
			x := rec("b", 2, "PATCH", schema.ResourceGroup, "g1")
			x.RequestBody = `{"Operations":[{"op":"remove","path":"members"}]}`
			return x
		}()}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t)
			for _, x := range tc.arrival {
				export(t, r, x)
			}
			if got := members(t, r, "g1"); !slices.Equal(got, tc.want) {
				t.Errorf("members = %v, want %v", got, tc.want)
			}
		})
	}
	// Both changes are history, whichever came first.
	r := open(t)
	export(t, r, remove("b", 2, "u1"))
	export(t, r, add("a", 1, "u1"))
	tl, err := r.UserTimeline(t.Context(), "", "u1", 0)
	if err != nil || len(tl) != 2 || tl[0].Membership != "removed" || tl[1].Membership != "added" {
		t.Errorf("timeline = %+v, %v", tl, err)
	}
}

func TestExport_DeletedUserLeavesItsGroupsOnItsTimeline(t *testing.T) {
	r := open(t)
	g := rec("a", 0, "POST", schema.ResourceGroup, "g1")
	g.GroupName, g.MembersAdded = "Eng", []string{"u1"}
	u := rec("b", 0, "POST", schema.ResourceUser, "u1")
	u.UserEmail = "ann@example.com"
	del := rec("c", 1, "DELETE", schema.ResourceUser, "u1")
	export(t, r, u, g, del)
	if got := members(t, r, "g1"); len(got) != 0 {
		t.Errorf("members after the user's DELETE = %v", got)
	}
	tl, _ := r.UserTimeline(t.Context(), "", "u1", 0)
	if len(tl) < 2 || tl[0].Record.ID != "c" || tl[1].Membership != "removed" || tl[1].Record.ID != "c" {
		t.Errorf("timeline = %+v", tl)
	}
}

// A removal is state too: a later add without an old value is not
// completed with the removed one.
func TestExport_RemovedAttributeIsNotOldLater(t *testing.T) {
	r := open(t)
	u := rec("a", 0, "POST", schema.ResourceUser, "u1")
	u.IdPResourceID = "x"
	rm := rec("b", 1, "PATCH", schema.ResourceUser, "u1")
	rm.Changes = []schema.Change{{Op: "remove", Attribute: "externalId", Old: raw("x")}}
	ad := rec("c", 2, "PATCH", schema.ResourceUser, "u1")
	ad.IdPResourceID = "y"
	ad.Changes = []schema.Change{{Op: "add", Attribute: "externalId", New: raw("y")}}
	export(t, r, u, rm, ad)
	got, _, err := r.Request(t.Context(), "c")
	if err != nil || got.Changes[0].Old != nil || got.Changes[0].Op != "add" {
		t.Errorf("change = %+v, %v", got.Changes, err)
	}
	if ad.Changes[0].Old != nil {
		t.Error("Export changed the caller's record")
	}
}
