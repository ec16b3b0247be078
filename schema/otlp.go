package schema

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ScopeName is the instrumentation scope of the log records NewLogs makes.
const ScopeName = "github.com/scimtrail/scimtrail"

// DefaultServiceName is the service.name resource attribute when
// Resource.ServiceName is empty.
const DefaultServiceName = "scimtrail"

// AttrPrefix starts the attribute key of every Record key in a log record:
// the JSON key "user_email" is the attribute "scim.user_email".
const AttrPrefix = "scim."

// AttrSchemaVersion is the log record attribute holding Version, so a reader
// can tell which keys and types to expect. It is not a Record key.
const AttrSchemaVersion = AttrPrefix + "schema_version"

// EventNameDefault is the log record event name of a record without Events.
// A record with Events is named "scim." + its first event, such as
// "scim.user.created".
const EventNameDefault = "scim.request"

// Attribute keys of Record fields. They are the JSON keys behind AttrPrefix;
// record.v1.json lists the same keys, and a test keeps the three in step.
const (
	attrID             = AttrPrefix + "id"
	attrTimestamp      = AttrPrefix + "timestamp"
	attrIdPName        = AttrPrefix + "idp_name"
	attrAction         = AttrPrefix + "action"
	attrResourceType   = AttrPrefix + "resource_type"
	attrUserEmail      = AttrPrefix + "user_email"
	attrUserName       = AttrPrefix + "user_name"
	attrUserDisplay    = AttrPrefix + "user_display_name"
	attrGroupName      = AttrPrefix + "group_name"
	attrResourceID     = AttrPrefix + "resource_id"
	attrIdPResourceID  = AttrPrefix + "idp_resource_id"
	attrOutcome        = AttrPrefix + "outcome"
	attrStatusCode     = AttrPrefix + "status_code"
	attrErrorDetail    = AttrPrefix + "error_detail"
	attrSCIMType       = AttrPrefix + "scim_type"
	attrBodyTruncated  = AttrPrefix + "body_truncated"
	attrDurationMS     = AttrPrefix + "duration_ms"
	attrPath           = AttrPrefix + "path"
	attrQuery          = AttrPrefix + "query"
	attrUserAgent      = AttrPrefix + "user_agent"
	attrClientIP       = AttrPrefix + "client_ip"
	attrDirection      = AttrPrefix + "direction"
	attrDestination    = AttrPrefix + "destination_host"
	attrTraceID        = AttrPrefix + "trace_id"
	attrSpanID         = AttrPrefix + "span_id"
	attrActive         = AttrPrefix + "active"
	attrMembersAdded   = AttrPrefix + "members_added"
	attrMembersRemoved = AttrPrefix + "members_removed"
	attrChanges        = AttrPrefix + "changes"
	attrNoOp           = AttrPrefix + "no_op"
	attrEvents         = AttrPrefix + "events"
	attrNotes          = AttrPrefix + "notes"
)

// Keys of a change inside the scim.changes attribute, as in Change's JSON.
const (
	changeOp        = "op"
	changeAttribute = "attribute"
	changeOld       = "old"
	changeNew       = "new"
)

// Resource describes the process that produced the records, as OpenTelemetry
// resource attributes. The zero value is ready to use.
type Resource struct {
	// ServiceName is service.name. Empty means "scimtrail".
	ServiceName string
	// ServiceVersion is service.version; left out when empty.
	ServiceVersion string
	// InstanceID is service.instance.id; left out when empty.
	InstanceID string
	// HostName is host.name; left out when empty.
	HostName string
	// Attributes are further resource attributes (OTEL_RESOURCE_ATTRIBUTES),
	// written in key order after the ones above, which they cannot replace.
	Attributes map[string]string
}

// NewLogs returns one resource (res) holding one scope (ScopeName) with one
// log record per record, in order. See AppendLogRecords for the mapping.
func NewLogs(res Resource, recs []Record) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	attrs := rl.Resource().Attributes()
	attrs.PutStr("service.name", orString(res.ServiceName, DefaultServiceName))
	putStrIf(attrs, "service.version", res.ServiceVersion)
	putStrIf(attrs, "service.instance.id", res.InstanceID)
	putStrIf(attrs, "host.name", res.HostName)
	for _, k := range slices.Sorted(maps.Keys(res.Attributes)) {
		if _, taken := attrs.Get(k); !taken {
			attrs.PutStr(k, res.Attributes[k])
		}
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	AppendLogRecords(sl.LogRecords(), recs)
	return ld
}

