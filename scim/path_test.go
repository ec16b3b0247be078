package scim

import (
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// TestParsePath_AgreesWithTheFilterParser: the fast split of simple paths
// gives what the SCIM filter parser gives, and refuses what it refuses.
func TestParsePath_AgreesWithTheFilterParser(t *testing.T) {
	for _, path := range []string{
		"active", "userName", "name.givenName", "emails", "members", "$ref", "x-y_z9",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
		"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
		`members[value eq "2819c223-7f76-453a-919d-413861904646"]`, `emails[type eq "work"].value`,
		`Members[Value EQ "x"]`, `emails[type eq "work" or type eq "home"]`,
		`members[value eq "a"].display`, `members[value ne "a"]`, `members[value eq 3]`,
		"9lives", "name.", ".name", "a.b.c", "", "na me", "weird:prefix:attr", "urn:", "é",
	} {
		got, gotErr := parsePath(path)
		want, wantErr := filter.ParsePath([]byte(path))
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, the filter parser says %v", path, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, the filter parser gives %#v", path, got, want)
		}
	}
}

// The filter parser keeps a string literal's escapes as sent; RFC 7644
// compValue is a JSON string, so the split decodes them.
func TestParsePath_DecodesStringLiterals(t *testing.T) {
	p, err := parsePath(`members[value eq "a\"b\u0041"]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := filterEqValues(p.ValueExpression, "value"); len(got) != 1 || got[0] != `a"bA` {
		t.Errorf("value %q, want %q", got, `a"bA`)
	}
}
