package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// apiPage is the JSON of GET /api/v1/requests.
type apiPage struct {
	Records []schema.Record `json:"records"`
	Next    string          `json:"next"`
}

func (f *fixture) apiPage(path string) apiPage {
	f.t.Helper()
	var p apiPage
	if err := json.Unmarshal([]byte(f.get(path, http.StatusOK)), &p); err != nil {
		f.t.Fatalf("%s: %v", path, err)
	}
	return p
}

// ids lists the records' ids.
func ids(recs []schema.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// want lists the ids of the fixture's records matching ok, newest first,
// as the registry orders them (records taken in order, timestamps rising).
func (f *fixture) want(ok func(schema.Record) bool) []string {
	var out []string
	for _, r := range slices.Backward(f.recs) {
		if ok(r) {
			out = append(out, r.ID)
		}
	}
	return out
}

// rowIDs are the record ids the list page links to, in order.
var rowLink = regexp.MustCompile(`<td class="time"><a href="/ui/requests/([^"]+)"`)

func rowIDs(page string) []string {
	var out []string
	for _, m := range rowLink.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestConsole_FilterNarrowsTheList(t *testing.T) {
	f := newFixture(t)
	micros := func(t time.Time) int64 { return t.UnixMicro() }
	from, to := f.recs[5].Timestamp, f.recs[12].Timestamp
	cases := []struct {
		name  string
		query []string
		ok    func(schema.Record) bool
	}{
		{"everything", nil, func(schema.Record) bool { return true }},
		{"errors", []string{"outcome", "ERROR"}, func(r schema.Record) bool { return r.Outcome == schema.OutcomeError }},
		{"successes, any case", []string{"outcome", "success"}, func(r schema.Record) bool { return r.Outcome == schema.OutcomeSuccess }},
		{"idp", []string{"idp", "entra"}, func(r schema.Record) bool { return r.IdPName == "entra" }},
		{"action", []string{"action", "patch"}, func(r schema.Record) bool { return r.Action == http.MethodPatch }},
		{"resource type", []string{"resource_type", "GROUP"}, func(r schema.Record) bool { return r.ResourceType == schema.ResourceGroup }},
		{"email, any case", []string{"email", "Alice@Example.com"}, func(r schema.Record) bool { return r.UserEmail == "alice@example.com" }},
		{"group", []string{"group", "sales"}, func(r schema.Record) bool { return r.GroupName == "Sales" }},
		{"resource id", []string{"resource_id", f.ids["alice"]}, func(r schema.Record) bool { return r.ResourceID == f.ids["alice"] }},
		{"IdP's resource id, the 409 included", []string{"resource_id", "00u1a2b3c4d5E6F7g8h9"}, func(r schema.Record) bool { return r.IdPResourceID == "00u1a2b3c4d5E6F7g8h9" }},
		{"time range", []string{"from", from.Format(time.RFC3339Nano), "to", to.Format(time.RFC3339Nano)}, func(r schema.Record) bool {
			return micros(r.Timestamp) >= micros(from) && micros(r.Timestamp) < micros(to)
		}},
		{"combined", []string{"idp", "okta", "resource_type", "USER", "action", "PATCH"}, func(r schema.Record) bool {
			return r.IdPName == "okta" && r.ResourceType == schema.ResourceUser && r.Action == http.MethodPatch
		}},
		{"nothing", []string{"email", "nobody@example.com"}, func(schema.Record) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := f.want(c.ok)
			if c.name != "everything" && (len(want) == 0) != (c.name == "nothing") || len(want) == len(f.recs) && c.name != "everything" {
				t.Fatalf("the case selects %d of %d records: it tests nothing", len(want), len(f.recs))
			}
			api := f.apiPage(query("/api/v1/requests", append(c.query, "limit", "1000")...))
			if got := ids(api.Records); !slices.Equal(got, want) {
				t.Errorf("API: got %d records %v\nwant %d %v", len(got), got, len(want), want)
			}
			page := f.get(query("/ui/requests", append(c.query, "limit", "1000")...), http.StatusOK)
			if got := rowIDs(page); !slices.Equal(got, want) {
				t.Errorf("page: got %d rows, want %d", len(got), len(want))
			}
		})
	}
}

func TestConsole_ErrorRowStandsOut(t *testing.T) {
	f := newFixture(t)
	conflict := f.find(func(r schema.Record) bool { return r.StatusCode == http.StatusConflict })
	page := f.get("/ui/requests?outcome=ERROR", http.StatusOK)
	if got := rowIDs(page); !slices.Equal(got, []string{conflict.ID}) {
		t.Fatalf("rows %v, want only the 409 %s", got, conflict.ID)
	}
	contains(t, "the error list", page,
		`<tr class="error">`,
		`<span class="detail">`+html.EscapeString(conflict.ErrorDetail)+`</span>`,
		`<span class="outcome bad">ERROR</span> 409`)
	// The filter form shows what is in force.
	contains(t, "the error list", page, `<option selected>ERROR</option>`)
	all := f.get("/ui/requests", http.StatusOK)
	if n := strings.Count(all, `<tr class="error">`); n != 1 {
		t.Errorf("%d error rows in the whole list, want 1", n)
	}
	contains(t, "the whole list", all, "user.created", "&#43;2 members", "-1 member", "group.renamed")
}

func TestConsole_BadFilterSaysWhichParameter(t *testing.T) {
	f := newFixture(t)
	for param, value := range map[string]string{
		"outcome":       "MAYBE",
		"resource_type": "ROBOT",
		"action":        "P0ST",
		"from":          "yesterday",
		"to":            "2026-13-01",
		"limit":         "0",
		"after":         "not-a-cursor",
	} {
		resp, body := f.do(http.MethodGet, query("/api/v1/requests", param, value), asAdmin)
		var e struct{ Error string }
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, `"`+param+`"`) {
			t.Errorf("API %s=%s: %d %s, want 400 naming %q", param, value, resp.StatusCode, body, param)
		}
		resp, body = f.do(http.MethodGet, query("/ui/requests", param, value), asAdmin)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `class="alert"`) || !strings.Contains(body, "&#34;"+param+"&#34;") {
			t.Errorf("page %s=%s: %d, want 400 with an alert naming it", param, value, resp.StatusCode)
		}
	}
	resp, body := f.do(http.MethodGet, query("/api/v1/requests", "from", "2026-01-02T00:00:00Z", "to", "2026-01-01T00:00:00Z"), asAdmin)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "from") {
		t.Errorf("from after to: %d %s", resp.StatusCode, body)
	}
}