// AppendLogRecords appends one log record per record to sl, in order:
//
//   - Timestamp is the record's Timestamp (arrival); ObservedTimestamp is
//     Timestamp + DurationMS, the end of the exchange, when scimtrail had
//     everything it records.
//   - Severity is INFO (9) for SUCCESS and ERROR (17) otherwise.
//   - Body is RequestBody as a string; empty when the record has none.
//   - EventName is "scim." + the first of Events, else "scim.request".
//   - TraceID and SpanID are the record's trace_id and span_id, when set.
//   - Attribute "scim.<key>" holds every other JSON key of the record, left
//     out exactly when encoding/json's omitempty leaves the key out; strings
//     are strings, status_code an int, duration_ms a double, active,
//     body_truncated and no_op bools, timestamp an RFC 3339 string, the
//     lists string arrays and changes an array of maps {op, attribute, old,
//     new}, old and new being JSON values as strings (so a value keeps its
//     JSON type, and a consumer need not guess it from the attribute's).
//     AttrSchemaVersion holds Version.
//   - The OpenTelemetry semantic-convention keys repeat what tools search
//     by: http.request.method, http.response.status_code, url.path, and when
//     set url.query, user_agent.original, client.address, user.email.
//
// RecordsFromLogs reads the records back unchanged.
func AppendLogRecords(sl plog.LogRecordSlice, recs []Record) {
	sl.EnsureCapacity(sl.Len() + len(recs))
	for i := range recs {
		putLogRecord(sl.AppendEmpty(), &recs[i])
	}
}

func putLogRecord(lr plog.LogRecord, r *Record) {
	lr.SetTimestamp(timestampOf(r.Timestamp))
	if !r.Timestamp.IsZero() {
		end := r.Timestamp.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))
		lr.SetObservedTimestamp(timestampOf(end))
	}
	if r.Outcome == OutcomeSuccess {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
	}
	if r.RequestBody != "" {
		lr.Body().SetStr(r.RequestBody)
	}
	if id, ok := traceIDOf(r.TraceID); ok {
		lr.SetTraceID(id)
	}
	if id, ok := spanIDOf(r.SpanID); ok {
		lr.SetSpanID(id)
	}
	if len(r.Events) > 0 {
		lr.SetEventName("scim." + r.Events[0])
	} else {
		lr.SetEventName(EventNameDefault)
	}

	a := lr.Attributes()
	a.EnsureCapacity(38)
	a.PutStr(AttrSchemaVersion, Version)
	// Keys without omitempty in Record's JSON are always present.
	a.PutStr(attrID, r.ID)
	a.PutStr(attrTimestamp, r.Timestamp.Format(time.RFC3339Nano))
	a.PutStr(attrIdPName, r.IdPName)
	a.PutStr(attrAction, r.Action)
	a.PutStr(attrResourceType, r.ResourceType)
	putStrIf(a, attrUserEmail, r.UserEmail)
	putStrIf(a, attrUserName, r.UserName)
	putStrIf(a, attrUserDisplay, r.UserDisplayName)
	putStrIf(a, attrGroupName, r.GroupName)
	putStrIf(a, attrResourceID, r.ResourceID)
	putStrIf(a, attrIdPResourceID, r.IdPResourceID)
	a.PutStr(attrOutcome, r.Outcome)
	a.PutInt(attrStatusCode, int64(r.StatusCode))
	putStrIf(a, attrErrorDetail, r.ErrorDetail)
	putStrIf(a, attrSCIMType, r.SCIMType)
	if r.BodyTruncated {
		a.PutBool(attrBodyTruncated, true)
	}
	a.PutDouble(attrDurationMS, r.DurationMS)
	putStrIf(a, attrDirection, r.Direction)
	putStrIf(a, attrDestination, r.DestinationHost)
	a.PutStr(attrPath, r.Path)
	putStrIf(a, attrQuery, r.Query)
	putStrIf(a, attrUserAgent, r.UserAgent)
	putStrIf(a, attrClientIP, r.ClientIP)
	putStrIf(a, attrTraceID, r.TraceID)
	putStrIf(a, attrSpanID, r.SpanID)
	if r.Active != nil {
		a.PutBool(attrActive, *r.Active)
	}
	putStrsIf(a, attrMembersAdded, r.MembersAdded)
	putStrsIf(a, attrMembersRemoved, r.MembersRemoved)
	putChanges(a, r.Changes)
	if r.NoOp {
		a.PutBool(attrNoOp, true)
	}
	putStrsIf(a, attrEvents, r.Events)
	putStrsIf(a, attrNotes, r.Notes)

	// Semantic conventions, so generic log tools find the request by the
	// names they already know.
	a.PutStr("http.request.method", r.Action)
	a.PutInt("http.response.status_code", int64(r.StatusCode))
	a.PutStr("url.path", r.Path)
	putStrIf(a, "url.query", r.Query)
	putStrIf(a, "user_agent.original", r.UserAgent)
	putStrIf(a, "client.address", r.ClientIP)
	putStrIf(a, "user.email", r.UserEmail)
	putStrIf(a, "server.address", hostOf(r.DestinationHost))
}

