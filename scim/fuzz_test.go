package scim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// FuzzDerive feeds arbitrary exchanges to Derive, seeded with the real IdP
// bodies of the golden files, with nothing known, a known group and a
// known user: it must never panic, every record must match the schema,
// and no password may leak, in a new value or an old one.
func FuzzDerive(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "derive", "*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var c scimtest.GoldenCase
		if err := json.Unmarshal(raw, &c); err != nil {
			f.Fatal(err)
		}
		ex := c.Exchange.ToExchange()
		f.Add(ex.Method, ex.Path, ex.RawQuery, ex.RequestBody, ex.StatusCode, ex.ResponseBody)
	}
	f.Add("PATCH", "/Users/\xff", "filter=((", []byte("{\"Operations\":[{\"op\":\"\xffadd\"}]}"), 204, []byte(nil))
	validator, err := schema.NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	d := scim.Deriver{Redactor: scim.NewRedactor("secretAnswer")}
	f.Fuzz(func(t *testing.T, method, path, query string, req []byte, status int, resp []byte) {
		if status < 100 || status > 999 || method == "" {
			t.Skip()
		}
		ex := &scim.Exchange{Start: scimtest.GoldenStart, IdPName: "okta", Method: method, Path: path, RawQuery: query,
			RequestBody: req, StatusCode: status, ResponseBody: resp}
		prior := &scim.Identity{Type: schema.ResourceGroup, ID: "g", Members: []string{"a"}, MembersKnown: true}
		// A known user, so that changes compare old and new values too.
		active := true
		user := &scim.Identity{Type: schema.ResourceUser, ID: "u", UserName: "ann", Email: "ann@example.com",
			GivenName: "Ann", FamilyName: "Jones", DisplayName: "Ann J", ExternalID: "ext-ann", Active: &active}
		for _, in := range []scim.Input{{Exchange: ex}, {Exchange: ex, Prior: prior, After: resp}, {Exchange: ex, Prior: user}} {
			res := d.Derive(in)
			res.Record.ID = scimtest.GoldenID
			b, err := json.Marshal(res.Record)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if err := validator.Validate(b); err != nil {
				t.Fatalf("schema: %v\n%s", err, b)
			}
			assertNoSecrets(t, ex, b)
		}
	})
}
