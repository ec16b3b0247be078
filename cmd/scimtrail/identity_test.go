package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
)

// preexisting is a user created on the SCIM service before scimtrail was put
// in front of it: the proxy never saw it.
const preexisting = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"old.timer@example.com",` +
	`"emails":[{"primary":true,"type":"work","value":"old.timer@example.com"}],"externalId":"00uOLDTIMER","active":true}`

func createDirectly(t *testing.T, e *e2e) string {
	t.Helper()
	res := e.runAt(e.upstream, []scimtest.Step{{Name: "direct: create", IdP: "okta", Method: http.MethodPost, Path: "/Users",
		Header: http.Header{"Content-Type": {scimtest.ContentType}}, Body: preexisting, Save: "old", WantStatus: http.StatusCreated}})
	return res[0].ID
}

func patchAndDelete(id string) []scimtest.Step {
	h := http.Header{"Content-Type": {scimtest.ContentType}, "User-Agent": {scimtest.OktaUserAgent}}
	return []scimtest.Step{
		{Name: "okta: deactivate", IdP: "okta", Method: http.MethodPatch, Path: "/Users/" + id, Header: h,
			Body:       `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			WantStatus: http.StatusNoContent},
		{Name: "okta: delete", IdP: "okta", Method: http.MethodDelete, Path: "/Users/" + id, Header: h, WantStatus: http.StatusNoContent},
	}
}

// TestE2E_LookupCompletesResourcesCreatedBeforeTheProxy: a PATCH answered
// 204 and a DELETE of a user the proxy never saw still name the user, read
// back from the upstream with the IdP's own credentials.
func TestE2E_LookupCompletesResourcesCreatedBeforeTheProxy(t *testing.T) {
	e := startE2E(t, e2eOptions{patchNoContent: true})
	id := createDirectly(t, e)
	e.run(patchAndDelete(id))
	recs := e.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, ev := range []string{"user.deactivated", "user.deleted"} {
		r := recs[i]
		if r.UserEmail != "old.timer@example.com" || r.IdPResourceID != "00uOLDTIMER" || r.ResourceID != id ||
			!slices.Equal(r.Events, []string{ev}) || len(r.Notes) != 0 {
			t.Errorf("record %d = %+v, want old.timer's identity and event %s", i, r, ev)
		}
	}
	var lookups int
	for _, req := range e.backend.Requests() {
		if req.Method == http.MethodGet {
			lookups++
			if got := req.Header.Get("Authorization"); got != "Bearer "+oktaToken {
				t.Errorf("look-up sent Authorization %q, want the IdP's own", got)
			}
		}
	}
	// One read after the PATCH; none before the DELETE: the PATCH taught it.
	if lookups != 1 {
		t.Errorf("%d look-ups, want 1", lookups)
	}
}

func TestE2E_WithoutLookupTheRecordSaysIdentityUnknown(t *testing.T) {
	e := startE2E(t, e2eOptions{patchNoContent: true, noLookup: true})
	id := createDirectly(t, e)
	e.run(patchAndDelete(id))
	recs := e.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, r := range recs {
		if r.UserEmail != "" || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "identity unknown") }) {
			t.Errorf("record %+v: want no email and an identity-unknown note", r)
		}
	}
	for _, req := range e.backend.Requests() {
		if req.Method == http.MethodGet {
			t.Errorf("look-up sent with --lookup=false: %s %s", req.Method, req.Path)
		}
	}
}

// TestE2E_IdentityCacheSurvivesRestart: what the proxy learned before a
// restart names the user after it, with look-ups off and 204 answers.
func TestE2E_IdentityCacheSurvivesRestart(t *testing.T) {
	backend := scimtest.NewBackend(scimtest.Options{PatchNoContent: true})
	state := t.TempDir()
	first := startE2E(t, e2eOptions{backend: backend, stateDir: state, noLookup: true})
	results := first.run(scimtest.OktaCycle()[:2]) // look up and create alice
	alice := results[1].ID
	first.records()

	second := startE2E(t, e2eOptions{backend: backend, stateDir: state, noLookup: true})
	second.run(patchAndDelete(alice))
	recs := second.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, r := range recs {
		if r.UserEmail != "alice@example.com" || r.IdPResourceID != "00u1a2b3c4d5E6F7g8h9" || r.Outcome != schema.OutcomeSuccess {
			t.Errorf("after restart: %+v, want alice's identity from the cache", r)
		}
	}
}