// putChanges writes changes as an array of maps, each key left out exactly
// when Change's omitempty leaves it out.
func putChanges(a pcommon.Map, cs []Change) {
	if len(cs) == 0 {
		return
	}
	s := a.PutEmptySlice(attrChanges)
	s.EnsureCapacity(len(cs))
	for _, c := range cs {
		m := s.AppendEmpty().SetEmptyMap()
		m.PutStr(changeOp, c.Op)
		m.PutStr(changeAttribute, c.Attribute)
		putStrIf(m, changeOld, string(c.Old))
		putStrIf(m, changeNew, string(c.New))
	}
}

// hostOf drops the port of a host:port.
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// traceIDOf decodes a 32-digit hex trace id; ok is false for anything else
// (the attribute still carries the text).
func traceIDOf(s string) (id pcommon.TraceID, ok bool) {
	if len(s) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, !id.IsEmpty()
}

// spanIDOf decodes a 16-digit hex span id like traceIDOf.
func spanIDOf(s string) (id pcommon.SpanID, ok bool) {
	if len(s) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, !id.IsEmpty()
}

// timestampOf maps the zero time to OTLP's 0 ("unknown") rather than to a
// wrapped-around nanosecond count.
func timestampOf(t time.Time) pcommon.Timestamp {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return pcommon.NewTimestampFromTime(t)
}

