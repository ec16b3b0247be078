package scimtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// patchRequest is a PatchOp message (RFC 7644 §3.5.2). encoding/json
// matches "Operations" case-insensitively, as some clients need.
type patchRequest struct {
	Schemas    []string         `json:"schemas"`
	Operations []patchOperation `json:"Operations"`
}

type patchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"` // nil when absent or null
}

// patched applies a PatchOp body to a copy of attrs and returns the copy;
// attrs is left untouched when any operation fails, so a PATCH is atomic.
//
// It accepts what IdPs really send: op names in any case ("Replace"), ops
// without path whose value object has dotted or URN-qualified keys
// ("name.givenName", "urn:…:enterprise:2.0:User:employeeNumber"), value
// filters (emails[type eq "work"].value, members[value eq "id"]) and
// Entra's remove of "members" with a value naming the members to remove.
func patched(attrs map[string]any, body []byte) (map[string]any, error) {
	var req patchRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Operations) == 0 {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "PatchOp needs at least one operation in %q", "Operations")
	}
	out := deepCopy(attrs).(map[string]any)
	for i, op := range req.Operations {
		if err := applyOp(out, op); err != nil {
			if se, ok := err.(*scimError); ok {
				se.detail = fmt.Sprintf("operation %d: %s", i+1, se.detail)
			}
			return nil, err
		}
	}
	return out, nil
}

func applyOp(res map[string]any, op patchOperation) error {
	name := strings.ToLower(op.Op)
	switch name {
	case "add", "replace", "remove":
	default:
		return errorf(http.StatusBadRequest, "invalidSyntax", "unsupported op %q", op.Op)
	}
	if op.Path != "" {
		return applyPath(res, name, op.Path, op.Value)
	}
	if name == "remove" {
		return errorf(http.StatusBadRequest, "noTarget", "remove needs a path")
	}
	obj, ok := op.Value.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "invalidValue", "%s without path needs an object value", op.Op)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when keys overlap ("name" and "name.givenName")
	for _, k := range keys {
		if isServerOwned(k) {
			// Okta's group rename repeats the id; ignoring it is what servers do.
			continue
		}
		if err := applyPath(res, name, k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

func isServerOwned(attr string) bool {
	return strings.EqualFold(attr, "id") || strings.EqualFold(attr, "meta") || strings.EqualFold(attr, "schemas")
}

// applyPath applies one operation at a path (RFC 7644 §3.5.2, "path").
func applyPath(res map[string]any, op, rawPath string, value any) error {
	// A bare extension URN names the whole extension object; the parser would
	// read its last segment as an attribute name.
	if _, whole := res[keyOf(res, rawPath)]; strings.HasPrefix(strings.ToLower(rawPath), "urn:") &&
		(whole || strings.EqualFold(rawPath, schemaEnterpriseUser)) {
		return applyAttr(res, op, rawPath, value)
	}
	p, err := filter.ParsePathNumber([]byte(rawPath))
	if err != nil {
		return errorf(http.StatusBadRequest, "invalidPath", "parsing path %q: %v", rawPath, err)
	}
	create := op != "remove"
	container := res
	if uri := p.AttributePath.URI(); uri != "" && !strings.Contains(strings.ToLower(uri), ":core:") {
		if container, err = child(res, uri, create); container == nil || err != nil {
			return err
		}
	}
	attr := p.AttributePath.AttributeName
	if isServerOwned(attr) && p.AttributePath.URI() == "" {
		return errorf(http.StatusBadRequest, "mutability", "%q cannot be modified", attr)
	}
	if sub := p.AttributePath.SubAttributeName(); sub != "" {
		if container, err = child(container, attr, create); container == nil || err != nil {
			return err
		}
		attr = sub
	}
	if p.ValueExpression == nil {
		return applyAttr(container, op, attr, value)
	}
	return applyFiltered(container, op, attr, p.ValueExpression, p.SubAttributeName(), value)
}

// child returns the complex attribute name of m, creating it when asked;
// nil without error means it is absent and was not created.
func child(m map[string]any, name string, create bool) (map[string]any, error) {
	k := keyOf(m, name)
	v, ok := m[k]
	if !ok || v == nil {
		if !create {
			return nil, nil
		}
		c := map[string]any{}
		m[k] = c
		return c, nil
	}
	c, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "invalidPath", "%q is not a complex attribute", name)
	}
	return c, nil
}

