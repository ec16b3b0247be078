package scim_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// TestDerive_NoOpOnlyWhenNothingCouldHaveChanged covers the edges of the
// old → new comparison the golden files do not: a request whose tracked
// values stay the same while it set something they do not show must never
// pass for a no-op, and one that changed nothing must.
func TestDerive_NoOpOnlyWhenNothingCouldHaveChanged(t *testing.T) {
	active := true
	ann := scim.Identity{Type: schema.ResourceUser, ID: "u1", UserName: "ann", Email: "ann@work.example",
		GivenName: "Ann", FamilyName: "Jones", ExternalID: "ext-ann", Active: &active}
	group := scim.Identity{Type: schema.ResourceGroup, ID: "g1", DisplayName: "Sales", Members: []string{"u1"}, MembersKnown: true}
	// annSeen is ann with the emails list a previous answer showed.
	annSeen := ann
	annSeen.EmailsHash = scim.IdentityFromResource(schema.ResourceUser, map[string]any{
		"emails": []any{map[string]any{"value": "Ann@Work.example", "type": "work", "primary": true}},
	}).EmailsHash
	const annUser = `"userName":"ann","name":{"givenName":"Ann","familyName":"Jones"},"externalId":"ext-ann","active":true`
	patch := func(ops string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`
	}
	cases := []struct {
		name, method, path, body string
		prior                    *scim.Identity
		changes                  string // JSON of the record's changes; "" for none
		noOp                     bool
		events                   []string
	}{
		{
			name: "user PUT resending the emails list last seen", method: "PUT", path: "/Users/u1", prior: &annSeen,
			body: `{` + annUser + `,"emails":[{"primary":true,"value":"ann@work.example","type":"work"}]}`,
			noOp: true,
		},
		{
			name: "user PUT adding a secondary address", method: "PUT", path: "/Users/u1", prior: &annSeen,
			body:   `{` + annUser + `,"emails":[{"primary":true,"value":"ann@work.example","type":"work"},{"value":"ann@home.example","type":"home"}]}`,
			events: []string{"user.updated"},
		},
		{
			name: "user PUT retyping the one address", method: "PUT", path: "/Users/u1", prior: &annSeen,
			body:   `{` + annUser + `,"emails":[{"primary":true,"value":"ann@work.example","type":"home"}]}`,
			events: []string{"user.updated"},
		},
		{
			name: "emails list replaced, the one last seen unknown", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"replace","path":"emails","value":[{"primary":true,"value":"ann@work.example","type":"home"}]}]`),
			changes: `[{"op":"replace","attribute":"emails","new":[{"primary":true,"type":"home","value":"ann@work.example"}]}]`, events: []string{"user.updated"},
		},
		{
			name: "name removed", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"remove","path":"name"}]`),
			changes: `[{"op":"remove","attribute":"name","old":"Ann Jones"}]`, events: []string{"user.updated"},
		},
		{
			name: "only a name part the record does not show", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"replace","path":"name","value":{"middleName":"Q"}}]`),
			changes: `[{"op":"replace","attribute":"name","new":{"middleName":"Q"}}]`, events: []string{"user.updated"},
		},
		{
			name: "same primary e-mail, another address beside it", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"replace","path":"emails","value":[{"value":"ann@work.example","primary":true},{"value":"ann@home.example","type":"home"}]}]`),
			changes: `[{"op":"replace","attribute":"emails","new":[{"primary":true,"value":"ann@work.example"},{"type":"home","value":"ann@home.example"}]}]`,
			events:  []string{"user.updated"},
		},
		{
			name: "a value of the wrong type is not read as clearing", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"replace","path":"externalId","value":{"x":1}},{"op":"replace","path":"active","value":"maybe"}]`),
			changes: `[{"op":"replace","attribute":"externalId","new":{"x":1}},{"op":"replace","attribute":"active","new":"maybe"}]`,
			events:  []string{"user.updated"},
		},
		{
			name: "removed while the value before is unknown", method: "PATCH", path: "/Users/u9",
			body:    patch(`[{"op":"remove","path":"name.givenName"},{"op":"replace","path":"externalId","value":"ext-zoe"}]`),
			changes: `[{"op":"remove","attribute":"name.givenName"},{"op":"add","attribute":"externalId","new":"ext-zoe"}]`,
			events:  []string{"user.updated"},
		},
		{
			name: "a name part not shown while the value before is unknown", method: "PATCH", path: "/Users/u9",
			body:    patch(`[{"op":"add","path":"name","value":{"middleName":"Q"}}]`),
			changes: `[{"op":"add","attribute":"name","new":{"middleName":"Q"}}]`, events: []string{"user.updated"},
		},
		{
			name: "set back to what it was in the same request", method: "PATCH", path: "/Users/u1", prior: &ann,
			body: patch(`[{"op":"replace","path":"userName","value":"bob"},{"op":"replace","path":"userName","value":"ann"}]`),
			noOp: true,
		},
		{
			name: "no operations", method: "PATCH", path: "/Users/u1", prior: &ann,
			body: patch(`[]`), noOp: true,
		},
		{
			name: "unparsable path", method: "PATCH", path: "/Users/u1", prior: &ann,
			body:    patch(`[{"op":"replace","path":"emails[type eq","value":"x"}]`),
			changes: `[{"op":"replace","attribute":"emails[type eq","new":"x"}]`, events: []string{"user.updated"},
		},
		{
			// Whether the password changed cannot be told; a credential
			// change must not hide as a no-op.
			name: "user PUT that carries a password", method: "PUT", path: "/Users/u1", prior: &ann,
			body:    `{"userName":"ann","name":{"givenName":"Ann","familyName":"Jones"},"emails":[{"value":"ann@work.example","primary":true}],"externalId":"ext-ann","active":true,"password":"n3w-Secret!"}`,
			changes: `[{"op":"replace","attribute":"password","new":"[REDACTED]"}]`, events: []string{"user.updated"},
		},
		{
			name: "user PUT with a name part not tracked", method: "PUT", path: "/Users/u1", prior: &ann,
			body:   `{"userName":"ann","name":{"givenName":"Ann","familyName":"Jones","middleName":"Q"}}`,
			events: []string{"user.updated"},
		},
		{
			name: "user PUT deactivating", method: "PUT", path: "/Users/u1", prior: &ann,
			body:    `{"userName":"ann","active":false}`,
			changes: `[{"op":"replace","attribute":"active","old":true,"new":false}]`, events: []string{"user.deactivated"},
		},
		{
			name: "user PUT, state before unknown", method: "PUT", path: "/Users/u9",
			body:   `{"userName":"zoe","active":false}`,
			events: []string{"user.deactivated", "user.updated"},
		},
		{
			name: "group PUT as known", method: "PUT", path: "/Groups/g1", prior: &group,
			body: `{"displayName":"Sales","members":[{"value":"u1"}]}`, noOp: true,
		},
		{
			name: "group PUT renaming", method: "PUT", path: "/Groups/g1", prior: &group,
			body:    `{"displayName":"Sales EMEA","members":[{"value":"u1"}]}`,
			changes: `[{"op":"replace","attribute":"displayName","old":"Sales","new":"Sales EMEA"}]`, events: []string{"group.renamed"},
		},
		{
			name: "group PUT emptying a membership not known", method: "PUT", path: "/Groups/g1",
			prior: &scim.Identity{Type: schema.ResourceGroup, ID: "g1", DisplayName: "Sales"},
			body:  `{"displayName":"Sales","members":[]}`, events: []string{"group.updated"},
		},
		{
			name: "group member added who was one", method: "PATCH", path: "/Groups/g1", prior: &group,
			body: patch(`[{"op":"add","path":"members","value":[{"value":"u1"}]}]`), noOp: true,
		},
	}
	d := scim.Deriver{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := &scim.Exchange{Start: scimtest.GoldenStart, IdPName: "okta", Method: tc.method, Path: "/scim/v2" + tc.path,
				RequestBody: []byte(tc.body), StatusCode: 204}
			rec := d.Derive(scim.Input{Exchange: ex, Prior: tc.prior}).Record
			got := ""
			if len(rec.Changes) > 0 {
				b, err := json.Marshal(rec.Changes)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if got != tc.changes {
				t.Errorf("changes\n got %s\nwant %s", got, tc.changes)
			}
			if rec.NoOp != tc.noOp || !reflect.DeepEqual(rec.Events, tc.events) {
				t.Errorf("no_op %v, events %q; want no_op %v, events %q (notes %q)", rec.NoOp, rec.Events, tc.noOp, tc.events, rec.Notes)
			}
		})
	}
}

