package schema_test

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/schema"
)

// fullRecord sets every field of Record; TestFullRecord_SetsEveryKey keeps
// it that way when Record grows.
func fullRecord() schema.Record {
	active := true
	return schema.Record{
		ID:              "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10",
		Timestamp:       time.Date(2026, 11, 27, 13, 30, 0, 123456789, time.UTC),
		IdPName:         "entra",
		Action:          "PATCH",
		ResourceType:    schema.ResourceUser,
		UserEmail:       "bjensen@example.com",
		UserName:        "bjensen",
		UserDisplayName: "Barbara \"Babs\" Jensen",
		GroupName:       "R&D <eng>",
		ResourceID:      "2819c223-7f76-453a-919d-413861904646",
		IdPResourceID:   "00u1abcd",
		Outcome:         schema.OutcomeError,
		StatusCode:      409,
		ErrorDetail:     "uniqueness violated",
		SCIMType:        "uniqueness",
		RequestBody:     `{"Operations":[{"op":"replace","path":"active","value":true}]}`,
		BodyTruncated:   true,
		DurationMS:      12.625,
		Path:            "/scim/v2/Users/2819c223",
		Query:           "attributes=userName",
		UserAgent:       "Microsoft.Identity.Provisioning/1.0",
		ClientIP:        "203.0.113.9",
		Direction:       schema.DirectionEgress,
		DestinationHost: "api.vendor.example:8443",
		TraceID:         "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:          "00f067aa0ba902b7",
		Active:          &active,
		MembersAdded:    []string{"u1", "u2"},
		MembersRemoved:  []string{"u3"},
		Changes: []schema.Change{
			{Op: "replace", Attribute: "active", Old: json.RawMessage(`false`), New: json.RawMessage(`true`)},
			{Op: "add", Attribute: "emails", New: json.RawMessage(`[{"value":"b@example.com","primary":true}]`)},
			{Op: "replace", Attribute: "name.givenName", New: json.RawMessage(`"Barbara"`)},
			{Op: "remove", Attribute: `members[value eq "u3"]`},
			{Op: "remove", Attribute: "externalId", Old: json.RawMessage(`"00u1old"`)},
		},
		NoOp:   true,
		Events: []string{"user.updated", "user.reactivated"},
		Notes:  []string{"line one\nline two", "identity unknown"},
	}
}

// minimalRecord sets only the keys JSON always writes.
func minimalRecord() schema.Record {
	return schema.Record{
		ID:         "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a11",
		Timestamp:  time.Date(2026, 11, 27, 13, 31, 0, 0, time.UTC),
		IdPName:    "unknown",
		Action:     "GET",
		Outcome:    schema.OutcomeSuccess,
		StatusCode: 200,
		Path:       "/scim/v2/ServiceProviderConfig",
	}
}

func jsonKeys(t *testing.T, r schema.Record) []string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func onlyLogRecord(t *testing.T, ld plog.Logs) plog.LogRecord {
	t.Helper()
	if n := ld.LogRecordCount(); n != 1 {
		t.Fatalf("%d log records, want 1", n)
	}
	return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
}

func TestFullRecord_SetsEveryKey(t *testing.T) {
	got := jsonKeys(t, fullRecord())
	var want []string
	rt := reflect.TypeFor[schema.Record]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fullRecord's JSON has keys %v, Record has %v: set the new field in fullRecord", got, want)
	}
}

