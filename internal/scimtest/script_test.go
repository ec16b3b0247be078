package scimtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runCycles runs both IdP cycles against one Backend, Okta under /scim/v2
// and Entra under /scim/entra, and fails the test on any error.
func runCycles(t *testing.T, b *Backend, noContent bool) ([]Step, []Result, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	steps := append(OktaCycle(), EntraCycle()...)
	if noContent {
		steps = ExpectPatchNoContent(steps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := Run(ctx, srv.Client(),
		map[string]string{"okta": srv.URL + "/scim/v2", "entra": srv.URL + "/scim/entra"},
		map[string]string{"okta": testToken, "entra": testToken}, steps)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(results) != len(steps) {
		t.Fatalf("%d results for %d steps", len(results), len(steps))
	}
	return steps, results, srv
}

func resultNamed(t *testing.T, results []Result, name string) Result {
	t.Helper()
	for _, r := range results {
		if r.Step.Name == name {
			return r
		}
	}
	t.Fatalf("no step named %q", name)
	return Result{}
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return doc
}

func TestCycles_FinalState(t *testing.T) {
	for _, noContent := range []bool{false, true} {
		t.Run(map[bool]string{false: "PatchOK", true: "PatchNoContent"}[noContent], func(t *testing.T) {
			b := NewBackend(Options{Token: testToken, PatchNoContent: noContent})
			_, results, _ := runCycles(t, b, noContent)

			users := b.Users()
			byName := map[string]map[string]any{}
			for _, u := range users {
				byName[u["userName"].(string)] = u
			}
			if len(users) != 3 || byName["alice@example.com"] == nil || byName["bob@example.com"] == nil || byName["erin@contoso.com"] == nil {
				t.Fatalf("users = %v, want alice, bob and erin (dana deleted)", users)
			}
			alice := byName["alice@example.com"]
			if alice["active"] != false || alice["displayName"] != "Alice Kingsleigh" || alice["locale"] != "en-GB" ||
				alice["name"].(map[string]any)["familyName"] != "Kingsleigh" {
				t.Errorf("alice = %v, want deactivated with the PUT's profile", alice)
			}
			if v := alice["meta"].(map[string]any)["version"]; v != `W/"4"` {
				t.Errorf("alice version %v, want W/\"4\" (create, PUT, password, deactivate)", v)
			}
			if byName["bob@example.com"]["active"] != true || byName["erin@contoso.com"]["active"] != true {
				t.Errorf("bob/erin should stay active: %v", users)
			}
			raw, _ := json.Marshal(users)
			for _, pw := range []string{"Alice-Pa55word!", "Bob-Pa55word!", "Alice-N3w-Pa55word!", "password"} {
				if strings.Contains(string(raw), pw) {
					t.Errorf("stored users contain %q", pw)
				}
			}

			groups := b.Groups()
			if len(groups) != 1 || groups[0]["displayName"] != "Sales" {
				t.Fatalf("groups = %v, want only Sales (Engineering deleted)", groups)
			}
			erin := byName["erin@contoso.com"]["id"].(string)
			wantMembers := []any{map[string]any{"value": erin, "display": "erin@contoso.com"}}
			if !reflect.DeepEqual(groups[0]["members"], wantMembers) {
				t.Errorf("Sales members = %v, want only erin %v (Entra's remove names dana only)", groups[0]["members"], wantMembers)
			}

			eng := decode(t, resultNamed(t, results, "okta: read back Platform Engineering").ResponseBody)
			bob := byName["bob@example.com"]["id"].(string)
			if eng["displayName"] != "Platform Engineering" || !reflect.DeepEqual(memberIDs(eng), []string{bob}) {
				t.Errorf("Engineering before delete = %v, want renamed with bob only", eng)
			}

			conflict := decode(t, resultNamed(t, results, "okta: re-create alice (conflict)").ResponseBody)
			assertSCIMError(t, conflict, http.StatusConflict, "uniqueness")

			dana := decode(t, resultNamed(t, results, "entra: read back dana").ResponseBody)
			name := dana["name"].(map[string]any)
			ext := dana[schemaEnterpriseUser].(map[string]any)
			email := dana["emails"].([]any)[0].(map[string]any)
			if dana["active"] != false || name["givenName"] != "Danielle" || name["familyName"] != "Scully-Mulder" ||
				ext["employeeNumber"] != "2001" || ext["department"] != "Sales" ||
				email["value"] != "dana.scully@contoso.com" || email["primary"] != true {
				t.Errorf("dana before delete = %v", dana)
			}
			if loc := dana["meta"].(map[string]any)["location"]; loc != "/scim/entra/Users/"+dana["id"].(string) {
				t.Errorf("dana location = %v, want under /scim/entra", loc)
			}

			for _, r := range results {
				if r.Step.Method == http.MethodPatch && noContent && (r.Status != http.StatusNoContent || len(r.ResponseBody) != 0) {
					t.Errorf("%s: status %d body %q, want 204 without body", r.Step.Name, r.Status, r.ResponseBody)
				}
			}
		})
	}
}

func TestCycles_BackendReceivedExactlyWhatWasSent(t *testing.T) {
	b := NewBackend(Options{Token: testToken})
	steps, results, _ := runCycles(t, b, false)
	reqs := b.Requests()
	if len(reqs) != len(steps) {
		t.Fatalf("backend got %d requests for %d steps", len(reqs), len(steps))
	}
	for i, r := range results {
		got, st := reqs[i], r.Step
		if placeholderRE.MatchString(st.Path) || placeholderRE.MatchString(st.Body) {
			t.Errorf("%s: placeholder left in %q %q", st.Name, st.Path, st.Body)
		}
		base := map[string]string{"okta": "/scim/v2", "entra": "/scim/entra"}[st.IdP]
		u, err := url.Parse(base + st.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != st.Method || got.Path != u.Path || got.RawQuery != u.RawQuery || string(got.Body) != st.Body {
			t.Errorf("%s: backend got %s %s?%s %q, want %s %s?%s %q", st.Name, got.Method, got.Path, got.RawQuery, got.Body, st.Method, u.Path, u.RawQuery, st.Body)
		}
		wantUA := map[string]string{"okta": OktaUserAgent, "entra": EntraUserAgent}[st.IdP]
		if got.Header.Get("User-Agent") != wantUA || got.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("%s: User-Agent %q Authorization %q", st.Name, got.Header.Get("User-Agent"), got.Header.Get("Authorization"))
		}
		if st.Body != "" && got.Header.Get("Content-Type") != ContentType {
			t.Errorf("%s: Content-Type %q", st.Name, got.Header.Get("Content-Type"))
		}
		if st.Body != "" && !json.Valid([]byte(st.Body)) {
			t.Errorf("%s: body is not valid JSON after filling placeholders: %s", st.Name, st.Body)
		}
	}
	// Okta's pre-create look-up is the documented filter with paging.
	if q := reqs[0].RawQuery; q != "filter=userName%20eq%20%22alice%40example.com%22&startIndex=1&count=100" {
		t.Errorf("okta look-up query = %q", q)
	}
}

// TestCycles_CoverIdPQuirks guards the scripts against losing the shapes
// derivation and redaction must be tested with.
func TestCycles_CoverIdPQuirks(t *testing.T) {
	for _, tc := range []struct {
		idp   string
		steps []Step
		want  []string
	}{
		{"okta", OktaCycle(), []string{
			`"password": "Alice-Pa55word!"`,
			`{"op": "replace", "path": "password"`,
			`{"op": "replace", "value": {"active": false}}`,
			`{"op": "add", "path": "members", "value": [{"value": "{bob}"`,
			`{"op": "remove", "path": "members[value eq \"{alice}\"]"}`,
			`{"op": "replace", "value": {"id": "{eng}", "displayName": "Platform Engineering"}}`,
		}},
		{"entra", EntraCycle(), []string{
			schemaEnterpriseUser + `"`,
			`"externalId": "dana"`,
			`{"op": "Replace", "path": "active", "value": "False"}`,
			`{"op": "Add", "path": "emails[type eq \"work\"].value"`,
			`"name.givenName": "Danielle"`,
			schemaEnterpriseUser + `:employeeNumber"`,
			`{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "{dana}"}]}`,
		}},
	} {
		var all strings.Builder
		statuses := map[int]bool{}
		for _, st := range tc.steps {
			if st.IdP != tc.idp || !strings.HasPrefix(st.Name, tc.idp+": ") {
				t.Errorf("step %q: IdP %q", st.Name, st.IdP)
			}
			all.WriteString(st.Body)
			statuses[st.WantStatus] = true
		}
		for _, w := range tc.want {
			if !strings.Contains(all.String(), w) {
				t.Errorf("%s cycle lacks %s", tc.idp, w)
			}
		}
		if tc.idp == "okta" && !statuses[http.StatusConflict] {
			t.Error("okta cycle has no 409 step")
		}
	}
}

func TestRun_Errors(t *testing.T) {
	b := NewBackend(Options{Token: testToken})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	bases := map[string]string{"okta": srv.URL}
	tokens := map[string]string{"okta": testToken}
	get := Step{Name: "list", IdP: "okta", Method: "GET", Path: "/Users", WantStatus: 200}

	t.Run("unknown placeholder", func(t *testing.T) {
		st := get
		st.Name, st.Path = "ghost read", "/Users/{ghost}"
		res, err := Run(context.Background(), srv.Client(), bases, tokens, []Step{get, st})
		if err == nil || !strings.Contains(err.Error(), `"ghost read"`) || !strings.Contains(err.Error(), "{ghost}") {
			t.Fatalf("err = %v, want one naming the step and the placeholder", err)
		}
		if len(res) != 1 {
			t.Fatalf("%d results, want only the step that ran", len(res))
		}
	})
	t.Run("unexpected status", func(t *testing.T) {
		st := get
		st.WantStatus = 201
		res, err := Run(context.Background(), srv.Client(), bases, tokens, []Step{st})
		if err == nil || !strings.Contains(err.Error(), `"list"`) || !strings.Contains(err.Error(), "status 200, want 201") {
			t.Fatalf("err = %v", err)
		}
		if len(res) != 1 || res[0].Status != 200 {
			t.Fatalf("results = %+v, want the failing step's result", res)
		}
	})
	t.Run("no token", func(t *testing.T) {
		_, err := Run(context.Background(), srv.Client(), bases, nil, []Step{get})
		if err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Fatalf("err = %v, want 401", err)
		}
	})
	t.Run("unknown IdP", func(t *testing.T) {
		st := get
		st.IdP = "onelogin"
		if _, err := Run(context.Background(), srv.Client(), bases, tokens, []Step{st}); err == nil || !strings.Contains(err.Error(), `"onelogin"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nil client", func(t *testing.T) {
		if _, err := Run(context.Background(), nil, bases, tokens, []Step{get}); err == nil {
			t.Fatal("no error for a nil client")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Run(ctx, srv.Client(), bases, tokens, []Step{get}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("save without id", func(t *testing.T) {
		st := get
		st.Save = "x"
		if _, err := Run(context.Background(), srv.Client(), bases, tokens, []Step{st}); err == nil || !strings.Contains(err.Error(), "no id") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestExpectPatchNoContent_LeavesInputAlone(t *testing.T) {
	in := OktaCycle()
	out := ExpectPatchNoContent(in)
	for i := range in {
		wantIn, wantOut := in[i].WantStatus, in[i].WantStatus
		if in[i].Method == http.MethodPatch {
			wantIn, wantOut = 200, 204
		}
		if in[i].WantStatus != wantIn || out[i].WantStatus != wantOut {
			t.Errorf("%s: in %d out %d, want %d %d", in[i].Name, in[i].WantStatus, out[i].WantStatus, wantIn, wantOut)
		}
	}
}
