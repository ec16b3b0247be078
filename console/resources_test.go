package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

func TestConsole_UserPageShowsIdentityGroupsAndTimeline(t *testing.T) {
	f := newFixture(t)
	dana := f.ids["dana"]
	page := f.get("/ui/users/"+dana, http.StatusOK)
	contains(t, "dana's page", page,
		`<dt>User name</dt><dd>dana@contoso.com</dd>`,
		`<dt>Email</dt><dd>dana.scully@contoso.com</dd>`,
		`<dt>IdP resource ID</dt><dd>dana</dd>`,
		`<dt>Active</dt><dd>no</dd>`,
		`<dt>Deleted</dt><dd>yes</dd>`,
		`<dt>IdP</dt><dd>entra</dd>`,
		`<span class="tag bad">deleted</span>`,
		`In no group.`,
		// The timeline: its own records and the group's, with old → new.
		"user.deleted", "user.deactivated", "user.updated", "user.created",
		`<span class="attr">active</span> <span class="old">true</span> → <span class="new">false</span>`,
		`<span class="attr">emails</span> <span class="old">&#34;dana@contoso.com&#34;</span> → <span class="new">&#34;dana.scully@contoso.com&#34;</span>`,
		`added to <a href="/ui/groups/`+f.ids["sales"]+`">Sales</a>`,
		`removed from <a href="/ui/groups/`+f.ids["sales"]+`">Sales</a>`,
		`<a href="/ui/requests?resource_id=`+dana+`">Every request about this user</a>`,
	)
	// Newest first: the deletion before the creation.
	if strings.Index(page, "user.deleted") > strings.Index(page, "user.created") {
		t.Error("the timeline is not newest first")
	}
	// Each entry links to its record.
	for _, r := range f.recs {
		if r.ResourceID == dana && r.Action != http.MethodGet {
			contains(t, "dana's timeline", page, `href="/ui/requests/`+r.ID+`"`)
		}
	}

	erin := f.get("/ui/users/"+f.ids["erin"], http.StatusOK)
	contains(t, "erin's page", erin, `<a href="/ui/groups/`+f.ids["sales"]+`">Sales</a>`, `<dt>Active</dt><dd>yes</dd>`)

	// Okta's alice: renamed, the conflict on her e-mail, deactivated.
	alice := f.get("/ui/users/"+f.ids["alice"], http.StatusOK)
	contains(t, "alice's page", alice, `<span class="attr">name</span> <span class="old">&#34;Alice Liddell&#34;</span> → <span class="new">&#34;Alice Kingsleigh&#34;</span>`,
		`<dt>IdP</dt><dd>okta</dd>`, `<span class="tag bad">inactive</span>`)

	f.get("/ui/users/no-such-user", http.StatusNotFound)
}

func TestConsole_GroupPageResolvesMembers(t *testing.T) {
	f := newFixture(t)
	sales := f.ids["sales"]
	page := f.get("/ui/groups/"+sales, http.StatusOK)
	contains(t, "the Sales page", page,
		`<h1>Sales</h1>`,
		`<dt>IdP resource ID</dt><dd>8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159</dd>`,
		`<dt>Members</dt><dd>1</dd>`,
		// The current member, resolved.
		`<td><a href="/ui/users/`+f.ids["erin"]+`">erin@contoso.com</a></td><td>erin@contoso.com</td>`,
		// The history, with members added and removed resolved.
		`<li>+ <a href="/ui/users/`+f.ids["dana"]+`">dana.scully@contoso.com</a></li>`,
		`<li>+ <a href="/ui/users/`+f.ids["erin"]+`">erin@contoso.com</a></li>`,
		`<li>− <a href="/ui/users/`+f.ids["dana"]+`">dana.scully@contoso.com</a></li>`,
		"group.created", "group.member_added", "group.member_removed",
	)
	eng := f.get("/ui/groups/"+f.ids["eng"], http.StatusOK)
	contains(t, "the Engineering page", eng, "Platform Engineering", `<span class="tag bad">deleted</span>`,
		`<span class="attr">displayName</span> <span class="old">&#34;Engineering&#34;</span> → <span class="new">&#34;Platform Engineering&#34;</span>`,
		`<a href="/ui/users/`+f.ids["bob"]+`">bob@example.com</a>`)
	f.get("/ui/groups/no-such-group", http.StatusNotFound)
}

func TestConsole_SearchFindsByPrefix(t *testing.T) {
	f := newFixture(t)
	page := f.get("/ui/users?q=ALI", http.StatusOK)
	contains(t, "users ALI", page, `<a href="/ui/users/`+f.ids["alice"]+`">alice@example.com</a>`, `value="ALI"`)
	lacks(t, "users ALI", page, "bob@example.com")
	contains(t, "users zz", f.get("/ui/users?q=zz", http.StatusOK), "No user found.")
	contains(t, "all users", f.get("/ui/users", http.StatusOK), "alice@example.com", "bob@example.com", "erin@contoso.com")

	page = f.get("/ui/groups?q=sal", http.StatusOK)
	contains(t, "groups sal", page, `<a href="/ui/groups/`+f.ids["sales"]+`">Sales</a>`)
	lacks(t, "groups sal", page, "Platform Engineering")
}

