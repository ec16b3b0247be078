package scimtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "s3cret-token"

// client talks to one test server with the test token.
type client struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

func newTestServer(t *testing.T, opts Options) (*Backend, *client) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	}
	b := NewBackend(opts)
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, &client{t: t, srv: srv, token: opts.Token}
}

// do sends a request and decodes the JSON response body, if any.
func (c *client) do(method, path, body string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var doc map[string]any
	if len(data) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			c.t.Fatalf("%s %s: Content-Type %q, want %q", method, path, ct, ContentType)
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			c.t.Fatalf("%s %s: response is not JSON: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, doc, resp.Header
}

// mustDo is do that fails the test unless the status is want.
func (c *client) mustDo(method, path, body string, want int) map[string]any {
	c.t.Helper()
	status, doc, _ := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, doc)
	}
	return doc
}

func (c *client) createUser(userName string) string {
	c.t.Helper()
	doc := c.mustDo("POST", "/scim/v2/Users", fmt.Sprintf(`{"userName":%q,"displayName":"D %s","emails":[{"type":"work","value":%q,"primary":true}],"active":true}`, userName, userName, userName), http.StatusCreated)
	return doc["id"].(string)
}

func (c *client) createGroup(name string, members ...string) string {
	c.t.Helper()
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf(`{"value":%q}`, m))
	}
	doc := c.mustDo("POST", "/scim/v2/Groups", fmt.Sprintf(`{"displayName":%q,"members":[%s]}`, name, strings.Join(ms, ",")), http.StatusCreated)
	return doc["id"].(string)
}

func assertSCIMError(t *testing.T, doc map[string]any, status int, scimType string) {
	t.Helper()
	if got := doc["schemas"]; !reflect.DeepEqual(got, []any{schemaError}) {
		t.Errorf("error schemas = %v", got)
	}
	if got := doc["status"]; got != fmt.Sprint(status) {
		t.Errorf("error status = %v, want %q", got, fmt.Sprint(status))
	}
	if got, _ := doc["scimType"].(string); got != scimType {
		t.Errorf("scimType = %q, want %q (detail %v)", got, scimType, doc["detail"])
	}
}

func memberIDs(g map[string]any) []string {
	ids := []string{}
	ms, _ := g["members"].([]any)
	for _, m := range ms {
		ids = append(ids, m.(map[string]any)["value"].(string))
	}
	return ids
}

