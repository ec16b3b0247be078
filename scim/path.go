package scim

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

var errBadPath = errors.New("scim: not an attribute path")

// eqValuePath matches the value path IdPs send most, attr[sub eq "x"] with
// an optional .sub after it: members[value eq "…"], emails[type eq "work"].value.
var eqValuePath = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*)\[([A-Za-z][A-Za-z0-9_-]*) (?i:eq) ("(?:[^"\\]|\\.)*")\](?:\.([A-Za-z][A-Za-z0-9_-]*))?$`)

// parsePath parses a PATCH path (RFC 7644 §3.5.2). Paths with a value
// filter go to the SCIM filter parser; the common simple forms
// (attr, attr.sub, urn:…:attr[.sub]) are split here, because the parser
// costs about 100 µs a path and IdPs send several per request.
func parsePath(path string) (filter.Path, error) {
	if strings.ContainsAny(path, "[]\" ") {
		if p, ok := parseEqValuePath(path); ok {
			return p, nil
		}
		return filter.ParsePath([]byte(path))
	}
	var p filter.Path
	rest := path
	if i := strings.LastIndexByte(path, ':'); i >= 0 {
		uri := path[:i]
		p.AttributePath.URIPrefix = &uri
		rest = path[i+1:]
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	if !attrName(name) || (hasSub && !attrName(sub)) {
		return p, errBadPath
	}
	p.AttributePath.AttributeName = name
	if hasSub {
		p.AttributePath.SubAttribute = &sub
	}
	return p, nil
}

// attrName: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT /
// ALPHA (RFC 7643 §2.1), plus "$ref".
func attrName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// parseEqValuePath splits attr[sub eq "x"](.sub) by hand; anything else is
// left to the filter parser. The literal is decoded as the JSON string RFC
// 7644 says it is (the filter parser keeps its escapes as sent).
func parseEqValuePath(path string) (filter.Path, bool) {
	m := eqValuePath.FindStringSubmatch(path)
	if m == nil {
		return filter.Path{}, false
	}
	var value string
	if err := json.Unmarshal([]byte(m[3]), &value); err != nil {
		return filter.Path{}, false
	}
	p := filter.Path{
		AttributePath: filter.AttributePath{AttributeName: m[1]},
		ValueExpression: &filter.AttributeExpression{
			AttributePath: filter.AttributePath{AttributeName: m[2]},
			Operator:      filter.EQ,
			CompareValue:  value,
		},
	}
	if m[4] != "" {
		sub := m[4]
		p.SubAttribute = &sub
	}
	return p, true
}
