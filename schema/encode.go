package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the record's JSON to dst: the bytes a json.Encoder
// with SetEscapeHTML(false) writes, without its trailing newline (a test
// holds the two equal). It builds them by appending, without reflection:
// every record is encoded on the request path (the spool) and again by
// the sinks, and encoding/json took a quarter of the cost of deriving and
// encoding a record.
//
// It fails where encoding/json does: an invalid json.RawMessage in
// Changes, a non-finite DurationMS, a Timestamp outside years 0–9999.
func (r *Record) AppendJSON(dst []byte) ([]byte, error) {
	if y := r.Timestamp.Year(); y < 0 || y > 9999 {
		return dst, fmt.Errorf("schema: record %s: timestamp year %d outside 0–9999", r.ID, y)
	}
	if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
		return dst, fmt.Errorf("schema: record %s: duration_ms is not a finite number", r.ID)
	}
	b := append(dst, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"timestamp":"`...)
	b = r.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","idp_name":`...)
	b = appendString(b, r.IdPName)
	b = append(b, `,"action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"resource_type":`...)
	b = appendString(b, r.ResourceType)
	b = optString(b, `,"user_email":`, r.UserEmail)
	b = optString(b, `,"user_name":`, r.UserName)
	b = optString(b, `,"user_display_name":`, r.UserDisplayName)
	b = optString(b, `,"group_name":`, r.GroupName)
	b = optString(b, `,"resource_id":`, r.ResourceID)
	b = optString(b, `,"idp_resource_id":`, r.IdPResourceID)
	b = append(b, `,"outcome":`...)
	b = appendString(b, r.Outcome)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = optString(b, `,"error_detail":`, r.ErrorDetail)
	b = optString(b, `,"scim_type":`, r.SCIMType)
	b = optString(b, `,"request_body":`, r.RequestBody)
	if r.BodyTruncated {
		b = append(b, `,"body_truncated":true`...)
	}
	b = append(b, `,"duration_ms":`...)
	b = appendFloat(b, r.DurationMS)
	b = optString(b, `,"direction":`, r.Direction)
	b = optString(b, `,"destination_host":`, r.DestinationHost)
	b = append(b, `,"path":`...)
	b = appendString(b, r.Path)
	b = optString(b, `,"query":`, r.Query)
	b = optString(b, `,"user_agent":`, r.UserAgent)
	b = optString(b, `,"client_ip":`, r.ClientIP)
	b = optString(b, `,"trace_id":`, r.TraceID)
	b = optString(b, `,"span_id":`, r.SpanID)
	if r.Active != nil {
		b = append(b, `,"active":`...)
		b = strconv.AppendBool(b, *r.Active)
	}
	b = optStrings(b, `,"members_added":`, r.MembersAdded)
	b = optStrings(b, `,"members_removed":`, r.MembersRemoved)
	if len(r.Changes) > 0 {
		b = append(b, `,"changes":[`...)
		for i, c := range r.Changes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"op":`...)
			b = appendString(b, c.Op)
			b = append(b, `,"attribute":`...)
			b = appendString(b, c.Attribute)
			var err error
			if b, err = optRaw(b, `,"old":`, c.Old); err != nil {
				return dst, fmt.Errorf("schema: record %s: change %d old: %w", r.ID, i, err)
			}
			if b, err = optRaw(b, `,"new":`, c.New); err != nil {
				return dst, fmt.Errorf("schema: record %s: change %d new: %w", r.ID, i, err)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.NoOp {
		b = append(b, `,"no_op":true`...)
	}
	b = optStrings(b, `,"events":`, r.Events)
	b = optStrings(b, `,"notes":`, r.Notes)
	return append(b, '}'), nil
}

func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func optStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(append(b, key...), '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// optRaw appends a RawMessage compacted, as encoding/json does; empty is
// left out (omitempty).
func optRaw(b []byte, key string, v json.RawMessage) ([]byte, error) {
	if len(v) == 0 {
		return b, nil
	}
	n := len(b)
	buf := bytes.NewBuffer(append(b, key...)) // compacts into b's room
	if err := json.Compact(buf, v); err != nil {
		return b[:n], err
	}
	return buf.Bytes(), nil
}

// appendFloat formats a float64 as encoding/json does: the shortest
// representation, in exponent form below 1e-6 or from 1e21, with a
// two-digit exponent cleaned to one ("1e-07" → "1e-7").
func appendFloat(b []byte, f float64) []byte {
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

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does without HTML escaping:
// ", \ and control characters escaped (\b \f \n \r \t short, the rest
// \u00XX), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped so
// the output is also valid JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
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