func TestBackend_RejectsMissingOrWrongToken(t *testing.T) {
	b, c := newTestServer(t, Options{Token: testToken})
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, testToken, "Bearer " + testToken + "x"} {
		req, _ := http.NewRequest("POST", c.srv.URL+"/scim/v2/Users", strings.NewReader(`{"userName":"x@example.com"}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
		assertSCIMError(t, doc, http.StatusUnauthorized, "")
	}
	if n := len(b.Users()); n != 0 {
		t.Fatalf("unauthorised requests created %d users", n)
	}
	if n := len(b.Requests()); n != 5 {
		t.Fatalf("recorded %d requests, want 5 (rejected ones are recorded too)", n)
	}
	c.mustDo("GET", "/scim/v2/ServiceProviderConfig", "", http.StatusOK)
}

func TestBackend_CreateAndGet(t *testing.T) {
	b, c := newTestServer(t, Options{BasePath: "/scim/v2"})
	status, doc, h := c.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@example.com","password":"hunter2","groups":[],"id":"client-chosen","externalId":"ext-1","active":"True","n":12345678901234567890}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, doc)
	}
	id := doc["id"].(string)
	if id == "client-chosen" || id == "" {
		t.Fatalf("id = %q, want a server-assigned id", id)
	}
	wantLoc := "/scim/v2/Users/" + id
	if h.Get("Location") != wantLoc || h.Get("ETag") != `W/"1"` {
		t.Errorf("Location %q ETag %q, want %q and W/\"1\"", h.Get("Location"), h.Get("ETag"), wantLoc)
	}
	meta := doc["meta"].(map[string]any)
	wantMeta := map[string]any{"resourceType": "User", "created": "2025-01-02T03:04:05Z", "lastModified": "2025-01-02T03:04:05Z", "location": wantLoc, "version": `W/"1"`}
	if !reflect.DeepEqual(meta, wantMeta) {
		t.Errorf("meta = %v, want %v", meta, wantMeta)
	}
	if _, ok := doc["password"]; ok {
		t.Error("response contains the password")
	}
	if _, ok := doc["groups"]; ok {
		t.Error("response echoes the readOnly groups attribute")
	}
	if doc["active"] != true {
		t.Errorf("active = %v, want true (coerced from \"True\")", doc["active"])
	}
	got := c.mustDo("GET", "/scim/v2/Users/"+id, "", http.StatusOK)
	if !reflect.DeepEqual(got, doc) {
		t.Errorf("GET = %v, want the created resource %v", got, doc)
	}
	raw, _ := json.Marshal(b.Users())
	if strings.Contains(string(raw), "hunter2") {
		t.Error("stored users contain the password")
	}
	if !strings.Contains(string(raw), "12345678901234567890") {
		t.Errorf("large number not kept exactly: %s", raw)
	}
}

func TestBackend_LocationFollowsRequestPrefixWithoutBasePath(t *testing.T) {
	_, c := newTestServer(t, Options{})
	_, doc, h := c.do("POST", "/scim/entra/Users", `{"userName":"e@example.com"}`)
	want := "/scim/entra/Users/" + doc["id"].(string)
	if h.Get("Location") != want {
		t.Errorf("Location = %q, want %q", h.Get("Location"), want)
	}
	// The same store answers under any prefix and at the root.
	c.mustDo("GET", "/scim/v2/Users/"+doc["id"].(string), "", http.StatusOK)
	c.mustDo("GET", "/Users/"+doc["id"].(string), "", http.StatusOK)
}

func TestBackend_Conflicts(t *testing.T) {
	_, c := newTestServer(t, Options{})
	c.createUser("alice@example.com")
	bob := c.createUser("bob@example.com")
	status, doc, _ := c.do("POST", "/scim/v2/Users", `{"userName":"ALICE@example.com"}`)
	if status != http.StatusConflict {
		t.Fatalf("duplicate userName: status %d, want 409", status)
	}
	assertSCIMError(t, doc, http.StatusConflict, "uniqueness")
	if d := doc["detail"].(string); !strings.Contains(d, "User with userName") || !strings.Contains(d, "already exists") {
		t.Errorf("detail = %q", d)
	}
	// Renaming bob onto alice conflicts too, and leaves bob unchanged.
	_, doc, _ = c.do("PATCH", "/scim/v2/Users/"+bob, `{"Operations":[{"op":"replace","path":"userName","value":"alice@example.com"}]}`)
	assertSCIMError(t, doc, http.StatusConflict, "uniqueness")
	if got := c.mustDo("GET", "/scim/v2/Users/"+bob, "", 200)["userName"]; got != "bob@example.com" {
		t.Errorf("bob renamed to %v after a failed PATCH", got)
	}
	c.createGroup("Eng")
	_, doc, _ = c.do("POST", "/scim/v2/Groups", `{"displayName":"eng"}`)
	assertSCIMError(t, doc, http.StatusConflict, "uniqueness")
}

func TestBackend_UnknownIDIs404(t *testing.T) {
	_, c := newTestServer(t, Options{})
	for _, ep := range []string{"Users", "Groups"} {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			status, doc, _ := c.do(m, "/scim/v2/"+ep+"/nope", `{"userName":"x","displayName":"x","Operations":[{"op":"add","path":"title","value":"x"}]}`)
			if status != http.StatusNotFound {
				t.Errorf("%s %s/nope: status %d, want 404", m, ep, status)
				continue
			}
			assertSCIMError(t, doc, http.StatusNotFound, "")
		}
	}
}

func TestBackend_Routing(t *testing.T) {
	_, c := newTestServer(t, Options{})
	id := c.createUser("a@example.com")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/scim/v2/Bogus"},
		{"GET", "/scim/v2/Users/" + id + "/extra"},
		{"GET", "/"},
	} {
		status, doc, _ := c.do(tc.method, tc.path, "")
		if status != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404", tc.method, tc.path, status)
		}
		assertSCIMError(t, doc, http.StatusNotFound, "")
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/scim/v2/Users", "GET, POST"},
		{"PUT", "/scim/v2/Groups", "GET, POST"},
		{"POST", "/scim/v2/Users/" + id, "GET, PUT, PATCH, DELETE"},
		{"POST", "/scim/v2/ServiceProviderConfig", "GET"},
	} {
		status, doc, h := c.do(tc.method, tc.path, "")
		if status != http.StatusMethodNotAllowed || h.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d Allow %q, want 405 %q", tc.method, tc.path, status, h.Get("Allow"), tc.allow)
		}
		assertSCIMError(t, doc, http.StatusMethodNotAllowed, "")
	}
	spc := c.mustDo("GET", "/scim/v2/ServiceProviderConfig", "", http.StatusOK)
	if spc["patch"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig = %v", spc)
	}
}

func TestBackend_BadRequests(t *testing.T) {
	_, c := newTestServer(t, Options{})
	u := c.createUser("a@example.com")
	for _, tc := range []struct {
		name, method, path, body, scimType string
	}{
		{"malformed JSON", "POST", "/Users", `{"userName":`, "invalidSyntax"},
		{"not an object", "POST", "/Users", `["x"]`, "invalidSyntax"},
		{"missing userName", "POST", "/Users", `{"displayName":"x"}`, "invalidSyntax"},
		{"missing displayName", "POST", "/Groups", `{"members":[]}`, "invalidSyntax"},
		{"member without value", "POST", "/Groups", `{"displayName":"g","members":[{"display":"x"}]}`, "invalidValue"},
		{"active not boolean", "PUT", "/Users/" + u, `{"userName":"a@example.com","active":"maybe"}`, "invalidValue"},
		{"no operations", "PATCH", "/Users/" + u, `{"schemas":["` + schemaPatchOp + `"]}`, "invalidSyntax"},
		{"unknown op", "PATCH", "/Users/" + u, `{"Operations":[{"op":"merge","path":"title","value":"x"}]}`, "invalidSyntax"},
		{"garbage path", "PATCH", "/Users/" + u, `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`, "invalidPath"},
		{"remove without path", "PATCH", "/Users/" + u, `{"Operations":[{"op":"remove"}]}`, "noTarget"},
		{"path-less non-object", "PATCH", "/Users/" + u, `{"Operations":[{"op":"replace","value":"x"}]}`, "invalidValue"},
		{"read-only id", "PATCH", "/Users/" + u, `{"Operations":[{"op":"replace","path":"id","value":"x"}]}`, "mutability"},
		{"sub-attribute of a string", "PATCH", "/Users/" + u, `{"Operations":[{"op":"replace","path":"userName.x","value":"x"}]}`, "invalidPath"},
		{"bad filter", "GET", "/Users?filter=userName%20eq", "", "invalidFilter"},
		{"bad count", "GET", "/Users?count=ten", "", "invalidValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, doc, _ := c.do(tc.method, "/scim/v2"+tc.path, tc.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %v", status, doc)
			}
			assertSCIMError(t, doc, http.StatusBadRequest, tc.scimType)
		})
	}
	if got := c.mustDo("GET", "/scim/v2/Users/"+u, "", 200)["meta"].(map[string]any)["version"]; got != `W/"1"` {
		t.Errorf("failed writes changed the user: version %v", got)
	}
}

func TestBackend_ListFilters(t *testing.T) {
	_, c := newTestServer(t, Options{})
	var ids []string
	for i := range 5 {
		ids = append(ids, c.createUser(fmt.Sprintf("user%d@example.com", i)))
	}
	c.mustDo("PATCH", "/scim/v2/Users/"+ids[3], `{"Operations":[{"op":"add","path":"externalId","value":"ext-3"}]}`, 200)
	g := c.createGroup("Sales", ids[0], ids[1])

	list := func(path string) (int, []string, map[string]any) {
		t.Helper()
		doc := c.mustDo("GET", path, "", http.StatusOK)
		if !reflect.DeepEqual(doc["schemas"], []any{schemaList}) {
			t.Errorf("%s: schemas %v", path, doc["schemas"])
		}
		var got []string
		for _, r := range doc["Resources"].([]any) {
			got = append(got, r.(map[string]any)["id"].(string))
		}
		return int(doc["totalResults"].(float64)), got, doc
	}
	for _, tc := range []struct {
		path  string
		total int
		want  []string
	}{
		{`/scim/v2/Users?filter=userName%20eq%20%22USER2@example.com%22`, 1, ids[2:3]},
		{`/scim/v2/Users?filter=userName+eq+%22nobody%22`, 0, nil},
		{`/scim/v2/Users?filter=externalId%20eq%20%22ext-3%22`, 1, ids[3:4]},
		{`/scim/v2/Users?filter=emails.value%20sw%20%22user4%22`, 1, ids[4:5]},
		{`/scim/v2/Users?startIndex=2&count=2`, 5, ids[1:3]},
		{`/scim/v2/Users?startIndex=5&count=10`, 5, ids[4:5]},
		{`/scim/v2/Users?startIndex=9`, 5, nil},
		{`/scim/v2/Users?count=0`, 5, nil},
		{`/scim/v2/Groups?filter=displayName%20eq%20%22sales%22`, 1, []string{g}},
	} {
		total, got, doc := list(tc.path)
		if total != tc.total || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: total %d ids %v, want %d %v", tc.path, total, got, tc.total, tc.want)
		}
		if int(doc["itemsPerPage"].(float64)) != len(tc.want) {
			t.Errorf("%s: itemsPerPage %v, want %d", tc.path, doc["itemsPerPage"], len(tc.want))
		}
	}

	_, _, doc := list(`/scim/v2/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Sales%22`)
	if r := doc["Resources"].([]any)[0].(map[string]any); r["members"] != nil || r["displayName"] != "Sales" {
		t.Errorf("excludedAttributes=members: %v", r)
	}
	one := c.mustDo("GET", "/scim/v2/Groups/"+g+"?excludedAttributes=members", "", 200)
	if _, ok := one["members"]; ok {
		t.Errorf("GET with excludedAttributes=members returned members: %v", one)
	}
	full := c.mustDo("GET", "/scim/v2/Groups/"+g, "", 200)
	if got := memberIDs(full); !reflect.DeepEqual(got, ids[:2]) {
		t.Errorf("members = %v, want %v", got, ids[:2])
	}
	if d := full["members"].([]any)[0].(map[string]any)["display"]; d != "D user0@example.com" {
		t.Errorf("member display = %v, want the user's displayName", d)
	}
}

func TestBackend_PatchShapes(t *testing.T) {
	type check func(t *testing.T, res map[string]any, ids []string)
	attr := func(path string, want any) check {
		return func(t *testing.T, res map[string]any, _ []string) {
			t.Helper()
			var cur any = res
			for _, p := range strings.Split(path, "/") {
				switch c := cur.(type) {
				case map[string]any:
					cur = c[p]
				case []any:
					var i int
					fmt.Sscan(p, &i)
					cur = c[i]
				}
			}
			if !reflect.DeepEqual(cur, want) {
				t.Errorf("%s = %#v, want %#v", path, cur, want)
			}
		}
	}
	members := func(idx ...int) check {
		return func(t *testing.T, res map[string]any, ids []string) {
			t.Helper()
			want := []string{}
			for _, i := range idx {
				want = append(want, ids[i])
			}
			if got := memberIDs(res); !reflect.DeepEqual(got, want) {
				t.Errorf("members = %v, want %v", got, want)
			}
		}
	}
	const ent = schemaEnterpriseUser
	for _, tc := range []struct {
		name   string
		group  bool
		ops    string // Operations array; {u0}.. {u2} are user ids
		checks []check
	}{
		{"entra string boolean", false, `[{"op":"Replace","path":"active","value":"False"}]`,
			[]check{attr("active", false)}},
		{"okta path-less replace", false, `[{"op":"replace","value":{"active":false}}]`,
			[]check{attr("active", false)}},
		{"dotted keys and URN key", false, `[{"op":"Replace","value":{"name.givenName":"X","name.familyName":"Y","` + ent + `:employeeNumber":"42"}}]`,
			[]check{attr("name/givenName", "X"), attr("name/familyName", "Y"), attr("name/formatted", "P Q"), attr(ent+"/employeeNumber", "42"), attr(ent+"/department", "Ops")}},
		{"URN path", false, `[{"op":"add","path":"` + ent + `:manager.value","value":"boss"}]`,
			[]check{attr(ent+"/manager/value", "boss"), attr(ent+"/department", "Ops")}},
		{"whole extension", false, `[{"op":"replace","path":"` + ent + `","value":{"costCenter":"7"}}]`,
			[]check{attr(ent+"/costCenter", "7"), attr(ent+"/department", "Ops")}},
		{"email filter add", false, `[{"op":"Add","path":"emails[type eq \"work\"].value","value":"new@example.com"}]`,
			[]check{attr("emails/0/value", "new@example.com"), attr("emails/0/type", "work"), attr("emails/1/value", "home@example.com")}},
		{"email filter creates missing element", false, `[{"op":"add","path":"emails[type eq \"other\"].value","value":"o@example.com"}]`,
			[]check{attr("emails/2", map[string]any{"type": "other", "value": "o@example.com"})}},
		{"remove filtered email", false, `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
			[]check{attr("emails/0/type", "work"), func(t *testing.T, r map[string]any, _ []string) {
				if n := len(r["emails"].([]any)); n != 1 {
					t.Errorf("%d emails left, want 1", n)
				}
			}}},
		{"remove attribute", false, `[{"op":"Remove","path":"title"}]`,
			[]check{attr("title", nil)}},
		{"password accepted, never stored", false, `[{"op":"replace","path":"password","value":"pw-123"}]`,
			[]check{attr("password", nil)}},
		{"okta member add", true, `[{"op":"add","path":"members","value":[{"value":"{u2}","display":"c"}]}]`,
			[]check{members(0, 1, 2), attr("members/2/display", "c")}},
		{"add existing member is idempotent", true, `[{"op":"add","path":"members","value":[{"value":"{u0}"}]}]`,
			[]check{members(0, 1)}},
		{"okta filtered member remove", true, `[{"op":"remove","path":"members[value eq \"{u0}\"]"}]`,
			[]check{members(1)}},
		{"entra member remove with value removes only those", true, `[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{u1}"}]}]`,
			[]check{members(0)}},
		{"remove all members", true, `[{"op":"remove","path":"members"}]`,
			[]check{members()}},
		{"replace members", true, `[{"op":"replace","path":"members","value":[{"value":"{u2}"}]}]`,
			[]check{members(2)}},
		{"okta rename with id", true, `[{"op":"replace","value":{"id":"{self}","displayName":"Renamed"}}]`,
			[]check{attr("displayName", "Renamed"), members(0, 1)}},
		{"entra add then remove in one request", true, `[{"op":"Add","path":"members","value":[{"value":"{u2}"}]},{"op":"Remove","path":"members","value":[{"value":"{u0}"}]}]`,
			[]check{members(1, 2)}},
	} {
		for _, noContent := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noContent=%v", tc.name, noContent), func(t *testing.T) {
				b, c := newTestServer(t, Options{PatchNoContent: noContent})
				var ids []string
				for i := range 3 {
					ids = append(ids, c.createUser(fmt.Sprintf("u%d@example.com", i)))
				}
				target := c.mustDo("POST", "/scim/v2/Users", `{"userName":"p@example.com","title":"T","name":{"givenName":"P","familyName":"Q","formatted":"P Q"},
					"emails":[{"type":"work","value":"w@example.com","primary":true},{"type":"home","value":"home@example.com"}],
					"`+ent+`":{"department":"Ops"}}`, 201)["id"].(string)
				ep := "Users"
				if tc.group {
					ep = "Groups"
					target = c.createGroup("G", ids[0], ids[1])
				}
				ops := strings.NewReplacer("{u0}", ids[0], "{u1}", ids[1], "{u2}", ids[2], "{self}", target).Replace(tc.ops)
				want := http.StatusOK
				if noContent {
					want = http.StatusNoContent
				}
				status, doc, h := c.do("PATCH", "/scim/v2/"+ep+"/"+target, `{"schemas":["`+schemaPatchOp+`"],"Operations":`+ops+`}`)
				if status != want || (noContent && doc != nil) || h.Get("ETag") != `W/"2"` {
					t.Fatalf("status %d body %v ETag %q, want %d, no body when 204, W/\"2\"", status, doc, h.Get("ETag"), want)
				}
				var stored map[string]any
				all := b.Users()
				if tc.group {
					all = b.Groups()
				}
				for _, r := range all {
					if r["id"] == target {
						stored = r
					}
				}
				if !noContent && !reflect.DeepEqual(doc, stored) {
					t.Errorf("PATCH response %v differs from stored %v", doc, stored)
				}
				for _, chk := range tc.checks {
					chk(t, stored, ids)
				}
			})
		}
	}
}

