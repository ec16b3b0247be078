package scim

import (
	"fmt"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

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

// IdentityFromJSON reads the identity of a JSON resource representation
// (a look-up's answer). ok is false when body is not a resource with an id.
func IdentityFromJSON(resourceType string, body []byte) (id Identity, ok bool) {
	v, err := decodeJSON(body)
	if err != nil {
		return Identity{}, false
	}
	o, isObject := v.(object)
	if !isObject || str(o, "id") == "" {
		return Identity{}, false
	}
	return IdentityFromResource(resourceType, o), true
}

// Named reports whether the identity says who the resource is (a userName,
// an e-mail or a displayName), not only its ids.
func (id Identity) Named() bool {
	return id.UserName != "" || id.Email != "" || id.DisplayName != ""
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

// applyOperations applies PATCH operations to what is known of a resource
// and returns the identity after them and what they did to members. Only the
// attributes an Identity holds are followed; everything else is a change
// listed in the record but not tracked. A member list is kept only while it
// is complete (MembersKnown): adding to an unknown list does not make it
// known, replacing or emptying it does.
func applyOperations(prior Identity, ops []Operation) (Identity, memberDelta) {
	next := prior
	next.Members = slices.Clone(prior.Members)
	var d memberDelta
	for _, o := range ops {
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
			next.Email = o.applyToEmail(next.Email)
		case "members":
			if prior.Type == schema.ResourceGroup {
				o.applyToMembers(&next, &d)
			}
		}
	}
	return next, d
}

// applyToEmail returns the e-mail a record shows after an emails operation.
// Adding a secondary address (home, other) leaves the primary one shown.
func (o Operation) applyToEmail(current string) string {
	var expr filter.Expression
	sub := ""
	if o.attr != nil {
		expr = o.attr.ValueExpression
		if o.attr.SubAttribute != nil {
			sub = strings.ToLower(*o.attr.SubAttribute)
		}
	}
	switch {
	case o.Op == "remove" && expr == nil:
		return ""
	case o.Op == "remove":
		return current // one address removed; which one the record shows is unknown
	case expr != nil && sub == "value":
		// emails[type eq "work"].value: Entra's way of setting the primary.
		if current == "" || targetsPrimary(expr) {
			return stringValue(o.Value)
		}
		return current
	case expr == nil:
		list := asList(o.Value)
		if e := primaryOnly(list); e != "" {
			return e
		}
		if o.Op == "replace" || current == "" {
			if e := primaryEmail(list); e != "" {
				return e
			}
		}
	}
	return current
}

// applyToMembers applies a members operation to next and records what it
// changed in d. With the membership known, adding a member already there or
// removing one that is not changes nothing.
func (o Operation) applyToMembers(next *Identity, d *memberDelta) {
	ids, all, understood := o.memberTargets()
	if !understood {
		// Which members it removed or replaced is unknown, so is the list.
		d.notes = append(d.notes, fmt.Sprintf("members path %q not understood: its members not derived", o.Path))
		next.Members, next.MembersKnown = nil, false
		return
	}
	known := next.MembersKnown
	switch o.Op {
	case "add":
		for _, id := range ids {
			if known && slices.Contains(next.Members, id) {
				continue
			}
			d.add(id)
			if known {
				next.Members = append(next.Members, id)
			}
		}
	case "remove":
		if all {
			if !known {
				d.notes = append(d.notes, "all members removed but the prior membership is unknown: members_removed not derived")
			}
			d.remove(next.Members...)
			next.Members, next.MembersKnown = nil, true
			return
		}
		for _, id := range ids {
			if known && !slices.Contains(next.Members, id) {
				continue
			}
			d.remove(id)
			next.Members = slices.DeleteFunc(next.Members, func(m string) bool { return m == id })
		}
	case "replace":
		if o.attr != nil && o.attr.ValueExpression != nil {
			return // replacing a sub-attribute of one member: membership unchanged
		}
		d.replaceMembers(*next, ids)
		next.Members, next.MembersKnown = slices.Clone(ids), true
	}
}

func setOrClear(o Operation) string {
	if o.Op == "remove" {
		return ""
	}
	return stringValue(o.Value)
}

// targetsPrimary: a value filter that picks the address a record shows,
// emails[primary eq true] or emails[type eq "work"].
func targetsPrimary(e filter.Expression) bool {
	x, ok := e.(*filter.AttributeExpression)
	if !ok || !strings.EqualFold(string(x.Operator), "eq") {
		return false
	}
	switch strings.ToLower(x.AttributePath.AttributeName) {
	case "primary":
		b, ok := boolValue(x.CompareValue)
		return ok && b
	case "type":
		s, _ := x.CompareValue.(string)
		return strings.EqualFold(s, "work")
	}
	return false
}

// asList wraps a single multi-valued element in a list: Okta sends both
// "emails": [{…}] and, for add, a bare {…}.
func asList(v any) any {
	if o, ok := v.(object); ok {
		return []any{o}
	}
	return v
}