func TestConsole_DateTimeLocalIsUTC(t *testing.T) {
	f := newFixture(t)
	first, last := f.recs[0].Timestamp.UTC(), f.recs[len(f.recs)-1].Timestamp.UTC()
	// The form's inputs have minute or second precision and no zone.
	before := first.Truncate(time.Minute).Format("2006-01-02T15:04")
	after := last.Add(time.Minute).Format("2006-01-02T15:04")
	if got := rowIDs(f.get(query("/ui/requests", "from", before, "to", after, "limit", "1000"), http.StatusOK)); len(got) != len(f.recs) {
		t.Errorf("from %s to %s: %d rows, want all %d", before, after, len(got), len(f.recs))
	}
	if got := rowIDs(f.get(query("/ui/requests", "from", after), http.StatusOK)); len(got) != 0 {
		t.Errorf("from %s: %d rows, want none", after, len(got))
	}
	page := f.get(query("/ui/requests", "from", before), http.StatusOK)
	contains(t, "the form", page, `name="from" value="`+first.Truncate(time.Minute).Format("2006-01-02T15:04:05")+`"`)
}

func TestConsole_PagingWalksEveryRecordOnce(t *testing.T) {
	f := newFixture(t)
	// The API, following "next".
	var got []string
	var last time.Time
	for path, pages := "/api/v1/requests?limit=4", 0; path != ""; pages++ {
		if pages > len(f.recs) {
			t.Fatal("the cursor does not end")
		}
		p := f.apiPage(path)
		if len(p.Records) > 4 {
			t.Fatalf("page of %d", len(p.Records))
		}
		for _, r := range p.Records {
			if !last.IsZero() && r.Timestamp.After(last) {
				t.Errorf("%s is newer than the record before it", r.ID)
			}
			last = r.Timestamp
		}
		got = append(got, ids(p.Records)...)
		path = ""
		if p.Next != "" {
			path = query("/api/v1/requests", "limit", "4", "after", p.Next)
		}
	}
	if want := f.want(func(schema.Record) bool { return true }); !slices.Equal(got, want) {
		t.Errorf("API walk: %d records %v, want %d %v", len(got), got, len(want), want)
	}

	// The pages, following "Older →", which keeps the filters.
	older := regexp.MustCompile(`<a href="([^"]+)" rel="next">Older →</a>`)
	got = nil
	path := "/ui/requests?idp=okta&limit=5"
	for pages := 0; path != ""; pages++ {
		if pages > len(f.recs) {
			t.Fatal("the Older links do not end")
		}
		page := f.get(path, http.StatusOK)
		got = append(got, rowIDs(page)...)
		path = ""
		if m := older.FindStringSubmatch(page); m != nil {
			path = html.UnescapeString(m[1])
			contains(t, "the Older link", path, "idp=okta", "limit=5", "after=")
			contains(t, "a later page", f.get(path, http.StatusOK), "← Newest")
		}
	}
	if want := f.want(func(r schema.Record) bool { return r.IdPName == "okta" }); !slices.Equal(got, want) {
		t.Errorf("page walk: %d rows, want %d", len(got), len(want))
	}
}

