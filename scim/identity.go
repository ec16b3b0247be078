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
		id.EmailsHash = emailsHash(v)
	}
	if v, ok := get(res, "active"); ok {
		if b, ok := boolValue(v); ok {
			id.Active = &b
		}
	}
	if n, ok := get(res, "name"); ok && resourceType == schema.ResourceUser {
		if o, ok := n.(object); ok {
			id.mergeName(o)
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

// UserDisplayName is the user's name as people read it: name.formatted,
// else name.givenName and name.familyName joined by a space, else
// displayName.
func (id Identity) UserDisplayName() string {
	if f := strings.TrimSpace(id.Formatted); f != "" {
		return f
	}
	if n := strings.TrimSpace(id.GivenName + " " + id.FamilyName); n != "" {
		return n
	}
	return id.DisplayName
}

// hasName reports whether the identity knows any name part.
func (id Identity) hasName() bool {
	return id.GivenName != "" || id.FamilyName != "" || id.Formatted != ""
}

// namePart is the field of a name sub-attribute (any case) that the
// user's name is made of; nil for any other (middleName, honorificPrefix…).
func (id *Identity) namePart(sub string) *string {
	switch strings.ToLower(sub) {
	case "givenname":
		return &id.GivenName
	case "familyname":
		return &id.FamilyName
	case "formatted":
		return &id.Formatted
	}
	return nil
}

// mergeName sets the name parts an object value of name carries; the
// parts it leaves out stay (RFC 7644 §3.5.2.3: a replace of a complex
// attribute leaves the sub-attributes it does not name unchanged). partial
// says the object also carried what an Identity does not hold: another
// sub-attribute, or a part that is not a string.
func (id *Identity) mergeName(n object) (partial bool) {
	for k, v := range n {
		p := id.namePart(k)
		s, ok := v.(string)
		if p == nil || !ok {
			partial = true
			continue
		}
		*p = s
	}
	return partial
}

// Equal reports whether two identities say the same.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && id.ID == o.ID && id.UserName == o.UserName && id.Email == o.Email &&
		id.DisplayName == o.DisplayName && id.ExternalID == o.ExternalID &&
		id.GivenName == o.GivenName && id.FamilyName == o.FamilyName && id.Formatted == o.Formatted &&
		id.EmailsHash == o.EmailsHash &&
		(id.Active == nil) == (o.Active == nil) && (id.Active == nil || *id.Active == *o.Active) &&
		id.MembersKnown == o.MembersKnown && slices.Equal(id.Members, o.Members)
}

// Overlay returns id with every field that newer knows replaced. The name
// parts are replaced together when newer knows any: a representation with
// a name carries all of it, so a part it lacks was cleared, not forgotten.
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
	set(&id.EmailsHash, newer.EmailsHash)
	if newer.hasName() {
		id.GivenName, id.FamilyName, id.Formatted = newer.GivenName, newer.FamilyName, newer.Formatted
	}
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
// and returns the identity after them, what they did to members, and what
// each operation did to the attributes an Identity tracks (effects[i] is
// ops[i]'s). Only those attributes are followed; everything else is a
// change listed as asked. A member list is kept only while it is complete
// (MembersKnown): adding to an unknown list does not make it known,
// replacing or emptying it does.
func applyOperations(prior Identity, ops []Operation) (Identity, memberDelta, []effect) {
	next := prior
	next.Members = slices.Clone(prior.Members)
	var d memberDelta
	effects := make([]effect, len(ops))
	for i, o := range ops {
		effects[i] = o.apply(&next, &d)
	}
	return next, d, effects
}

// apply follows one operation on next. An operation it cannot follow (a
// sub-attribute an Identity does not hold, a value of the wrong type) has
// no effect, rather than a guessed one: a string boolean is read, but an
// object where a string belongs is not read as clearing it.
func (o Operation) apply(next *Identity, d *memberDelta) effect {
	switch o.Attribute() {
	case "username":
		return o.applyToString(&next.UserName, trackedUserName)
	case "displayname":
		return o.applyToString(&next.DisplayName, trackedDisplayName)
	case "externalid":
		return o.applyToString(&next.ExternalID, trackedExternalID)
	case "active":
		return o.applyToActive(next)
	case "emails":
		return o.applyToEmail(next)
	case "name":
		if next.Type == schema.ResourceUser {
			return o.applyToName(next)
		}
	case "members":
		if next.Type == schema.ResourceGroup {
			o.applyToMembers(next, d)
			return effect{attr: trackedMembers}
		}
	}
	return effect{}
}

// whole reports whether the operation targets its attribute as a whole:
// no sub-attribute, no value filter.
func (o Operation) whole() bool {
	return o.attr != nil && o.attr.AttributePath.SubAttribute == nil && o.attr.ValueExpression == nil && o.attr.SubAttribute == nil
}

// setString applies the operation to a string: remove clears it, add and
// replace set a string (or number) value. ok is false for any other value.
func (o Operation) setString(dst *string) (ok bool) {
	if o.Op == "remove" {
		*dst = ""
		return true
	}
	s, ok := scalarString(o.Value)
	if ok {
		*dst = s
	}
	return ok
}

// applyToString follows an operation on a single-valued string attribute.
func (o Operation) applyToString(dst *string, attr string) effect {
	if o.whole() && o.setString(dst) {
		return effect{attr: attr}
	}
	return effect{}
}

func (o Operation) applyToActive(next *Identity) effect {
	if !o.whole() {
		return effect{}
	}
	if o.Op == "remove" {
		next.Active = nil
		return effect{attr: trackedActive}
	}
	b, ok := boolValue(o.Value)
	if !ok {
		return effect{}
	}
	next.Active = &b
	return effect{attr: trackedActive}
}

// applyToName follows an operation on a user's name: on one of the parts
// the record's name is made of (name.givenName, name.familyName,
// name.formatted), or on name itself, whose object value is merged into
// it (Entra ID sends the parts, Okta the object) and whose removal clears
// it.
func (o Operation) applyToName(next *Identity) effect {
	if o.attr == nil || o.attr.ValueExpression != nil {
		return effect{}
	}
	if sub := o.attr.AttributePath.SubAttribute; sub != nil {
		if p := next.namePart(*sub); p != nil && o.setString(p) {
			return effect{attr: trackedName}
		}
		return effect{}
	}
	if o.Op == "remove" {
		next.GivenName, next.FamilyName, next.Formatted = "", "", ""
		return effect{attr: trackedName}
	}
	n, ok := o.Value.(object)
	if !ok {
		return effect{}
	}
	return effect{attr: trackedName, partial: next.mergeName(n)}
}

// applyToEmail follows an emails operation as far as it moves the e-mail
// a record shows. Adding a secondary address (home, other) leaves the
// primary one shown, and removing one address by filter may or may not
// remove it: neither is followed, both are listed as asked.
func (o Operation) applyToEmail(next *Identity) effect {
	// Any operation but a whole-list replace leaves the list's
	// fingerprint unknown.
	before := next.EmailsHash
	next.EmailsHash = ""
	if o.attr == nil || o.attr.AttributePath.SubAttribute != nil {
		return effect{} // emails.value: every address at once
	}
	expr := o.attr.ValueExpression
	sub := ""
	if o.attr.SubAttribute != nil {
		sub = strings.ToLower(*o.attr.SubAttribute)
	}
	switch {
	case o.Op == "remove" && expr == nil && !o.HasValue:
		next.Email = ""
		return effect{attr: trackedEmails, partial: true} // the other addresses went too
	case o.Op == "remove":
		return effect{}
	case expr != nil && sub == "value":
		// emails[type eq "work"].value: Entra's way of setting the primary.
		if (next.Email == "" || targetsPrimary(expr)) && o.setString(&next.Email) {
			return effect{attr: trackedEmails}
		}
	case expr == nil && sub == "":
		list := asList(o.Value)
		e := primaryOnly(list)
		if e == "" && (o.Op == "replace" || next.Email == "") {
			e = primaryEmail(list)
		}
		if e != "" {
			next.Email = e
			if o.Op == "replace" {
				// The whole list: unchanged only when it hashes as the
				// list last seen; otherwise an address the record does
				// not show may have gone or changed.
				next.EmailsHash = emailsHash(list)
				return effect{attr: trackedEmails, partial: before == "" || before != next.EmailsHash}
			}
			addresses, _ := list.([]any)
			return effect{attr: trackedEmails, partial: len(addresses) > 1}
		}
	}
	return effect{}
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
