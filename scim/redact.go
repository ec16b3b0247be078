package scim

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"
)

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

// isSecretPath reports whether a PATCH path names a secret anywhere in it:
// `password`, `password.value`, `urn:…:User:password`, `x[type eq "a"].password`.
// It looks at every name-like token rather than parsing, so that a path
// the parser refuses ("password ", "password]") is still caught; a filter
// literal that happens to be a secret's name only costs a redacted value.
func (r Redactor) isSecretPath(path string) bool {
	for _, tok := range strings.FieldsFunc(path, func(c rune) bool {
		return !(c == '-' || c == '_' || c == '$' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z'))
	}) {
		if r.IsSecret(tok) {
			return true
		}
	}
	return false
}

// Value returns v with every secret replaced: members named as secrets,
// and in any object with a "path" member naming a secret (a PATCH
// operation, at any depth: inside a Bulk request too) every "value"
// member. Keys are matched in any case, all of them, so a body with both
// "path" and "Path" cannot slip one past. Value copies; v is not modified.
func (r Redactor) Value(v any) any {
	switch t := v.(type) {
	case object:
		secretOp := false
		for k, e := range t {
			if p, ok := e.(string); ok && strings.EqualFold(k, "path") && r.isSecretPath(p) {
				secretOp = true
			}
		}
		out := make(object, len(t))
		for k, e := range t {
			if r.IsSecret(k) || (secretOp && strings.EqualFold(k, "value")) {
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

// cannotHold reports whether the JSON text raw is sure to hold no secret,
// without decoding it: a secret's key or path names it, and in ASCII text
// without \u escapes every decoded key and string is the bytes as written
// but for the short escapes (\" \\ \/ \b \f \n \r \t), so a name without
// the characters they stand for that appears nowhere in the bytes, in any
// ASCII case, appears in no key either. Anything else (non-ASCII text,
// where Unicode case folding matches more than ASCII's, \u escapes, a
// name outside ASCII or holding such a character: "api/key" may be sent
// as "api\/key") is left to Has.
func (r Redactor) cannotHold(raw []byte) bool {
	if bytes.Contains(raw, []byte(`\u`)) || !isASCII(raw) {
		return false
	}
	names := r.names
	if len(names) == 0 {
		names = []string{"password"}
	}
	for _, n := range names {
		if !isASCII([]byte(n)) || mayBeEscaped(n) || containsFoldASCII(raw, n) {
			return false
		}
	}
	return true
}

// mayBeEscaped reports whether name holds a character JSON text may or
// must carry escaped: " \ / and the controls.
func mayBeEscaped(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == '"' || c == '\\' || c == '/' {
			return true
		}
	}
	return false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s holds name in any ASCII case.
func containsFoldASCII(s []byte, name string) bool {
	if len(name) == 0 {
		return true
	}
	first := lowerASCII(name[0])
	for i := 0; i+len(name) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(name) && lowerASCII(s[i+j]) == lowerASCII(name[j]) {
			j++
		}
		if j == len(name) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Has reports whether v holds a value Value would replace. It walks the
// tree the same way Value does, without copying it, so a body with no
// secret (most of them) costs no copy.
func (r Redactor) Has(v any) bool {
	switch t := v.(type) {
	case object:
		for k, e := range t {
			if r.IsSecret(k) {
				return true
			}
			if p, ok := e.(string); ok && strings.EqualFold(k, "path") && r.isSecretPath(p) {
				for k2 := range t {
					if strings.EqualFold(k2, "value") {
						return true
					}
				}
			}
		}
		for _, e := range t {
			if r.Has(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if r.Has(e) {
				return true
			}
		}
	}
	return false
}

// Query returns a raw URL query with the values of secret parameters
// replaced: access_token (RFC 6750 §2.3 lets a client send its bearer
// token there) and the redacted names. Everything else stays as sent.
func (r Redactor) Query(raw string) string {
	if raw == "" || !strings.Contains(raw, "=") {
		return raw
	}
	parts := strings.Split(raw, "&")
	changed := false
	for i, part := range parts {
		k, _, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if strings.EqualFold(name, "access_token") || r.IsSecret(name) {
			parts[i] = k + "=" + url.QueryEscape(Redacted)
			changed = true
		}
	}
	if !changed {
		return raw
	}
	return strings.Join(parts, "&")
}
