package scim

import (
	"slices"
	"strings"

	"github.com/scimtrail/scimtrail/schema"
)

// IdentityFromResource reads the identity of a SCIM resource representation
// (a POST/PUT body or a response). Members are known only when the
// representation has a members attribute: a group fetched with
// excludedAttributes=members says nothing about its members.
func IdentityFromResource(resourceType string, res object) Identity {
	id := Identity{
		Type:        resourceType,
		ID:          str(res, "id"),
		UserName:    str(res, "userName"),
		DisplayName: str(res, "displayName"),
	}
	if v, ok := get(res, "externalId"); ok {
		id.ExternalID = stringValue(v)
	}
	if v, ok := get(res, "emails"); ok {
		id.Email = primaryEmail(v)
	}
	if v, ok := get(res, "active"); ok {
		if b, ok := boolValue(v); ok {
			id.Active = &b
		}
	}
	if resourceType == schema.ResourceGroup {
		if v, ok := get(res, "members"); ok {
			id.Members = memberIDs(v)
			id.MembersKnown = true
		}
	}
	return id
}

// UserEmail is the e-mail a record shows for a user: the primary (or first)
// e-mail, else the userName when it is an e-mail address.
func (id Identity) UserEmail() string {
	if id.Email != "" {
		return id.Email
	}
	if strings.Contains(id.UserName, "@") {
		return id.UserName
	}
	return ""
}

// Equal reports whether two identities say the same.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && id.ID == o.ID && id.UserName == o.UserName && id.Email == o.Email &&
		id.DisplayName == o.DisplayName && id.ExternalID == o.ExternalID &&
		(id.Active == nil) == (o.Active == nil) && (id.Active == nil || *id.Active == *o.Active) &&
		id.MembersKnown == o.MembersKnown && slices.Equal(id.Members, o.Members)
}

// Overlay returns id with every field that newer knows replaced.
func (id Identity) Overlay(newer Identity) Identity {
	set := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	set(&id.Type, newer.Type)
	set(&id.ID, newer.ID)
	set(&id.UserName, newer.UserName)
	set(&id.Email, newer.Email)
	set(&id.DisplayName, newer.DisplayName)
	set(&id.ExternalID, newer.ExternalID)
	if newer.Active != nil {
		id.Active = newer.Active
	}
	if newer.MembersKnown {
		id.Members = newer.Members
		id.MembersKnown = true
	}
	return id
}

// memberDelta is what a request did to a group's members.
type memberDelta struct {
	added, removed []string
	notes          []string
}

func (d *memberDelta) add(ids ...string) {
	for _, m := range ids {
		if i := slices.Index(d.removed, m); i >= 0 {
			d.removed = slices.Delete(d.removed, i, i+1)
		}
		if !slices.Contains(d.added, m) {
			d.added = append(d.added, m)
		}
	}
}

func (d *memberDelta) remove(ids ...string) {
	for _, m := range ids {
		if i := slices.Index(d.added, m); i >= 0 {
			d.added = slices.Delete(d.added, i, i+1)
		}
		if !slices.Contains(d.removed, m) {
			d.removed = append(d.removed, m)
		}
	}
}

// replaceMembers records a members replacement: the difference from the
// prior list when it is known; otherwise every new member counts as added
// and the removals cannot be told.
func (d *memberDelta) replaceMembers(prior Identity, next []string) {
	if !prior.MembersKnown {
		d.add(next...)
		d.notes = append(d.notes, "members replaced but the prior membership is unknown: members_removed not derived")
		return
	}
	for _, m := range prior.Members {
		if !slices.Contains(next, m) {
			d.remove(m)
		}
	}
	for _, m := range next {
		if !slices.Contains(prior.Members, m) {
			d.add(m)
		}
	}
}

// applyMembers applies a delta to a member list that is known.
func applyMembers(members []string, d memberDelta) []string {
	out := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return slices.Contains(d.removed, m) })
	for _, m := range d.added {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// applyOperations applies PATCH operations to what is known of a resource
// and returns the identity after them and what they did to members. Only the
// attributes an Identity holds are followed; everything else is a change
// listed in the record but not tracked.
func applyOperations(prior Identity, ops []Operation) (Identity, memberDelta) {
	next := prior
	next.Members = slices.Clone(prior.Members)
	var d memberDelta
	for _, o := range ops {
		sub := ""
		if o.attr != nil {
			sub = strings.ToLower(o.attr.AttributePath.SubAttributeName())
			if o.attr.SubAttribute != nil {
				sub = strings.ToLower(*o.attr.SubAttribute)
			}
		}
		switch o.Attribute() {
		case "username":
			next.UserName = setOrClear(o)
		case "displayname":
			next.DisplayName = setOrClear(o)
		case "externalid":
			next.ExternalID = setOrClear(o)
		case "active":
			if o.Op == "remove" {
				next.Active = nil
			} else if b, ok := boolValue(o.Value); ok {
				next.Active = &b
			}
		case "emails":
			switch {
			case o.Op == "remove" && (o.attr == nil || o.attr.ValueExpression == nil):
				next.Email = ""
			case sub == "value" && o.Op != "remove":
				next.Email = stringValue(o.Value)
			case sub == "" && o.Op != "remove":
				if e := primaryEmail(asList(o.Value)); e != "" {
					next.Email = e
				}
			}
		case "members":
			if prior.Type != schema.ResourceGroup {
				continue
			}
			ids, all := o.memberTargets()
			switch o.Op {
			case "add":
				d.add(ids...)
			case "remove":
				if all {
					if !prior.MembersKnown {
						d.notes = append(d.notes, "all members removed but the prior membership is unknown: members_removed not derived")
					}
					d.remove(next.Members...)
					next.Members, next.MembersKnown = nil, true
					continue
				}
				d.remove(ids...)
			case "replace":
				if o.attr != nil && o.attr.ValueExpression != nil {
					continue // replacing a sub-attribute of one member: membership unchanged
				}
				d.replaceMembers(Identity{Members: next.Members, MembersKnown: next.MembersKnown}, ids)
				next.Members, next.MembersKnown = nil, true
			}
			next.Members = applyMembers(next.Members, d)
		}
	}
	return next, d
}

func setOrClear(o Operation) string {
	if o.Op == "remove" {
		return ""
	}
	return stringValue(o.Value)
}

// asList wraps a single multi-valued element in a list: Okta sends both
// "emails": [{…}] and, for add, a bare {…}.
func asList(v any) any {
	if o, ok := v.(object); ok {
		return []any{o}
	}
	return v
}