// TestDerive_FailedRequestListsChangesAsAsked: nothing was applied, so
// nothing is compared, and the record says what was asked.
func TestDerive_FailedRequestListsChangesAsAsked(t *testing.T) {
	active := true
	prior := scim.Identity{Type: schema.ResourceUser, ID: "u1", UserName: "ann", Active: &active}
	ex := &scim.Exchange{Start: scimtest.GoldenStart, Method: "PATCH", Path: "/scim/v2/Users/u1", StatusCode: 400,
		RequestBody: []byte(`{"Operations":[{"op":"Replace","path":"active","value":"True"}]}`)}
	rec := scim.Deriver{}.Derive(scim.Input{Exchange: ex, Prior: &prior}).Record
	want := []schema.Change{{Op: "replace", Attribute: "active", New: json.RawMessage(`"True"`)}}
	if !reflect.DeepEqual(rec.Changes, want) || rec.NoOp || rec.Events != nil {
		t.Fatalf("changes %+v, no_op %v, events %q; want %+v, no no_op, no events", rec.Changes, rec.NoOp, rec.Events, want)
	}
}

// TestIdentity_UserDisplayName: the name people read, from the most
// complete form the identity holds.
func TestIdentity_UserDisplayName(t *testing.T) {
	for _, tc := range []struct {
		id   scim.Identity
		want string
	}{
		{scim.Identity{Formatted: "Ms. Barbara J Jensen III", GivenName: "Barbara", FamilyName: "Jensen", DisplayName: "Babs"}, "Ms. Barbara J Jensen III"},
		{scim.Identity{GivenName: "Barbara", FamilyName: "Jensen", DisplayName: "Babs"}, "Barbara Jensen"},
		{scim.Identity{FamilyName: "Jensen", DisplayName: "Babs"}, "Jensen"},
		{scim.Identity{Formatted: "  ", DisplayName: "Babs"}, "Babs"},
		{scim.Identity{}, ""},
	} {
		if got := tc.id.UserDisplayName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.id, got, tc.want)
		}
	}
}
