package scim

import "strings"

// Redacted replaces every secret value in a record.
const Redacted = "[REDACTED]"

// Redactor replaces secret values in decoded SCIM bodies: any member named
// password (or one of the extra names), in any case and at any depth, and
// the value of any PATCH operation whose path names one. A name matches the
// whole key or its last segment, so "urn:…:User:password" and
// "name.password" are secrets too. The zero value redacts password only.
// A Redactor is immutable and safe for concurrent use.
type Redactor struct {
	names []string
}

// NewRedactor returns a Redactor for password plus the extra names.
func NewRedactor(extra ...string) Redactor {
	names := []string{"password"}
	for _, n := range extra {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return Redactor{names: names}
}

// IsSecret reports whether an attribute name or PATCH path names a secret.
func (r Redactor) IsSecret(name string) bool {
	names := r.names
	if len(names) == 0 {
		names = []string{"password"}
	}
	last := name
	if i := strings.LastIndexAny(last, ":."); i >= 0 {
		last = last[i+1:]
	}
	for _, n := range names {
		if strings.EqualFold(name, n) || strings.EqualFold(last, n) {
			return true
		}
	}
	return false
}

// isSecretPath is IsSecret for a PATCH path, which may carry a value filter
// (`password`, `urn:…:User:password`, `x[type eq "a"].password`).
func (r Redactor) isSecretPath(path string) bool {
	if r.IsSecret(path) {
		return true
	}
	p, err := parsePath(path)
	if err != nil {
		return false
	}
	if p.SubAttribute != nil {
		return r.IsSecret(*p.SubAttribute)
	}
	return r.IsSecret(p.AttributePath.String())
}

// Value returns v with every secret replaced. It copies what it changes and
// never modifies v.
func (r Redactor) Value(v any) any {
	switch t := v.(type) {
	case object:
		out := make(object, len(t))
		for k, e := range t {
			if r.IsSecret(k) {
				out[k] = Redacted
			} else {
				out[k] = r.Value(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = r.Value(e)
		}
		return out
	}
	return v
}

// Body returns a decoded request body with secrets replaced, including the
// values of PATCH operations whose path names a secret.
func (r Redactor) Body(v any) any {
	out := r.Value(v)
	o, ok := out.(object)
	if !ok {
		return out
	}
	ops, _ := get(o, "Operations")
	list, _ := ops.([]any)
	for _, e := range list {
		op, ok := e.(object)
		if !ok {
			continue
		}
		if p := str(op, "path"); p != "" && r.isSecretPath(p) {
			for k := range op {
				if strings.EqualFold(k, "value") {
					op[k] = Redacted
				}
			}
		}
	}
	return out
}
