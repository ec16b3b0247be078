package scim

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/scimtrail/scimtrail/schema"
)

// The attributes an Identity tracks, as a record's changes name them.
// Their values before and after a request can be compared; the value of
// any other attribute before a request is not known.
const (
	trackedUserName    = "userName"
	trackedName        = "name"
	trackedEmails      = "emails"
	trackedDisplayName = "displayName"
	trackedExternalID  = "externalId"
	trackedActive      = "active"
	// trackedMembers is tracked too, but its changes are a record's
	// members_added and members_removed, not entries of its changes.
	trackedMembers = "members"
)

// effect is what one request element (a PATCH operation, a member of a PUT
// body) did to the attributes an Identity tracks.
type effect struct {
	// attr is the tracked attribute it set; "" when it set none, or set
	// one in a way that is not followed (then it is listed as asked).
	attr string
	// partial says it also set what attr's value does not show (a
	// secondary e-mail, name.middleName): that value staying the same
	// does not mean nothing changed.
	partial bool
}

// value is a tracked attribute's value as a change shows it, nil when
// absent: a string, or a bool for active.
func (id Identity) value(attr string) any {
	switch attr {
	case trackedUserName:
		return nonEmpty(id.UserName)
	case trackedName:
		return nonEmpty(id.UserDisplayName())
	case trackedEmails:
		return nonEmpty(id.Email)
	case trackedDisplayName:
		return nonEmpty(id.DisplayName)
	case trackedExternalID:
		return nonEmpty(id.ExternalID)
	case trackedActive:
		if id.Active != nil {
			return *id.Active
		}
	}
	return nil
}

// state is what an Identity holds of a tracked attribute: its value, but
// for name the parts, one of which may change behind an unchanged
// name.formatted.
func (id Identity) state(attr string) any {
	if attr == trackedName {
		return [3]string{id.GivenName, id.FamilyName, id.Formatted}
	}
	return id.value(attr)
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// compare is the entry of a tracked attribute a successful request
// touched: its value before (when known) and after. ok is false when the
// value before was known and is unchanged, and when neither is known: with
// the state before unknown, an absent value after may have been cleared or
// never set, and the request says which better.
func (v *derivation) compare(attr string, next Identity) (c schema.Change, ok bool) {
	var old any
	if v.known {
		old = v.prior.value(attr)
	}
	now := next.value(attr)
	if (v.known && old == now) || (!v.known && now == nil) {
		return c, false
	}
	c = schema.Change{Attribute: attr, Old: rawJSON(old), New: rawJSON(now)}
	switch {
	case old != nil && now != nil:
		c.Op = "replace"
	case now != nil:
		c.Op = "add"
	default:
		c.Op = "remove"
	}
	return c, true
}

// hidden reports whether a tracked value compare did not list hides a
// change: the state before is unknown, the state behind the value changed,
// or (partial) the request set what the value does not show.
func (v *derivation) hidden(attr string, next Identity, partial bool) bool {
	return partial || !v.known || v.prior.state(attr) != next.state(attr)
}

// rawJSON encodes a tracked value; nil stays nil (the key is left out).
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil // a string or a bool: cannot happen
	}
	return b
}

// listChanges lists what the elements of a request (ops, with effects[i]
// what ops[i] did) changed, in request order. A tracked attribute is
// listed once, at the first element that touched it, with its values
// before and after, and not at all when they are equal — unless that
// hides a change, when its elements are listed as asked instead. Group
// members are never listed. asked says what becomes of the other elements:
// a PATCH operation says what it set, and is listed as asked (so is every
// operation of a failed request); a PUT body sends everything, changed or
// not, so its untracked members are left out.
func (v *derivation) listChanges(ops []Operation, effects []effect, next Identity, asked bool) []schema.Change {
	var out []schema.Change
	var seen, byAsk []string
	for i, op := range ops {
		attr := effects[i].attr
		switch {
		case attr == trackedMembers:
		case attr == "" || !v.success:
			if asked {
				out = append(out, v.change(op))
			}
		case slices.Contains(byAsk, attr):
			out = append(out, v.change(op))
		case !slices.Contains(seen, attr):
			seen = append(seen, attr)
			if c, ok := v.compare(attr, next); ok {
				out = append(out, c)
			} else if v.hidden(attr, next, asked && partial(effects, attr)) {
				byAsk = append(byAsk, attr)
				out = append(out, v.change(op))
			}
		}
	}
	return out
}

// partial reports whether any element's effect on attr was partial.
func partial(effects []effect, attr string) bool {
	return slices.ContainsFunc(effects, func(e effect) bool { return e.attr == attr && e.partial })
}

// touched lists the tracked attributes the effects set.
func touched(effects []effect) []string {
	var out []string
	for _, e := range effects {
		if e.attr != "" && !slices.Contains(out, e.attr) {
			out = append(out, e.attr)
		}
	}
	return out
}

// putOperations reads a PUT body as the replace operations it amounts to,
// one per member in the order sent, and follows them on a blank identity
// to learn what each sets. untracked says the body set what no tracked
// value shows (an attribute an Identity does not hold, a second e-mail,
// name.middleName, a value not understood): whether that changed cannot
// be told. Skipped are what cannot change anything (the resource's id,
// schemas and meta, a user's groups, read-only by RFC 7643 §4.1.2).
// Secrets are never compared (scimtrail never holds them) but always
// listed, redacted: a PUT carrying a password may have changed it, and a
// credential change must not hide as a no-op.
func (v *derivation) putOperations(body object) (ops []Operation, effects []effect, secrets []schema.Change, untracked bool) {
	// The list fingerprint last seen lets a resent emails list count as
	// unchanged.
	blank := Identity{Type: v.ep.ResourceType, EmailsHash: v.prior.EmailsHash}
	var d memberDelta
	for _, k := range objectKeys(v.in.Exchange.RequestBody) {
		value, ok := body[k]
		if !ok || ignoredPathlessKey(k) ||
			(v.ep.ResourceType == schema.ResourceUser && strings.EqualFold(k, "groups")) {
			continue
		}
		if v.Redactor.IsSecret(k) {
			// body is the redacted request: value is the redaction mark.
			secrets = append(secrets, v.change(newOperation("replace", k, value, true)))
			untracked = true
			continue
		}
		op := newOperation("replace", k, value, true)
		e := op.apply(&blank, &d)
		untracked = untracked || e.attr == "" || e.partial
		ops, effects = append(ops, op), append(effects, e)
	}
	return ops, effects, secrets, untracked
}