func TestConsole_SummaryChartsRequestsPerIdP(t *testing.T) {
	f := newFixture(t)
	page := f.get("/ui/summary", http.StatusOK)
	contains(t, "the summary", page,
		`<svg viewBox="0 0 960 220" role="img"`,
		`<rect class="s0"`, `<rect class="s1"`, `<rect class="e"`,
		`<i class="sw s0"></i>entra`, `<i class="sw s1"></i>okta`, `<i class="sw e"></i>errors (all IdPs)`,
		`<span class="n">26</span> requests`, `<span class="n">1</span> failed`,
		"already exists",
		`<a href="/ui/summary?range=24h" class="on" aria-current="true">24h</a>`,
	)
	// The top error links to the list of errors of its IdP in the range.
	m := regexp.MustCompile(`<tr class="error"><td><a href="([^"]+)" class="detail">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no top error row")
	}
	link := html.UnescapeString(m[1])
	contains(t, "the top error's link", link, "outcome=ERROR", "idp=okta", "from=")
	if got := rowIDs(f.get(link, http.StatusOK)); len(got) != 1 {
		t.Errorf("the top error's link lists %d rows, want 1", len(got))
	}
	// The inline SVG has no script or style: the CSP would block them.
	lacks(t, "the summary", page, "style=", "<script>", "onload")

	contains(t, "7 days", f.get("/ui/summary?range=7d", http.StatusOK), `class="on" aria-current="true">7d</a>`)
	f.get("/ui/summary?range=1y", http.StatusBadRequest)

	var s registry.Summary
	if err := json.Unmarshal([]byte(f.get("/api/v1/summary?range=30d", http.StatusOK)), &s); err != nil {
		t.Fatal(err)
	}
	if s.Totals.Success != 25 || s.Totals.Error != 1 || len(s.IdPs) != 2 || s.To.Sub(s.From) < 29*24*time.Hour {
		t.Errorf("summary %+v", s)
	}
}

func TestConsole_JSONAPIShapes(t *testing.T) {
	f := newFixture(t)
	decode := func(path string) map[string]any {
		t.Helper()
		resp, body := f.do(http.MethodGet, path, bearer(testToken))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	keys := func(path string, m map[string]any, want ...string) {
		t.Helper()
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks %q: %v", path, k, m)
			}
		}
	}

	p := decode("/api/v1/requests?limit=2")
	keys("requests", p, "records", "next")
	if recs := p["records"].([]any); len(recs) != 2 || p["next"] == "" {
		t.Errorf("requests: %d records, next %q", len(recs), p["next"])
	}
	p = decode("/api/v1/requests?email=nobody@example.com")
	if recs, ok := p["records"].([]any); !ok || len(recs) != 0 || p["next"] != "" {
		t.Errorf("an empty list is [] with no next: %v", p)
	}

	rec := f.recs[1]
	var got schema.Record
	if err := json.Unmarshal([]byte(f.get("/api/v1/requests/"+rec.ID, http.StatusOK)), &got); err != nil || got.ID != rec.ID || got.RequestBody != rec.RequestBody {
		t.Errorf("request %s: %+v %v", rec.ID, got, err)
	}

	u := decode("/api/v1/users/" + f.ids["erin"])
	keys("user", u, "id", "email", "user_name", "idp", "first_seen", "last_seen", "groups", "timeline")
	if g := u["groups"].([]any); len(g) != 1 || g[0].(map[string]any)["name"] != "Sales" {
		t.Errorf("erin's groups %v", g)
	}
	timeline := u["timeline"].([]any)
	if len(timeline) == 0 {
		t.Fatal("erin's timeline is empty")
	}
	keys("timeline entry", timeline[0].(map[string]any), "record")
	if _, err := time.Parse(time.RFC3339, u["last_seen"].(string)); err != nil {
		t.Errorf("last_seen is not RFC 3339: %v", err)
	}

	g := decode("/api/v1/groups/" + f.ids["sales"])
	keys("group", g, "id", "name", "external_id", "members", "timeline")
	if m := g["members"].([]any); len(m) != 1 || m[0].(map[string]any)["email"] != "erin@contoso.com" {
		t.Errorf("Sales members %v", m)
	}

	if us := decode("/api/v1/users?q=dana")["users"].([]any); len(us) != 1 {
		t.Errorf("users?q=dana: %v", us)
	}
	if gs := decode("/api/v1/groups?q=s")["groups"].([]any); len(gs) != 1 {
		t.Errorf("groups?q=s: %v", gs)
	}
	if idps := decode("/api/v1/idps")["idps"].([]any); len(idps) != 2 || idps[0] != "entra" || idps[1] != "okta" {
		t.Errorf("idps %v", idps)
	}
	keys("summary", decode("/api/v1/summary"), "from", "to", "buckets", "idps", "top_errors", "totals")

	for _, path := range []string{"/api/v1/requests/nope", "/api/v1/users/nope", "/api/v1/groups/nope", "/api/v1/nope"} {
		resp, body := f.do(http.MethodGet, path, bearer(testToken))
		var e map[string]string
		if resp.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e["error"] == "" {
			t.Errorf("%s: %d %s, want a 404 {\"error\":…}", path, resp.StatusCode, body)
		}
	}
}

// TestConsole_InternalErrorsAreNotEchoed closes the registry under the
// console: the answer is a plain 500, the cause goes to the log.
func TestConsole_InternalErrorsAreNotEchoed(t *testing.T) {
	f := newFixture(t)
	f.reg.Close()
	for _, path := range []string{"/api/v1/requests", "/ui/requests", "/ui/users/" + f.ids["alice"], "/api/v1/summary", "/api/v1/requests?format=csv"} {
		resp, body := f.do(http.MethodGet, path, asAdmin)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: %d, want 500", path, resp.StatusCode)
		}
		lacks(t, path, body, "sql", "registry", "closed")
	}
	contains(t, "the log", f.logs.String(), "console: request failed", "sql")
}