func TestConsole_DetailShowsOldNewBodyAndLinks(t *testing.T) {
	f := newFixture(t)
	put := f.find(func(r schema.Record) bool { return r.Action == http.MethodPut })
	page := f.get("/ui/requests/"+put.ID, http.StatusOK)
	contains(t, "the PUT's page", page,
		// Every field, labelled as the provisioning-log console does.
		`<dt title="idp_name">IdP name</dt><dd>okta</dd>`,
		`<dt title="user_email">User email</dt><dd>alice@example.com</dd>`,
		`<dt title="idp_resource_id">IdP resource ID</dt><dd>00u1a2b3c4d5E6F7g8h9</dd>`,
		`<dt title="user_agent">User agent</dt><dd>Okta SCIM Client 1.0.0</dd>`,
		`<dt title="user_display_name">User display name</dt><dd>Alice Kingsleigh</dd>`,
		`<dt title="outcome">Outcome</dt><dd>SUCCESS</dd>`,
		// The change, old → new.
		`<td class="attr">displayName</td><td>replace</td><td class="old">&#34;Alice Liddell&#34;</td><td class="arrow">→</td><td class="new">&#34;Alice Kingsleigh&#34;</td>`,
		// The body, indented.
		"{\n  &#34;active&#34;: true,\n  &#34;displayName&#34;: &#34;Alice Kingsleigh&#34;,",
		// Links to the user, its history, and the record's JSON to copy.
		`<a href="/ui/users/`+f.ids["alice"]+`">Open the user</a>`,
		`<a href="/ui/requests?resource_id=`+f.ids["alice"]+`">`,
		`<pre class="code" id="record-json">{
  &#34;id&#34;: &#34;`+put.ID+`&#34;,`,
		`<button type="button" class="copy" data-copy="record-json">Copy</button>`,
		`<script src="/ui/static/console.js" defer></script>`,
	)

	// A change whose value before is unknown shows "—".
	entra := f.find(func(r schema.Record) bool {
		return r.IdPName == "entra" && r.Action == http.MethodPatch && len(r.Changes) > 1
	})
	contains(t, "the Entra PATCH's page", f.get("/ui/requests/"+entra.ID, http.StatusOK),
		`<td class="attr">urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber</td><td>replace</td><td class="none">—</td><td class="arrow">→</td><td class="new">&#34;2001&#34;</td>`,
		`<td class="attr">name</td><td>replace</td><td class="old">&#34;Dana Scully&#34;</td><td class="arrow">→</td><td class="new">&#34;Danielle Scully-Mulder&#34;</td>`,
		`<td class="attr">emails</td><td>replace</td><td class="old">&#34;dana@contoso.com&#34;</td><td class="arrow">→</td><td class="new">&#34;dana.scully@contoso.com&#34;</td>`)

	// Members, resolved to e-mails, with links to the users.
	add := f.find(func(r schema.Record) bool { return r.GroupName == "Sales" && len(r.MembersAdded) == 2 })
	page = f.get("/ui/requests/"+add.ID, http.StatusOK)
	contains(t, "the member add's page", page,
		`<h2>Members added</h2>`,
		`<a href="/ui/users/`+f.ids["erin"]+`">erin@contoso.com</a>`,
		`<a href="/ui/users/`+f.ids["dana"]+`">dana.scully@contoso.com</a>`,
		`<a href="/ui/groups/`+f.ids["sales"]+`">Open the group</a>`)

	// The 409: its error, and no link to a user it did not create.
	conflict := f.find(func(r schema.Record) bool { return r.StatusCode == http.StatusConflict })
	page = f.get("/ui/requests/"+conflict.ID, http.StatusOK)
	contains(t, "the 409's page", page, `<p class="errorbox">`, "already exists", "(uniqueness)", `<a href="/ui/requests?resource_id=00u1a2b3c4d5E6F7g8h9">`)
	lacks(t, "the 409's page", page, "Open the user")
}

