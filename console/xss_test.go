package console_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// TestConsole_StoredXSSFromRecordsIsEscaped: everything a record holds
// came from an IdP's request or the SCIM service's answer, so a hostile
// or compromised sender controls it. Every page must show it as text.
func TestConsole_StoredXSSFromRecordsIsEscaped(t *testing.T) {
	now := time.Now().UTC()
	const user, group = "xss-user-1", "xss-group-1"
	payloads := []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror=alert(2)>`,
		`"><svg onload=alert(3)>`,
		`javascript:alert(4)`,
		`</textarea></pre><script>alert(5)</script>`,
	}
	p := func(i int) string { return payloads[i%len(payloads)] }
	body, _ := json.Marshal(map[string]any{"displayName": p(0), "members": []map[string]string{{"value": p(1)}}})
	recs := []schema.Record{
		{
			ID: "0190cccc-0000-7000-8000-000000000001", Timestamp: now, IdPName: "okta", Action: http.MethodPost,
			ResourceType: schema.ResourceUser, UserEmail: p(2) + "@example.com", UserName: p(0), UserDisplayName: p(1),
			ResourceID: user, IdPResourceID: p(3), Outcome: schema.OutcomeSuccess, StatusCode: http.StatusCreated,
			Path: "/scim/v2/Users", UserAgent: p(4), Events: []string{"user.created"},
			Changes: []schema.Change{{Op: "replace", Attribute: p(0), Old: json.RawMessage(`"` + strings.ReplaceAll(p(1), `"`, `\"`) + `"`), New: json.RawMessage(`"</script><script>alert(6)</script>"`)}},
			Notes:   []string{p(4)},
		},
		{
			ID: "0190cccc-0000-7000-8000-000000000002", Timestamp: now.Add(time.Second), IdPName: "okta", Action: http.MethodPost,
			ResourceType: schema.ResourceGroup, GroupName: p(0), ResourceID: group, IdPResourceID: p(1),
			Outcome: schema.OutcomeSuccess, StatusCode: http.StatusCreated, Path: "/scim/v2/Groups", RequestBody: string(body),
			MembersAdded: []string{user, p(3)}, Events: []string{"group.created", "group.member_added"},
		},
		{
			ID: "0190cccc-0000-7000-8000-000000000003", Timestamp: now.Add(2 * time.Second), IdPName: "okta", Action: http.MethodPatch,
			ResourceType: schema.ResourceGroup, GroupName: p(0), ResourceID: group, Outcome: schema.OutcomeError,
			StatusCode: http.StatusBadRequest, ErrorDetail: p(1) + p(0), SCIMType: p(2), Path: "/scim/v2/Groups/" + group,
			RequestBody: `{"Operations":[{"op":"add","value":"<script>alert(7)</script>"}]}`,
		},
	}
	f := newFixtureWith(t, recs, nil)
	pages := []string{
		"/ui/requests", "/ui/requests?outcome=ERROR&group=" + strings.ReplaceAll(p(0), "<", "%3C"),
		"/ui/requests?email=%3Cscript%3Ealert(8)%3C%2Fscript%3E",
		"/ui/requests/" + recs[0].ID, "/ui/requests/" + recs[1].ID, "/ui/requests/" + recs[2].ID,
		"/ui/users/" + user, "/ui/groups/" + group, "/ui/users?q=%3Cscript", "/ui/groups?q=%3Cscript", "/ui/summary",
		"/ui/users?q=%3Cscript%3Ealert(9)%3C%2Fscript%3E",
	}
	for _, path := range pages {
		page := f.get(path, http.StatusOK)
		lacks(t, path, page, "<script>alert", "<img src=x", "<svg onload", `href="javascript:`, "</script><script>")
		// The only script is the console's own.
		if n := strings.Count(page, "<script"); n != 1 {
			t.Errorf("%s: %d script tags, want the console's one", path, n)
		}
	}
	contains(t, "the group's record", f.get("/ui/requests/"+recs[1].ID, http.StatusOK), "&lt;script&gt;alert(1)&lt;/script&gt;")
	contains(t, "the error list", f.get("/ui/requests?outcome=ERROR", http.StatusOK), `<span class="detail">&lt;img src=x onerror=alert(2)&gt;&lt;script&gt;alert(1)&lt;/script&gt;</span>`)

	// The API answers JSON that no browser runs as a page.
	resp, apiBody := f.do(http.MethodGet, "/api/v1/requests/"+recs[2].ID, asAdmin)
	if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || strings.Contains(apiBody, "<script>") {
		t.Errorf("API: %v %s", resp.Header, apiBody)
	}
}