// applyAttr applies an operation to attribute attr of m, without filter.
func applyAttr(m map[string]any, op, attr string, value any) error {
	k := keyOf(m, attr)
	cur, exists := m[k]
	switch op {
	case "remove":
		arr, isArr := cur.([]any)
		switch {
		case !exists:
		case value == nil || !isArr:
			delete(m, k)
		default:
			// Entra (without aadOptscim062020) removes members as
			// {"op":"Remove","path":"members","value":[{"value":"id"}]}:
			// remove only the listed values, not the whole attribute.
			m[k] = removeValues(arr, asList(value))
		}
		return nil
	case "add":
		if value == nil {
			return errorf(http.StatusBadRequest, "invalidValue", "add of %q needs a value", attr)
		}
		if arr, ok := cur.([]any); ok {
			m[k] = append(arr, asList(value)...)
			return nil
		}
	}
	if cm, ok := cur.(map[string]any); ok {
		if vm, ok := value.(map[string]any); ok {
			merge(cm, vm) // sub-attributes not given are left unchanged
			return nil
		}
	}
	if value == nil {
		delete(m, k) // replace with null clears the attribute
		return nil
	}
	m[k] = value
	return nil
}

// applyFiltered applies an operation to the elements of multi-valued
// attribute attr that match expr, or to sub-attribute sub of them.
func applyFiltered(m map[string]any, op, attr string, expr filter.Expression, sub string, value any) error {
	k := keyOf(m, attr)
	cur, exists := m[k]
	arr, ok := cur.([]any)
	if exists && cur != nil && !ok {
		return errorf(http.StatusBadRequest, "invalidPath", "%q is not multi-valued", attr)
	}
	if !exists && op == "remove" {
		return nil
	}
	out := make([]any, 0, len(arr)+1)
	matched := false
	for _, el := range arr {
		em, _ := el.(map[string]any)
		hit, err := match(em, expr)
		if err != nil {
			return err
		}
		if !hit {
			out = append(out, el)
			continue
		}
		matched = true
		if op == "remove" && sub == "" {
			continue
		}
		if err := setElement(em, op, sub, value); err != nil {
			return err
		}
		out = append(out, em)
	}
	if !matched && op != "remove" {
		// Entra sends Add emails[type eq "work"].value to users that have no
		// work e-mail yet; create the element the filter describes.
		ae, ok := expr.(*filter.AttributeExpression)
		if !ok || ae.Operator != filter.EQ || ae.AttributePath.SubAttribute != nil {
			return errorf(http.StatusBadRequest, "noTarget", "no %s value matches %v", attr, expr)
		}
		el := map[string]any{ae.AttributePath.AttributeName: ae.CompareValue}
		if err := setElement(el, op, sub, value); err != nil {
			return err
		}
		out = append(out, el)
	}
	m[k] = out
	return nil
}

func setElement(el map[string]any, op, sub string, value any) error {
	switch {
	case sub != "" && op == "remove":
		delete(el, keyOf(el, sub))
	case sub != "":
		el[keyOf(el, sub)] = value
	default:
		vm, ok := value.(map[string]any)
		if !ok {
			return errorf(http.StatusBadRequest, "invalidValue", "a filtered path without sub-attribute needs an object value")
		}
		merge(el, vm)
	}
	return nil
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		dst[keyOf(dst, k)] = v
	}
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// removeValues drops the elements of arr equal to one of vals; complex
// values are compared by their "value" sub-attribute when they have one.
func removeValues(arr, vals []any) []any {
	out := make([]any, 0, len(arr))
	for _, el := range arr {
		drop := false
		for _, v := range vals {
			em, ok1 := el.(map[string]any)
			vm, ok2 := v.(map[string]any)
			if ok1 && ok2 && vm[keyOf(vm, "value")] != nil {
				drop = reflect.DeepEqual(em[keyOf(em, "value")], vm[keyOf(vm, "value")])
			} else {
				drop = reflect.DeepEqual(el, v)
			}
			if drop {
				break
			}
		}
		if !drop {
			out = append(out, el)
		}
	}
	return out
}