func putStrIf(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

func putStrsIf(m pcommon.Map, k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	s := m.PutEmptySlice(k)
	s.EnsureCapacity(len(vs))
	for _, v := range vs {
		s.AppendEmpty().SetStr(v)
	}
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// RecordsFromLogs reads back the records of log records made by
// AppendLogRecords, in order, from every resource and scope of ld. It is the
// inverse of the mapping: for records whose Timestamp is in UTC (as
// scimtrail writes them), RecordsFromLogs(NewLogs(res, recs)) equals recs.
//
// Attributes it does not know (the semantic-convention keys, keys a newer
// build added) are ignored, as encoding/json ignores unknown keys. A log
// record without AttrSchemaVersion, with another schema version, or with an
// attribute of the wrong type is an error naming its position and the key.
func RecordsFromLogs(ld plog.Logs) ([]Record, error) {
	out := make([]Record, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				r, err := recordFromLogRecord(lrs.At(k))
				if err != nil {
					return nil, fmt.Errorf("schema: log record %d of scope %d of resource %d: %w", k, j, i, err)
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func recordFromLogRecord(lr plog.LogRecord) (Record, error) {
	a := attrReader{m: lr.Attributes()}
	var r Record
	if v := a.str(AttrSchemaVersion); a.err == nil && v != Version {
		if v == "" {
			return r, fmt.Errorf("no %q attribute: not a scimtrail record", AttrSchemaVersion)
		}
		return r, fmt.Errorf("%q is %q, this build reads %q", AttrSchemaVersion, v, Version)
	}
	r.ID = a.str(attrID)
	if ts := a.str(attrTimestamp); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return r, fmt.Errorf("%q: %w", attrTimestamp, err)
		}
		r.Timestamp = t
	} else if lr.Timestamp() != 0 {
		r.Timestamp = lr.Timestamp().AsTime()
	}
	r.IdPName = a.str(attrIdPName)
	r.Action = a.str(attrAction)
	r.ResourceType = a.str(attrResourceType)
	r.UserEmail = a.str(attrUserEmail)
	r.UserName = a.str(attrUserName)
	r.UserDisplayName = a.str(attrUserDisplay)
	r.GroupName = a.str(attrGroupName)
	r.ResourceID = a.str(attrResourceID)
	r.IdPResourceID = a.str(attrIdPResourceID)
	r.Outcome = a.str(attrOutcome)
	r.StatusCode = a.int(attrStatusCode)
	r.ErrorDetail = a.str(attrErrorDetail)
	r.SCIMType = a.str(attrSCIMType)
	if b := lr.Body(); b.Type() == pcommon.ValueTypeStr {
		r.RequestBody = b.Str()
	} else if b.Type() != pcommon.ValueTypeEmpty {
		return r, fmt.Errorf("body is %s, want a string", b.Type())
	}
	r.BodyTruncated = a.bool(attrBodyTruncated)
	r.DurationMS = a.double(attrDurationMS)
	r.Direction = a.str(attrDirection)
	r.DestinationHost = a.str(attrDestination)
	r.Path = a.str(attrPath)
	r.Query = a.str(attrQuery)
	r.UserAgent = a.str(attrUserAgent)
	r.ClientIP = a.str(attrClientIP)
	r.TraceID = a.str(attrTraceID)
	r.SpanID = a.str(attrSpanID)
	if v, ok := a.m.Get(attrActive); ok {
		b := a.boolValue(attrActive, v)
		r.Active = &b
	}
	r.MembersAdded = a.strs(attrMembersAdded)
	r.MembersRemoved = a.strs(attrMembersRemoved)
	r.Changes = a.changes(attrChanges)
	r.NoOp = a.bool(attrNoOp)
	r.Events = a.strs(attrEvents)
	r.Notes = a.strs(attrNotes)
	return r, a.err
}

// attrReader reads typed attributes, keeping the first type mismatch so the
// caller checks once.
type attrReader struct {
	m   pcommon.Map
	err error
}

func (a *attrReader) fail(k string, v pcommon.Value, want string) {
	if a.err == nil {
		a.err = fmt.Errorf("attribute %q is %s, want %s", k, v.Type(), want)
	}
}

func (a *attrReader) get(k string, want pcommon.ValueType) (pcommon.Value, bool) {
	v, ok := a.m.Get(k)
	if !ok {
		return v, false
	}
	if v.Type() != want {
		a.fail(k, v, want.String())
		return v, false
	}
	return v, true
}

func (a *attrReader) str(k string) string {
	if v, ok := a.get(k, pcommon.ValueTypeStr); ok {
		return v.Str()
	}
	return ""
}

func (a *attrReader) int(k string) int {
	v, ok := a.get(k, pcommon.ValueTypeInt)
	if !ok {
		return 0
	}
	if n := v.Int(); n >= math.MinInt32 && n <= math.MaxInt32 {
		return int(n)
	}
	a.fail(k, v, "an int32")
	return 0
}

func (a *attrReader) double(k string) float64 {
	if v, ok := a.get(k, pcommon.ValueTypeDouble); ok {
		return v.Double()
	}
	return 0
}

func (a *attrReader) bool(k string) bool {
	if v, ok := a.m.Get(k); ok {
		return a.boolValue(k, v)
	}
	return false
}

func (a *attrReader) boolValue(k string, v pcommon.Value) bool {
	if v.Type() != pcommon.ValueTypeBool {
		a.fail(k, v, "Bool")
		return false
	}
	return v.Bool()
}

// strs returns nil for an absent or empty array, as encoding/json leaves a
// nil slice for a key omitempty left out.
func (a *attrReader) strs(k string) []string {
	v, ok := a.get(k, pcommon.ValueTypeSlice)
	if !ok || v.Slice().Len() == 0 {
		return nil
	}
	s := v.Slice()
	out := make([]string, s.Len())
	for i := range s.Len() {
		e := s.At(i)
		if e.Type() != pcommon.ValueTypeStr {
			a.fail(fmt.Sprintf("%s[%d]", k, i), e, "Str")
			return nil
		}
		out[i] = e.Str()
	}
	return out
}

// rawJSON returns nil for an absent key, as encoding/json leaves a nil
// RawMessage for a key omitempty left out.
func (a *attrReader) rawJSON(k string) json.RawMessage {
	if s := a.str(k); s != "" {
		return json.RawMessage(s)
	}
	return nil
}

func (a *attrReader) changes(k string) []Change {
	v, ok := a.get(k, pcommon.ValueTypeSlice)
	if !ok || v.Slice().Len() == 0 {
		return nil
	}
	s := v.Slice()
	out := make([]Change, s.Len())
	for i := range s.Len() {
		e := s.At(i)
		if e.Type() != pcommon.ValueTypeMap {
			a.fail(fmt.Sprintf("%s[%d]", k, i), e, "Map")
			return nil
		}
		c := attrReader{m: e.Map()}
		out[i].Op = c.str(changeOp)
		out[i].Attribute = c.str(changeAttribute)
		out[i].Old = c.rawJSON(changeOld)
		out[i].New = c.rawJSON(changeNew)
		if c.err != nil {
			if a.err == nil {
				a.err = fmt.Errorf("%s[%d]: %w", k, i, c.err)
			}
			return nil
		}
	}
	return out
}
