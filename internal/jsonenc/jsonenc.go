package jsonenc

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// plainSafe and htmlSafe tell the ASCII bytes AppendString writes as they
// are, without and with HTML escaping: one look-up a byte on the request
// path instead of five comparisons. Never written after they are built.
var plainSafe, htmlSafe = safeSets()

func safeSets() (plain, html [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		plain[c] = c >= 0x20 && c != '"' && c != '\\'
		html[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return plain, html
}

// AppendString appends s quoted as encoding/json does: ", \ and control
// characters escaped (\b \f \n \r \t short, the rest \u00XX), invalid
// UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped; with html, also <,
// > and & (\u003c…), as json.Marshal does by default.
func AppendString(b []byte, s string, html bool) []byte {
	safe := &plainSafe
	if html {
		safe = &htmlSafe
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendFloat appends f as encoding/json writes a float64: the shortest
// representation, in exponent form below 1e-6 or from 1e21, the exponent
// without a leading zero ("1e-7"). f must be finite.
func AppendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendValue appends a decoded JSON tree as json.Marshal does (HTML
// escaped, map keys sorted): map[string]any, []any, string, json.Number,
// float64, bool and nil. Other types are an error.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, t, true), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case json.Number:
		if t == "" {
			return append(b, '0'), nil // encoding/json writes an empty Number as 0
		}
		if !json.Valid([]byte(t)) {
			return b, fmt.Errorf("jsonenc: invalid number literal %q", string(t))
		}
		return append(b, t...), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return b, fmt.Errorf("jsonenc: unsupported value %v", t)
		}
		return AppendFloat(b, t), nil
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if t == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(AppendString(b, k, true), ':')
			var err error
			if b, err = AppendValue(b, t[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, fmt.Errorf("jsonenc: unsupported type %T", v)
}
