package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail/internal/jsonenc"
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
	b = jsonenc.AppendString(b, r.ID, false)
	b = append(b, `,"timestamp":"`...)
	b = r.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","idp_name":`...)
	b = jsonenc.AppendString(b, r.IdPName, false)
	b = append(b, `,"action":`...)
	b = jsonenc.AppendString(b, r.Action, false)
	b = append(b, `,"resource_type":`...)
	b = jsonenc.AppendString(b, r.ResourceType, false)
	b = optString(b, `,"user_email":`, r.UserEmail)
	b = optString(b, `,"user_name":`, r.UserName)
	b = optString(b, `,"user_display_name":`, r.UserDisplayName)
	b = optString(b, `,"group_name":`, r.GroupName)
	b = optString(b, `,"resource_id":`, r.ResourceID)
	b = optString(b, `,"idp_resource_id":`, r.IdPResourceID)
	b = append(b, `,"outcome":`...)
	b = jsonenc.AppendString(b, r.Outcome, false)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = optString(b, `,"error_detail":`, r.ErrorDetail)
	b = optString(b, `,"scim_type":`, r.SCIMType)
	b = optString(b, `,"request_body":`, r.RequestBody)
	if r.BodyTruncated {
		b = append(b, `,"body_truncated":true`...)
	}
	b = append(b, `,"duration_ms":`...)
	b = jsonenc.AppendFloat(b, r.DurationMS)
	b = optString(b, `,"direction":`, r.Direction)
	b = optString(b, `,"destination_host":`, r.DestinationHost)
	b = append(b, `,"path":`...)
	b = jsonenc.AppendString(b, r.Path, false)
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
			b = jsonenc.AppendString(b, c.Op, false)
			b = append(b, `,"attribute":`...)
			b = jsonenc.AppendString(b, c.Attribute, false)
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
	return jsonenc.AppendString(append(b, key...), s, false)
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
		b = jsonenc.AppendString(b, s, false)
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
