package scim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	segjson "github.com/segmentio/encoding/json"
)

// object is a decoded JSON object. SCIM attribute names are case-insensitive
// (RFC 7643 §2.1), so lookups go through get.
type object = map[string]any

// decodeJSON decodes b keeping numbers as json.Number, so a re-encoded body
// shows the digits the client sent. It decodes with segmentio's encoding
// (made for encoding/json's results, about twice as fast into generic
// values, a differential fuzz test holds the two equal). segmentio's
// decoder reads each array and object again at every level it is nested
// in, so its time grows with the sum of the bytes' depths: with the
// square of the depth for a chain of brackets (a second for 10,000
// levels: 20 KB), with the depth times the size for a wide value deep
// down (a 1 MiB list 63 levels down: four to six times encoding/json's
// time). A body nested deeper, or deeper on average, than any SCIM
// resource goes to encoding/json, linear, which refuses more than 10,000
// levels.
func decodeJSON(b []byte) (any, error) {
	if nestedDeeperThan(b, fastDepth, fastAverageDepth) {
		return decodeStd(b)
	}
	var v any
	rest, err := segjson.Parse(b, &v, segjson.UseNumber)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, errTrailingData
	}
	return v, nil
}

// fastDepth bounds the nesting decoded by segmentio's decoder: SCIM
// bodies nest a handful of levels (a Bulk request's PATCH of an enterprise
// manager, about eight).
const fastDepth = 64

// fastAverageDepth bounds the average depth of the bytes decoded by
// segmentio's decoder, so the work it does again is at most this many
// readings of the body. SCIM bodies average three or four.
const fastAverageDepth = 8

// decodeStd is decodeJSON with encoding/json.
func decodeStd(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errTrailingData
	}
	return v, nil
}

// nestedDeeperThan reports whether b opens more than max arrays and
// objects at once, outside strings, or its bytes are inside more than
// maxAverage of them on average. A close without an open does not lower
// the depth below 0: such bytes follow what a decoder reads (it stops at
// the first error, or after the first value), and must not make up for
// a deep value before them.
func nestedDeeperThan(b []byte, max, maxAverage int) bool {
	depth, inString, escaped := 0, false, false
	sum := 0 // of the bytes' depths, at most len(b)*max
	for _, c := range b {
		sum += depth
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return true
			}
		case (c == ']' || c == '}') && depth > 0:
			depth--
		}
	}
	return sum > maxAverage*len(b)
}

type constError string

func (e constError) Error() string { return string(e) }

const errTrailingData = constError("trailing data after the JSON value")

// get returns the member of o named name, matched exactly first, then
// case-insensitively.
func get(o object, name string) (any, bool) {
	if v, ok := o[name]; ok {
		return v, true
	}
	for k, v := range o {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// str returns the member named name when it is a string.
func str(o object, name string) string {
	v, _ := get(o, name)
	s, _ := v.(string)
	return s
}

// boolValue reads a SCIM boolean as IdPs send it: true/false, or the
// strings "True"/"False" (Entra ID) in any case.
func boolValue(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// primaryEmail picks emails[primary].value, else emails[0].value.
func primaryEmail(emails any) string {
	list, _ := emails.([]any)
	first := ""
	for _, e := range list {
		o, ok := e.(object)
		if !ok {
			if s, ok := e.(string); ok && first == "" {
				first = s
			}
			continue
		}
		v := str(o, "value")
		if p, _ := get(o, "primary"); v != "" {
			if b, _ := boolValue(p); b {
				return v
			}
			if first == "" {
				first = v
			}
		}
	}
	return first
}

// primaryOnly returns the value of the element marked primary, else "".
func primaryOnly(emails any) string {
	list, _ := emails.([]any)
	for _, e := range list {
		if o, ok := e.(object); ok {
			if p, _ := get(o, "primary"); str(o, "value") != "" {
				if b, _ := boolValue(p); b {
					return str(o, "value")
				}
			}
		}
	}
	return ""
}

// memberIDs lists the ids of a SCIM members value: [{"value":"id"}…], a
// single {"value":"id"}, or bare strings.
func memberIDs(v any) []string {
	switch m := v.(type) {
	case []any:
		ids := make([]string, 0, len(m))
		for _, e := range m {
			ids = append(ids, memberIDs(e)...)
		}
		return ids
	case object:
		if id := str(m, "value"); id != "" {
			return []string{id}
		}
	case string:
		if m != "" {
			return []string{m}
		}
	}
	return nil
}

// stringValue renders a scalar value as a string (IdPs send externalId and
// userName as strings, but a number is not an error); "" for any other.
func stringValue(v any) string {
	s, _ := scalarString(v)
	return s
}

// scalarString is stringValue telling whether v was a string or number,
// so that an object where a string belongs is not taken for "".
func scalarString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	}
	return "", false
}

// objectKeys returns the member names of the JSON object b in the order
// sent, each once, which decoding into an object forgets; nil when b is not
// a JSON object.
func objectKeys(b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		if k, ok := t.(string); ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

// sortedKeys returns o's keys in order, so that splitting a path-less PATCH
// value yields the same changes on every run.
func sortedKeys(o object) []string {
	return slices.Sorted(maps.Keys(o))
}

// emailsHash fingerprints an emails list: each element's value and type
// in lower case and its primary flag, sorted, so a service echoing the
// list in another order or with display values added hashes the same.
// "" when emails is not a list.
func emailsHash(emails any) string {
	list, ok := asList(emails).([]any)
	if !ok {
		return ""
	}
	keys := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case object:
			p, _ := get(x, "primary")
			primary, _ := boolValue(p)
			keys = append(keys, strings.ToLower(str(x, "value"))+"\x00"+strings.ToLower(str(x, "type"))+"\x00"+strconv.FormatBool(primary))
		case string:
			keys = append(keys, strings.ToLower(x))
		}
	}
	slices.Sort(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x01")))
	return hex.EncodeToString(sum[:8])
}
