package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/registry"
)

// history is what the console shows of one user, without what differs
// from run to run (ids, times, status codes): the last seen identity, the
// groups, and each timeline entry as action, events and old → new.
func history(t *testing.T, reg *registry.Registry, email string) string {
	t.Helper()
	ctx := t.Context()
	us, err := reg.Users(ctx, email, 2)
	if err != nil || len(us) != 1 {
		t.Fatalf("Users(%s) = %+v, %v", email, us, err)
	}
	u, _, err := reg.User(ctx, "", us[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	active := "?"
	if u.Active != nil {
		active = fmt.Sprint(*u.Active)
	}
	fmt.Fprintf(&b, "%s userName=%s name=%q externalId=%s active=%s deleted=%t idp=%s\n", u.Email, u.UserName, u.DisplayName, u.ExternalID, active, u.Deleted, u.IdP)
	for _, g := range u.Groups {
		fmt.Fprintf(&b, "  member of %s\n", g.Name)
	}
	tl, err := reg.UserTimeline(ctx, "", u.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range slices.Backward(tl) {
		r := e.Record
		fmt.Fprintf(&b, "  %s %s %s", r.IdPName, r.Action, r.Outcome)
		if e.Membership != "" {
			fmt.Fprintf(&b, " %s %s", e.Membership, e.Group.Name)
		} else {
			fmt.Fprintf(&b, " %v", r.Events)
			for _, c := range r.Changes {
				fmt.Fprintf(&b, " %s:%s→%s", c.Attribute, orDash(string(c.Old)), orDash(string(c.New)))
			}
			if r.NoOp {
				b.WriteString(" no_op")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func demoRegistry(t *testing.T, patchNoContent bool) *registry.Registry {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	if _, err := demo(t.Context(), patchNoContent, dir, path); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(context.Background(), path, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// TestRegistry_SameHistoryWhetherPATCHAnswers200Or204 runs the Okta and
// Entra ID cycles through the proxy into the registry twice: against a
// SCIM service that answers PATCH with the resource (200) and one that
// answers 204, where old → new comes from the identity cache, look-ups
// and the operations applied to the known state. Admins must see the same
// histories.
func TestRegistry_SameHistoryWhetherPATCHAnswers200Or204(t *testing.T) {
	with200 := demoRegistry(t, false)
	with204 := demoRegistry(t, true)
	want := map[string][]string{
		"alice@example.com": {
			`alice@example.com userName=alice@example.com name="Alice Kingsleigh" externalId=00u1a2b3c4d5E6F7g8h9 active=false deleted=false idp=okta`,
			`okta POST SUCCESS [user.created]`,
			`okta PUT SUCCESS [user.updated] name:"Alice Liddell"→"Alice Kingsleigh"`,
			`okta POST SUCCESS added Engineering`,
			`okta PATCH SUCCESS removed Engineering`,
			`okta POST ERROR []`,
			`okta PATCH SUCCESS [user.deactivated] active:true→false`,
		},
		"dana.scully@contoso.com": {
			`user.updated] emails:"dana@contoso.com"→"dana.scully@contoso.com"`,
			`name:"Dana Scully"→"Danielle Scully-Mulder"`,
			`entra PATCH SUCCESS added Sales`,
			`entra PATCH SUCCESS removed Sales`,
			`entra PATCH SUCCESS [user.deactivated] active:true→false`,
			`entra DELETE SUCCESS [user.deleted]`,
			`active=false deleted=true idp=entra`,
		},
		"erin@contoso.com": {
			"  member of Sales\n",
			`entra PATCH SUCCESS added Sales`,
		},
		"bob@example.com": {
			`okta PATCH SUCCESS added Engineering`,
			`okta DELETE SUCCESS removed Platform Engineering`,
		},
	}
	for email, parts := range want {
		a, b := history(t, with200, email), history(t, with204, email)
		if a != b {
			t.Errorf("%s: histories differ\nPATCH 200:\n%s\nPATCH 204:\n%s", email, a, b)
		}
		for _, p := range parts {
			if !strings.Contains(a, p) {
				t.Errorf("%s: history lacks %q:\n%s", email, p, a)
			}
		}
	}
	// The group: renamed with old → new, members resolved, then deleted.
	for _, reg := range []*registry.Registry{with200, with204} {
		gs, err := reg.Groups(t.Context(), "platform", 2)
		if err != nil || len(gs) != 1 || !gs[0].Deleted {
			t.Fatalf("Groups(platform) = %+v, %v", gs, err)
		}
		tl, err := reg.GroupTimeline(t.Context(), "", gs[0].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var renamed, bobAdded bool
		for _, e := range tl {
			for _, c := range e.Record.Changes {
				renamed = renamed || (c.Attribute == "displayName" && string(c.Old) == `"Engineering"` && string(c.New) == `"Platform Engineering"`)
			}
			for _, id := range e.Record.MembersAdded {
				bobAdded = bobAdded || e.Members[id] == "bob@example.com"
			}
		}
		if !renamed || !bobAdded {
			t.Errorf("group timeline: renamed old → new %t, bob resolved %t", renamed, bobAdded)
		}
	}
}