func TestBackend_PutReplacesAndKeepsID(t *testing.T) {
	_, c := newTestServer(t, Options{})
	id := c.createUser("a@example.com")
	doc := c.mustDo("PUT", "/scim/v2/Users/"+id, `{"id":"other","userName":"a@example.com","displayName":"New"}`, http.StatusOK)
	if doc["id"] != id || doc["displayName"] != "New" || doc["emails"] != nil {
		t.Errorf("PUT result %v: want same id, new displayName, emails gone", doc)
	}
	if v := doc["meta"].(map[string]any)["version"]; v != `W/"2"` {
		t.Errorf("version %v, want W/\"2\"", v)
	}
}

func TestBackend_DeleteUserLeavesGroups(t *testing.T) {
	b, c := newTestServer(t, Options{})
	u0, u1 := c.createUser("a@example.com"), c.createUser("b@example.com")
	g := c.createGroup("G", u0, u1)
	if status, doc, _ := c.do("DELETE", "/scim/v2/Users/"+u0, ""); status != http.StatusNoContent || doc != nil {
		t.Fatalf("DELETE: status %d body %v, want 204 without body", status, doc)
	}
	c.mustDo("GET", "/scim/v2/Users/"+u0, "", http.StatusNotFound)
	groups := b.Groups()
	if len(groups) != 1 || !reflect.DeepEqual(memberIDs(groups[0]), []string{u1}) {
		t.Fatalf("groups after deleting %s: %v", u0, groups)
	}
	c.mustDo("DELETE", "/scim/v2/Groups/"+g, "", http.StatusNoContent)
	c.mustDo("DELETE", "/scim/v2/Groups/"+g, "", http.StatusNotFound)
	if n := len(b.Groups()); n != 0 {
		t.Fatalf("%d groups left", n)
	}
}