func TestConsole_EgressLinksCarryTheDestination(t *testing.T) {
	egress := schema.Record{
		ID: "0190aaaa-0000-7000-8000-0000000000e1", Timestamp: time.Now().UTC(), IdPName: "hr-sync", Action: http.MethodPost,
		ResourceType: schema.ResourceUser, UserEmail: "frank@example.com", UserName: "frank@example.com",
		ResourceID: "saas-42", Outcome: schema.OutcomeSuccess, StatusCode: http.StatusCreated,
		Direction: schema.DirectionEgress, DestinationHost: "api.saas.example", Path: "/scim/v2/Users",
		Events: []string{"user.created"},
	}
	f := newFixture(t, egress)
	link := `/ui/users/saas-42?destination=api.saas.example`
	contains(t, "the list", f.get("/ui/requests?idp=hr-sync", http.StatusOK), `<a href="`+html.EscapeString(link)+`">frank@example.com</a>`)
	contains(t, "the detail", f.get("/ui/requests/"+egress.ID, http.StatusOK), `<a href="`+html.EscapeString(link)+`">Open the user</a>`)
	contains(t, "the user", f.get(link, http.StatusOK), "frank@example.com", "<dt>Destination</dt><dd>api.saas.example</dd>")
	// Ids are unique per destination only: without it, no such user.
	f.get("/ui/users/saas-42", http.StatusNotFound)
}

// TestConsole_NeverShowsPasswords walks every page and download of the
// fixture: the cycles sent passwords, which the proxy redacted; the
// console shows only what was recorded.
func TestConsole_NeverShowsPasswords(t *testing.T) {
	f := newFixture(t)
	paths := []string{"/ui/requests?limit=1000", "/api/v1/requests?limit=1000", "/api/v1/requests?format=csv", "/api/v1/requests?format=ndjson"}
	for _, r := range f.recs {
		paths = append(paths, "/ui/requests/"+r.ID, "/api/v1/requests/"+r.ID)
	}
	for _, id := range f.ids {
		paths = append(paths, "/ui/users/"+id, "/ui/groups/"+id, "/api/v1/users/"+id, "/api/v1/groups/"+id)
	}
	for _, p := range paths {
		resp, body := f.do(http.MethodGet, p, asAdmin)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		lacks(t, p, body, "Pa55word", oktaToken, entraToken)
	}
}