// match reports whether resource or element res satisfies a SCIM filter
// (RFC 7644 §3.4.2.2). Strings compare case-insensitively.
func match(res map[string]any, expr filter.Expression) (bool, error) {
	switch e := expr.(type) {
	case *filter.AttributeExpression:
		return compare(lookup(res, e.AttributePath), e.Operator, e.CompareValue)
	case *filter.LogicalExpression:
		l, err := match(res, e.Left)
		if err != nil {
			return false, err
		}
		r, err := match(res, e.Right)
		if err != nil {
			return false, err
		}
		if e.Operator == filter.AND {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		v, err := match(res, e.Expression)
		return !v, err
	}
	return false, errorf(http.StatusBadRequest, "invalidFilter", "unsupported filter expression %v", expr)
}

// lookup returns the values at an attribute path; a multi-valued attribute
// yields one value per element.
func lookup(res map[string]any, ap filter.AttributePath) []any {
	m := res
	if uri := ap.URI(); uri != "" && !strings.Contains(strings.ToLower(uri), ":core:") {
		m, _ = res[keyOf(res, uri)].(map[string]any)
	}
	v, ok := m[keyOf(m, ap.AttributeName)]
	if !ok || v == nil {
		return nil
	}
	vals := asList(v)
	if ap.SubAttribute == nil {
		return vals
	}
	var out []any
	for _, x := range vals {
		if xm, ok := x.(map[string]any); ok {
			if s, ok := xm[keyOf(xm, *ap.SubAttribute)]; ok && s != nil {
				out = append(out, s)
			}
		}
	}
	return out
}

func compare(vals []any, op filter.CompareOperator, want any) (bool, error) {
	switch op {
	case filter.PR:
		return len(vals) > 0, nil
	case filter.NE:
		ok, err := compare(vals, filter.EQ, want)
		return !ok, err
	case filter.EQ, filter.CO, filter.SW, filter.EW, filter.GT, filter.GE, filter.LT, filter.LE:
	default:
		return false, errorf(http.StatusBadRequest, "invalidFilter", "unsupported operator %q", op)
	}
	for _, v := range vals {
		if compareOne(v, op, want) {
			return true, nil
		}
	}
	return false, nil
}

func compareOne(v any, op filter.CompareOperator, want any) bool {
	if ws, ok := want.(string); ok {
		s, ok := v.(string)
		if !ok {
			return false
		}
		s, ws = strings.ToLower(s), strings.ToLower(ws)
		switch op {
		case filter.EQ:
			return s == ws
		case filter.CO:
			return strings.Contains(s, ws)
		case filter.SW:
			return strings.HasPrefix(s, ws)
		case filter.EW:
			return strings.HasSuffix(s, ws)
		}
		return orderOK(strings.Compare(s, ws), op)
	}
	if wn, ok := want.(json.Number); ok {
		a, err1 := toFloat(v)
		b, err2 := wn.Float64()
		if err1 != nil || err2 != nil {
			return false
		}
		c := 0
		if a < b {
			c = -1
		} else if a > b {
			c = 1
		}
		return orderOK(c, op)
	}
	return op == filter.EQ && v == want // booleans and null
}

func orderOK(c int, op filter.CompareOperator) bool {
	switch op {
	case filter.EQ:
		return c == 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Float64()
	case float64:
		return n, nil
	case int:
		return float64(n), nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}