func TestBackend_RecordsRequestsVerbatim(t *testing.T) {
	b, c := newTestServer(t, Options{Token: testToken})
	body := "{\"userName\" : \"a@example.com\"}\n"
	req, _ := http.NewRequest("POST", c.srv.URL+"/scim/v2/Users?x=%22y%22", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("User-Agent", "probe")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := b.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/scim/v2/Users" || r.RawQuery != "x=%22y%22" || string(r.Body) != body ||
		r.Header.Get("User-Agent") != "probe" || r.Header.Get("Authorization") != "Bearer "+testToken {
		t.Errorf("recorded %+v", r)
	}
	// Snapshots are copies.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("User-Agent", "changed")
	if again := b.Requests()[0]; again.Body[0] != '{' || again.Header.Get("User-Agent") != "probe" {
		t.Error("Requests() exposes internal state")
	}
	u := b.Users()
	u[0]["userName"] = "changed"
	if b.Users()[0]["userName"] != "a@example.com" {
		t.Error("Users() exposes internal state")
	}
}

func TestBackend_RefusesOversizedBody(t *testing.T) {
	_, c := newTestServer(t, Options{})
	big := `{"userName":"a@example.com","x":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	status, doc, _ := c.do("POST", "/scim/v2/Users", big)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	assertSCIMError(t, doc, http.StatusRequestEntityTooLarge, "")
}

func TestBackend_ConcurrentCreates(t *testing.T) {
	b, c := newTestServer(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, err := c.srv.Client().Post(c.srv.URL+"/Users", ContentType, strings.NewReader(fmt.Sprintf(`{"userName":"u%d"}`, i)))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("user %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[any]bool{}
	for _, u := range b.Users() {
		seen[u["id"]] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids, want %d", len(seen), n)
	}
}