// TestOTLP_EveryJSONKeyIsAnAttribute keeps the mapping in step with Record:
// a field added to Record without an attribute fails here. The attribute
// set must equal the JSON key set, for a full record and for one where
// omitempty leaves most keys out.
func TestOTLP_EveryJSONKeyIsAnAttribute(t *testing.T) {
	for name, rec := range map[string]schema.Record{"full": fullRecord(), "minimal": minimalRecord()} {
		t.Run(name, func(t *testing.T) {
			lr := onlyLogRecord(t, schema.NewLogs(schema.Resource{}, []schema.Record{rec}))
			var want []string
			for _, k := range jsonKeys(t, rec) {
				if k != "request_body" {
					want = append(want, schema.AttrPrefix+k)
				}
			}
			var got []string
			for k := range lr.Attributes().All() {
				if strings.HasPrefix(k, schema.AttrPrefix) && k != schema.AttrSchemaVersion {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("scim.* attributes\n got %v\nwant %v", got, want)
			}
			if v, _ := lr.Attributes().Get(schema.AttrSchemaVersion); v.Str() != schema.Version {
				t.Fatalf("%s = %q, want %q", schema.AttrSchemaVersion, v.Str(), schema.Version)
			}
		})
	}
}

// TestOTLP_RoundTripIsLossless goes through the protobuf wire form, as a
// consumer of the Kafka otlp_proto encoding or an OTLP receiver sees it.
func TestOTLP_RoundTripIsLossless(t *testing.T) {
	inactive := false
	zeroActive := minimalRecord()
	zeroActive.ID = "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a12"
	zeroActive.Active = &inactive // a false *bool must not read back as nil
	zeroActive.ResourceType = schema.ResourceGroup
	// A no-op: no changes, no events, only the flag says what happened.
	noOp := minimalRecord()
	noOp.ID = "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a13"
	noOp.Action, noOp.ResourceType, noOp.UserDisplayName, noOp.NoOp = "PATCH", schema.ResourceUser, "Ann Smith", true
	want := []schema.Record{fullRecord(), minimalRecord(), zeroActive, noOp}

	wire, err := plogotlp.NewExportRequestFromLogs(schema.NewLogs(schema.Resource{}, want)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(wire); err != nil {
		t.Fatal(err)
	}
	got, err := schema.RecordsFromLogs(req.Logs())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Fatalf("round trip differs\n got %s\nwant %s", gj, wj)
	}
}

func TestOTLP_Mapping(t *testing.T) {
	rec := fullRecord()
	ld := schema.NewLogs(schema.Resource{
		ServiceVersion: "1.2.3", InstanceID: "pod-7", HostName: "node-1",
		// From OTEL_RESOURCE_ATTRIBUTES: added, but never replacing the
		// attributes scimtrail sets itself.
		Attributes: map[string]string{"deployment.environment.name": "prod", "host.name": "spoofed"},
	}, []schema.Record{rec})

	res := ld.ResourceLogs().At(0).Resource().Attributes().AsRaw()
	wantRes := map[string]any{"service.name": "scimtrail", "service.version": "1.2.3", "service.instance.id": "pod-7", "host.name": "node-1", "deployment.environment.name": "prod"}
	if !reflect.DeepEqual(res, wantRes) {
		t.Errorf("resource attributes %v, want %v", res, wantRes)
	}
	if name := ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Name(); name != schema.ScopeName {
		t.Errorf("scope %q, want %q", name, schema.ScopeName)
	}

	lr := onlyLogRecord(t, ld)
	if got := lr.Timestamp().AsTime(); !got.Equal(rec.Timestamp) {
		t.Errorf("Timestamp %v, want %v", got, rec.Timestamp)
	}
	if got, want := lr.ObservedTimestamp().AsTime(), rec.Timestamp.Add(12625*time.Microsecond); !got.Equal(want) {
		t.Errorf("ObservedTimestamp %v, want the end of the exchange %v", got, want)
	}
	if lr.SeverityNumber() != plog.SeverityNumberError || lr.SeverityText() != "ERROR" {
		t.Errorf("severity %v %q for an ERROR record", lr.SeverityNumber(), lr.SeverityText())
	}
	if lr.Body().Type() != pcommon.ValueTypeStr || lr.Body().Str() != rec.RequestBody {
		t.Errorf("body %v, want the request body", lr.Body().AsRaw())
	}
	if got := lr.TraceID(); hex.EncodeToString(got[:]) != rec.TraceID {
		t.Errorf("TraceID %x, want %s", got, rec.TraceID)
	}
	if got := lr.SpanID(); hex.EncodeToString(got[:]) != rec.SpanID {
		t.Errorf("SpanID %x, want %s", got, rec.SpanID)
	}
	if lr.EventName() != "scim.user.updated" {
		t.Errorf("event name %q, want scim.user.updated", lr.EventName())
	}

	a := lr.Attributes()
	typed := map[string]any{
		"scim.status_code":          int64(409),
		"scim.duration_ms":          12.625,
		"scim.active":               true,
		"scim.body_truncated":       true,
		"scim.timestamp":            "2026-11-27T13:30:00.123456789Z",
		"scim.members_added":        []any{"u1", "u2"},
		"http.request.method":       "PATCH",
		"http.response.status_code": int64(409),
		"url.path":                  rec.Path,
		"url.query":                 rec.Query,
		"user_agent.original":       rec.UserAgent,
		"client.address":            rec.ClientIP,
		"user.email":                rec.UserEmail,
		"server.address":            "api.vendor.example",
		"scim.direction":            "egress",
		"scim.no_op":                true,
		"scim.user_display_name":    `Barbara "Babs" Jensen`,
		"scim.changes": []any{
			map[string]any{"op": "replace", "attribute": "active", "old": "false", "new": "true"},
			map[string]any{"op": "add", "attribute": "emails", "new": `[{"value":"b@example.com","primary":true}]`},
			map[string]any{"op": "replace", "attribute": "name.givenName", "new": `"Barbara"`},
			map[string]any{"op": "remove", "attribute": `members[value eq "u3"]`},
			map[string]any{"op": "remove", "attribute": "externalId", "old": `"00u1old"`},
		},
	}
	for k, want := range typed {
		v, ok := a.Get(k)
		if !ok {
			t.Errorf("attribute %q missing", k)
			continue
		}
		if got := v.AsRaw(); !reflect.DeepEqual(got, want) {
			t.Errorf("attribute %q = %#v (%s), want %#v", k, got, v.Type(), want)
		}
	}
	if _, ok := a.Get("scim.request_body"); ok {
		t.Error("request_body is an attribute; it belongs in the body only")
	}
}

func TestOTLP_SuccessWithoutEventsOrBody(t *testing.T) {
	rec := minimalRecord()
	ld := schema.NewLogs(schema.Resource{}, []schema.Record{rec})
	if got := ld.ResourceLogs().At(0).Resource().Attributes().AsRaw(); !reflect.DeepEqual(got, map[string]any{"service.name": "scimtrail"}) {
		t.Errorf("resource attributes %v, want only service.name=scimtrail", got)
	}
	lr := onlyLogRecord(t, ld)
	if lr.SeverityNumber() != plog.SeverityNumberInfo || lr.SeverityText() != "INFO" {
		t.Errorf("severity %v %q for a SUCCESS record", lr.SeverityNumber(), lr.SeverityText())
	}
	if lr.EventName() != schema.EventNameDefault {
		t.Errorf("event name %q, want %q", lr.EventName(), schema.EventNameDefault)
	}
	if lr.Body().Type() != pcommon.ValueTypeEmpty {
		t.Errorf("body %v for a record without request_body, want empty", lr.Body().AsRaw())
	}
	for _, k := range []string{"url.query", "user_agent.original", "client.address", "user.email"} {
		if _, ok := lr.Attributes().Get(k); ok {
			t.Errorf("%q set for a record without it", k)
		}
	}
}

func TestAppendLogRecords_AppendsInOrder(t *testing.T) {
	sl := plog.NewLogRecordSlice()
	sl.AppendEmpty() // something already there stays first
	a, b := minimalRecord(), fullRecord()
	schema.AppendLogRecords(sl, []schema.Record{a, b})
	if sl.Len() != 3 {
		t.Fatalf("%d log records, want 3", sl.Len())
	}
	for i, id := range []string{a.ID, b.ID} {
		if v, _ := sl.At(i + 1).Attributes().Get("scim.id"); v.Str() != id {
			t.Errorf("log record %d has id %q, want %q", i+1, v.Str(), id)
		}
	}
}

func TestRecordsFromLogs_RefusesWhatItCannotRead(t *testing.T) {
	cases := map[string]struct {
		mutate func(lr plog.LogRecord)
		want   string
	}{
		"not a scimtrail record": {
			func(lr plog.LogRecord) { lr.Attributes().Remove(schema.AttrSchemaVersion) },
			`no "scim.schema_version" attribute: not a scimtrail record`,
		},
		"another schema version": {
			func(lr plog.LogRecord) { lr.Attributes().PutStr(schema.AttrSchemaVersion, "2") },
			`"scim.schema_version" is "2", this build reads "1"`,
		},
		"status code as a string": {
			func(lr plog.LogRecord) { lr.Attributes().PutStr("scim.status_code", "409") },
			`attribute "scim.status_code" is Str, want Int`,
		},
		"bad timestamp": {
			func(lr plog.LogRecord) { lr.Attributes().PutStr("scim.timestamp", "yesterday") },
			`"scim.timestamp": parsing time`,
		},
		"change op not a string": {
			func(lr plog.LogRecord) {
				v, _ := lr.Attributes().Get("scim.changes")
				v.Slice().At(0).Map().PutInt("op", 1)
			},
			`scim.changes[0]: attribute "op" is Int, want Str`,
		},
		"change old not a string": {
			func(lr plog.LogRecord) {
				v, _ := lr.Attributes().Get("scim.changes")
				v.Slice().At(0).Map().PutBool("old", false)
			},
			`scim.changes[0]: attribute "old" is Bool, want Str`,
		},
		"no_op not a bool": {
			func(lr plog.LogRecord) { lr.Attributes().PutStr("scim.no_op", "true") },
			`attribute "scim.no_op" is Str, want Bool`,
		},
		"body not a string": {
			func(lr plog.LogRecord) { lr.Body().SetInt(1) },
			`body is Int, want a string`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ld := schema.NewLogs(schema.Resource{}, []schema.Record{fullRecord()})
			tc.mutate(onlyLogRecord(t, ld))
			_, err := schema.RecordsFromLogs(ld)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RecordsFromLogs = %v, want an error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "schema: log record 0 of scope 0 of resource 0: ") {
				t.Fatalf("error %q does not say which log record", err)
			}
		})
	}
}
