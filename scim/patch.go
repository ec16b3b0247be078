package scim

import (
	"fmt"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// Operation is one PATCH operation (RFC 7644 §3.5.2) as an IdP sent it,
// normalised: the op in lower case, and a path-less operation whose value is
// an object split into one operation per member, as Okta and Entra ID send
// `{"op":"replace","value":{"active":false}}` and
// `{"op":"Replace","value":{"name.givenName":"Ann"}}`.
type Operation struct {
	Op    string // add, replace or remove
	Path  string // as sent (or the member name of a split path-less op)
	Value any    // decoded JSON; nil when absent
	// HasValue distinguishes "value": null from no value at all.
	HasValue bool
	// attr is the parsed path; nil when Path does not parse.
	attr *filter.Path
}

// Attribute is the lower-case attribute name the operation targets
// ("active", "emails", "members", "name"), without a schema URN.
func (o Operation) Attribute() string {
	if o.attr == nil {
		return strings.ToLower(o.Path)
	}
	return strings.ToLower(o.attr.AttributePath.AttributeName)
}

// ParseOperations reads the Operations of a PatchOp body. It returns the
// operations it could read and one note per operation it could not.
func ParseOperations(body object) ([]Operation, []string) {
	raw, ok := get(body, "Operations")
	if !ok {
		return nil, []string{"patch: no Operations"}
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, []string{"patch: Operations is not an array"}
	}
	var ops []Operation
	var notes []string
	for i, e := range list {
		m, ok := e.(object)
		if !ok {
			notes = append(notes, fmt.Sprintf("patch: operation %d is not an object", i))
			continue
		}
		op := strings.ToLower(strings.TrimSpace(str(m, "op")))
		switch op {
		case "add", "replace", "remove":
		default:
			notes = append(notes, fmt.Sprintf("patch: operation %d: unknown op %q", i, str(m, "op")))
			continue
		}
		value, hasValue := get(m, "value")
		path := strings.TrimSpace(str(m, "path"))
		if path == "" {
			obj, ok := value.(object)
			if !ok {
				if op != "remove" || hasValue {
					notes = append(notes, fmt.Sprintf("patch: operation %d: no path and the value is not an object", i))
				} else {
					notes = append(notes, fmt.Sprintf("patch: operation %d: remove without a path", i))
				}
				continue
			}
			for _, k := range sortedKeys(obj) {
				if ignoredPathlessKey(k) {
					continue
				}
				ops = append(ops, newOperation(op, k, obj[k], true))
			}
			continue
		}
		o := newOperation(op, path, value, hasValue)
		if o.attr == nil {
			notes = append(notes, fmt.Sprintf("patch: operation %d: path %q does not parse", i, path))
		}
		ops = append(ops, o)
	}
	return ops, notes
}

func newOperation(op, path string, value any, hasValue bool) Operation {
	o := Operation{Op: op, Path: path, Value: value, HasValue: hasValue}
	if p, err := parsePath(path); err == nil {
		o.attr = &p
	}
	return o
}

// ignoredPathlessKey: members of a path-less value that are not changes.
// Okta's group rename sends the group's own id along with displayName.
func ignoredPathlessKey(k string) bool {
	return strings.EqualFold(k, "id") || strings.EqualFold(k, "schemas") || strings.EqualFold(k, "meta")
}

// filterEqValues collects the compare values of `attr eq "x"` expressions
// joined by or, the way IdPs address members: members[value eq "id"]. An
// and with a condition on another attribute (type eq "User") narrows the
// same ids, so it yields them too; anything else yields nil.
func filterEqValues(e filter.Expression, attr string) []string {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if strings.EqualFold(x.AttributePath.AttributeName, attr) && x.AttributePath.SubAttribute == nil &&
			strings.EqualFold(string(x.Operator), "eq") {
			if s, ok := x.CompareValue.(string); ok {
				return []string{s}
			}
		}
	case *filter.LogicalExpression:
		l := filterEqValues(x.Left, attr)
		r := filterEqValues(x.Right, attr)
		switch {
		case x.Operator == filter.OR && l != nil && r != nil:
			return append(l, r...)
		case x.Operator == filter.AND && l != nil && r == nil:
			return l // members[value eq "a" and type eq "User"]
		case x.Operator == filter.AND && r != nil && l == nil:
			return r
		}
	}
	return nil
}

// memberTargets returns the member ids a members operation names, by value
// filter (members[value eq "a"]) or by value list (Entra ID's remove
// without aadOptscim062020: path "members", value [{"value":"a"}]). all is
// true when the operation names the whole members attribute with no ids;
// understood is false for a filter that does not name members by value.
func (o Operation) memberTargets() (ids []string, all, understood bool) {
	if o.attr != nil && o.attr.ValueExpression != nil {
		ids = filterEqValues(o.attr.ValueExpression, "value")
		return ids, false, ids != nil
	}
	ids = memberIDs(o.Value)
	return ids, len(ids) == 0, true
}
