package collectortest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/schema"
)

var (
	protocols    = []string{otlp.ProtocolGRPC, otlp.ProtocolHTTPProtobuf}
	compressions = []string{otlp.CompressionGzip, otlp.CompressionNone}
)

// shutdownWithin bounds the receiver's Shutdown: it drains a connection or
// two on loopback, so reaching this means it is stuck.
const shutdownWithin = 30 * time.Second

// resource is what every test's exporter says about the process. The
// service.name among its Attributes must not replace the default one.
var resource = schema.Resource{
	ServiceVersion: "1.4.2",
	InstanceID:     "6f1c2a7e-3b0d-4c55-9e61-0d7f4b8a2c19",
	HostName:       "scim-app-7d9f8",
	Attributes: map[string]string{
		"deployment.environment.name": "staging",
		"service.name":                "not-scimtrail",
	},
}

// wantResource is resource as OTLP resource attributes.
var wantResource = map[string]any{
	"service.name":                "scimtrail",
	"service.version":             "1.4.2",
	"service.instance.id":         "6f1c2a7e-3b0d-4c55-9e61-0d7f4b8a2c19",
	"host.name":                   "scim-app-7d9f8",
	"deployment.environment.name": "staging",
}

// startReceiver runs the Collector's OTLP receiver, as its factory makes
// it, with only the protocol's server enabled and listening on 127.0.0.1
// at a free port, feeding a LogsSink. tweak, when not nil, changes the
// default configuration further. It returns the base URL for the
// exporter's Endpoint; the receiver shuts down when the test ends.
func startReceiver(t *testing.T, protocol string, tweak func(*otlpreceiver.Config)) (string, *consumertest.LogsSink) {
	t.Helper()
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	addr := freeAddr(t)
	// The default config lists both servers without enabling either, as a
	// Collector config naming no protocol would; GetOrInsertDefault
	// enables one with its defaults, as "grpc:" or "http:" alone does.
	switch protocol {
	case otlp.ProtocolGRPC:
		cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	case otlp.ProtocolHTTPProtobuf:
		cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = addr
	default:
		t.Fatalf("unknown protocol %q", protocol)
	}
	if tweak != nil {
		tweak(cfg)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatal(err)
	}

	sink := new(consumertest.LogsSink)
	rcv, err := factory.CreateLogs(t.Context(), receivertest.NewNopSettings(factory.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is done by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWithin)
		defer cancel()
		if err := rcv.Shutdown(ctx); err != nil {
			t.Errorf("receiver Shutdown: %v", err)
		}
	})
	return "http://" + addr, sink
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
// The receiver binds it itself; another process taking it in between
// makes Start fail loudly, not the test pass wrongly.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// newExporter returns scimtrail's OTLP sink for the receiver at endpoint,
// with cfg's other fields as given (zero: the defaults).
func newExporter(t *testing.T, endpoint, protocol string, cfg otlp.Config) *otlp.Exporter {
	t.Helper()
	cfg.Endpoint, cfg.Protocol = endpoint, protocol
	e, err := otlp.New(cfg, otlp.Options{Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("exporter Close: %v", err)
		}
	})
	return e
}

// TestCollectorOTLPReceiver_GetsEveryFieldOfEveryRecord sends records that
// set every Record field between them to the Collector's own OTLP
// receiver, over both protocols with and without gzip, and checks each log
// record the receiver hands its pipeline against the mapping design.md
// promises — written out here by hand, not computed by schema — and that
// schema.RecordsFromLogs reads the records back unchanged.
func TestCollectorOTLPReceiver_GetsEveryFieldOfEveryRecord(t *testing.T) {
	want := records()
	for _, proto := range protocols {
		for _, comp := range compressions {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				endpoint, sink := startReceiver(t, proto, nil)
				e := newExporter(t, endpoint, proto, otlp.Config{Compression: comp})
				if err := e.Export(t.Context(), want); err != nil {
					t.Fatal(err)
				}

				all := sink.AllLogs()
				if len(all) != 1 {
					t.Fatalf("the receiver took %d requests, want 1: %d small records are under every batch bound", len(all), len(want))
				}
				ld := all[0]
				if n := ld.ResourceLogs().Len(); n != 1 {
					t.Fatalf("%d resources, want 1", n)
				}
				rl := ld.ResourceLogs().At(0)
				if got := rl.Resource().Attributes().AsRaw(); !reflect.DeepEqual(got, wantResource) {
					t.Errorf("resource attributes\n got %v\nwant %v", got, wantResource)
				}
				if n := rl.ScopeLogs().Len(); n != 1 {
					t.Fatalf("%d scopes, want 1", n)
				}
				sl := rl.ScopeLogs().At(0)
				if sl.Scope().Name() != schema.ScopeName {
					t.Errorf("scope name %q, want %q", sl.Scope().Name(), schema.ScopeName)
				}
				lrs := sl.LogRecords()
				if lrs.Len() != len(want) {
					t.Fatalf("%d log records, want %d", lrs.Len(), len(want))
				}
				for i, r := range want {
					checkLogRecord(t, lrs.At(i), r)
				}

				got, err := schema.RecordsFromLogs(ld)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("RecordsFromLogs of what the receiver took:\n got %s\nwant %s", asJSON(t, got), asJSON(t, want))
				}
			})
		}
	}
}

// TestRecords_SetEveryField keeps records() covering Record when it grows:
// a field no record sets is a field the receiver test never sees.
func TestRecords_SetEveryField(t *testing.T) {
	set := map[string]bool{}
	for _, r := range records() {
		for _, k := range jsonKeys(t, r) {
			set[k] = true
		}
	}
	rt := reflect.TypeFor[schema.Record]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if !set[name] {
			t.Errorf("no record of records() sets %q: add it to one", name)
		}
	}
}

// checkLogRecord checks one received log record against the record it
// stands for, field by field.
func checkLogRecord(t *testing.T, lr plog.LogRecord, r schema.Record) {
	where := "record " + r.ID

	if got := lr.Timestamp().AsTime(); !got.Equal(r.Timestamp) {
		t.Errorf("%s: Timestamp %v, want the arrival %v", where, got, r.Timestamp)
	}
	end := r.Timestamp.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))
	if got := lr.ObservedTimestamp().AsTime(); !got.Equal(end) {
		t.Errorf("%s: ObservedTimestamp %v, want the end of the exchange %v", where, got, end)
	}

	wantNum, wantText := plog.SeverityNumberInfo, "INFO"
	if r.Outcome == schema.OutcomeError {
		wantNum, wantText = plog.SeverityNumberError, "ERROR"
	}
	if lr.SeverityNumber() != wantNum || lr.SeverityText() != wantText {
		t.Errorf("%s: severity %v %q, want %v %q", where, lr.SeverityNumber(), lr.SeverityText(), wantNum, wantText)
	}

	switch body := lr.Body(); {
	case r.RequestBody == "" && body.Type() != pcommon.ValueTypeEmpty:
		t.Errorf("%s: body is %s %q, want empty: the record has no request_body", where, body.Type(), body.AsString())
	case r.RequestBody != "" && (body.Type() != pcommon.ValueTypeStr || body.Str() != r.RequestBody):
		t.Errorf("%s: body is %s %q, want the request_body string %q", where, body.Type(), body.AsString(), r.RequestBody)
	}

	wantEvent := "scim.request"
	if len(r.Events) > 0 {
		wantEvent = "scim." + r.Events[0]
	}
	if lr.EventName() != wantEvent {
		t.Errorf("%s: EventName %q, want %q", where, lr.EventName(), wantEvent)
	}

	var traceID pcommon.TraceID
	var spanID pcommon.SpanID
	if r.TraceID != "" {
		mustHex(t, traceID[:], r.TraceID)
	}
	if r.SpanID != "" {
		mustHex(t, spanID[:], r.SpanID)
	}
	if lr.TraceID() != traceID {
		t.Errorf("%s: TraceID %v, want %v", where, lr.TraceID(), traceID)
	}
	if lr.SpanID() != spanID {
		t.Errorf("%s: SpanID %v, want %v", where, lr.SpanID(), spanID)
	}

	got := lr.Attributes()
	want := wantAttributes(r)
	for k, w := range want {
		v, ok := got.Get(k)
		switch {
		case !ok:
			t.Errorf("%s: attribute %q missing, want %s %v", where, k, w.typ, w.raw)
		case v.Type() != w.typ:
			t.Errorf("%s: attribute %q is %s %v, want %s %v", where, k, v.Type(), v.AsRaw(), w.typ, w.raw)
		case !reflect.DeepEqual(v.AsRaw(), w.raw):
			t.Errorf("%s: attribute %q = %#v, want %#v", where, k, v.AsRaw(), w.raw)
		}
	}
	for k, v := range got.All() {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected attribute %q = %s %v", where, k, v.Type(), v.AsRaw())
		}
	}

	// The scim.* keys are the record's JSON keys but request_body, no
	// more, no fewer: what omitempty leaves out of the JSON is left out
	// here too.
	var jsonAttrs, attrs []string
	for _, k := range jsonKeys(t, r) {
		if k != "request_body" {
			jsonAttrs = append(jsonAttrs, "scim."+k)
		}
	}
	for k := range got.All() {
		if strings.HasPrefix(k, "scim.") && k != "scim.schema_version" {
			attrs = append(attrs, k)
		}
	}
	slices.Sort(attrs)
	if !slices.Equal(attrs, jsonAttrs) {
		t.Errorf("%s: scim.* attributes\n got %v\nwant the JSON keys %v", where, attrs, jsonAttrs)
	}
}

// attr is an attribute's expected type and value (as pcommon.Value.AsRaw
// gives it: string, int64, float64, bool, []any, map[string]any).
type attr struct {
	typ pcommon.ValueType
	raw any
}

func str(s string) attr     { return attr{pcommon.ValueTypeStr, s} }
func integer(n int) attr    { return attr{pcommon.ValueTypeInt, int64(n)} }
func double(f float64) attr { return attr{pcommon.ValueTypeDouble, f} }
func boolean(b bool) attr   { return attr{pcommon.ValueTypeBool, b} }
func strs(ss []string) attr {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return attr{pcommon.ValueTypeSlice, out}
}

// wantAttributes is design.md's mapping of r, written out: scim.<key> for
// every JSON key but request_body, typed as the JSON Schema types it, and
// the semantic-convention keys.
func wantAttributes(r schema.Record) map[string]attr {
	m := map[string]attr{
		"scim.schema_version": str("1"),
		"scim.id":             str(r.ID),
		"scim.timestamp":      str(r.Timestamp.Format(time.RFC3339Nano)),
		"scim.idp_name":       str(r.IdPName),
		"scim.action":         str(r.Action),
		"scim.resource_type":  str(r.ResourceType),
		"scim.outcome":        str(r.Outcome),
		"scim.status_code":    integer(r.StatusCode),
		"scim.duration_ms":    double(r.DurationMS),
		"scim.path":           str(r.Path),

		"http.request.method":       str(r.Action),
		"http.response.status_code": integer(r.StatusCode),
		"url.path":                  str(r.Path),
	}
	optional := func(k, v string) {
		if v != "" {
			m[k] = str(v)
		}
	}
	optional("scim.user_email", r.UserEmail)
	optional("scim.user_name", r.UserName)
	optional("scim.user_display_name", r.UserDisplayName)
	optional("scim.group_name", r.GroupName)
	optional("scim.resource_id", r.ResourceID)
	optional("scim.idp_resource_id", r.IdPResourceID)
	optional("scim.error_detail", r.ErrorDetail)
	optional("scim.scim_type", r.SCIMType)
	optional("scim.query", r.Query)
	optional("scim.user_agent", r.UserAgent)
	optional("scim.client_ip", r.ClientIP)
	optional("scim.direction", r.Direction)
	optional("scim.destination_host", r.DestinationHost)
	optional("scim.trace_id", r.TraceID)
	optional("scim.span_id", r.SpanID)
	optional("url.query", r.Query)
	optional("user_agent.original", r.UserAgent)
	optional("client.address", r.ClientIP)
	optional("user.email", r.UserEmail)
	if r.DestinationHost != "" {
		host, _, err := net.SplitHostPort(r.DestinationHost)
		if err != nil {
			host = r.DestinationHost
		}
		m["server.address"] = str(host)
	}
	if r.BodyTruncated {
		m["scim.body_truncated"] = boolean(true)
	}
	if r.Active != nil {
		m["scim.active"] = boolean(*r.Active)
	}
	if r.NoOp {
		m["scim.no_op"] = boolean(true)
	}
	for k, v := range map[string][]string{
		"scim.members_added":   r.MembersAdded,
		"scim.members_removed": r.MembersRemoved,
		"scim.events":          r.Events,
		"scim.notes":           r.Notes,
	} {
		if len(v) > 0 {
			m[k] = strs(v)
		}
	}
	if len(r.Changes) > 0 {
		cs := make([]any, len(r.Changes))
		for i, c := range r.Changes {
			cm := map[string]any{"op": c.Op, "attribute": c.Attribute}
			if len(c.Old) > 0 {
				cm["old"] = string(c.Old)
			}
			if len(c.New) > 0 {
				cm["new"] = string(c.New)
			}
			cs[i] = cm
		}
		m["scim.changes"] = attr{pcommon.ValueTypeSlice, cs}
	}
	return m
}

// records returns records that set every Record field between them
// (TestRecords_SetEveryField): one that sets them all, an ERROR without
// events, a GROUP PATCH with members both ways, a POST with a trace and
// active false, a GET without a body, and a no-op PATCH.
func records() []schema.Record {
	yes, no := true, false
	return []schema.Record{
		{
			ID:              "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10",
			Timestamp:       time.Date(2026, 11, 27, 13, 30, 0, 123456789, time.UTC),
			IdPName:         "entra",
			Action:          "PATCH",
			ResourceType:    schema.ResourceUser,
			UserEmail:       "bjensen@example.com",
			UserName:        "bjensen",
			UserDisplayName: "Bärbel \"B\" Jensen ✓",
			GroupName:       "R&D <eng> — Zürich",
			ResourceID:      "2819c223-7f76-453a-919d-413861904646",
			IdPResourceID:   "00u1abcd",
			Outcome:         schema.OutcomeError,
			StatusCode:      409,
			ErrorDetail:     "uniqueness violated",
			SCIMType:        "uniqueness",
			RequestBody:     `{"Operations":[{"op":"replace","path":"active","value":true},{"op":"replace","path":"name.givenName","value":"Bärbel \"B\" ✓"}]}`,
			BodyTruncated:   true,
			DurationMS:      12.625,
			Path:            "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
			Query:           "attributes=userName&excludedAttributes=groups",
			UserAgent:       "Microsoft.Identity.Provisioning/1.0",
			ClientIP:        "2001:db8::17",
			Direction:       schema.DirectionEgress,
			DestinationHost: "api.vendor.example:8443",
			TraceID:         "4bf92f3577b34da6a3ce929d0e0e4736",
			SpanID:          "00f067aa0ba902b7",
			Active:          &yes,
			MembersAdded:    []string{"u1", "u2"},
			MembersRemoved:  []string{"u3"},
			Changes: []schema.Change{
				{Op: "replace", Attribute: "active", Old: json.RawMessage(`false`), New: json.RawMessage(`true`)},
				{Op: "add", Attribute: "emails", New: json.RawMessage(`[{"value":"b@example.com","primary":true}]`)},
				{Op: "replace", Attribute: "name", Old: json.RawMessage(`"Barbara Jensen"`), New: json.RawMessage(`"Bärbel \"B\" Jensen ✓"`)},
				{Op: "replace", Attribute: "name.givenName", New: json.RawMessage(`"Bärbel \"B\" ✓"`)},
				{Op: "remove", Attribute: `members[value eq "u3"]`},
			},
			Events: []string{"user.updated", "user.reactivated"},
			Notes:  []string{"line one\nline two", "identity unknown"},
		},
		{
			ID:           "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a11",
			Timestamp:    time.Date(2026, 11, 27, 13, 30, 1, 0, time.UTC),
			IdPName:      "okta",
			Action:       "DELETE",
			ResourceType: schema.ResourceUser,
			ResourceID:   "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
			Outcome:      schema.OutcomeError,
			StatusCode:   404,
			ErrorDetail:  "Resource 9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d not found",
			DurationMS:   0.5,
			Path:         "/scim/v2/Users/9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
			UserAgent:    "Okta SCIM Client 1.0.0",
			ClientIP:     "203.0.113.9",
		},
		{
			ID:             "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a12",
			Timestamp:      time.Date(2026, 11, 27, 13, 30, 2, 999999999, time.UTC),
			IdPName:        "entra",
			Action:         "PATCH",
			ResourceType:   schema.ResourceGroup,
			GroupName:      "Engineering",
			ResourceID:     "e9e30dba-f08f-4109-8486-d5c6a331660a",
			IdPResourceID:  "grp-eng",
			Outcome:        schema.OutcomeSuccess,
			StatusCode:     204,
			RequestBody:    `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"u4"},{"value":"u5"}]},{"op":"remove","path":"members[value eq \"u1\"]"}]}`,
			DurationMS:     41,
			Path:           "/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
			UserAgent:      "Azure AD SCIM",
			ClientIP:       "198.51.100.7",
			MembersAdded:   []string{"u4", "u5"},
			MembersRemoved: []string{"u1"},
			Changes: []schema.Change{
				{Op: "add", Attribute: "members", New: json.RawMessage(`[{"value":"u4"},{"value":"u5"}]`)},
				{Op: "remove", Attribute: `members[value eq "u1"]`},
			},
			Events: []string{"group.member_added", "group.member_removed"},
		},
		{
			ID:            "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a13",
			Timestamp:     time.Date(2026, 11, 27, 13, 30, 3, 250000000, time.UTC),
			IdPName:       "okta",
			Action:        "POST",
			ResourceType:  schema.ResourceUser,
			UserEmail:     "jdoe@example.com",
			UserName:      "jdoe@example.com",
			ResourceID:    "c3f5a0e2-5d4b-4f7e-8a4c-1e2d3c4b5a69",
			IdPResourceID: "00u9zyxw",
			Outcome:       schema.OutcomeSuccess,
			StatusCode:    201,
			RequestBody:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe@example.com","active":false,"password":"REDACTED"}`,
			DurationMS:    7.25,
			Path:          "/scim/v2/Users",
			UserAgent:     "Okta SCIM Client 1.0.0",
			ClientIP:      "203.0.113.9",
			TraceID:       "0af7651916cd43dd8448eb211c80319c",
			SpanID:        "b7ad6b7169203331",
			Active:        &no,
			Changes: []schema.Change{
				{Op: "replace", Attribute: "userName", New: json.RawMessage(`"jdoe@example.com"`)},
				{Op: "replace", Attribute: "active", New: json.RawMessage(`false`)},
				{Op: "replace", Attribute: "password", New: json.RawMessage(`"REDACTED"`)},
			},
			Events: []string{"user.created"},
		},
		{
			ID:         "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a14",
			Timestamp:  time.Date(2026, 11, 27, 13, 31, 0, 0, time.UTC),
			IdPName:    "unknown",
			Action:     "GET",
			Outcome:    schema.OutcomeSuccess,
			StatusCode: 200,
			DurationMS: 1,
			Path:       "/scim/v2/ServiceProviderConfig",
		},
		{
			ID:              "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a15",
			Timestamp:       time.Date(2026, 11, 27, 13, 32, 0, 0, time.UTC),
			IdPName:         "entra",
			Action:          "PATCH",
			ResourceType:    schema.ResourceUser,
			UserEmail:       "bjensen@example.com",
			UserName:        "bjensen",
			UserDisplayName: "Barbara Jensen",
			ResourceID:      "2819c223-7f76-453a-919d-413861904646",
			Outcome:         schema.OutcomeSuccess,
			StatusCode:      204,
			RequestBody:     `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`,
			DurationMS:      2,
			Path:            "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
			Active:          &yes,
			NoOp:            true,
		},
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
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mustHex(t *testing.T, dst []byte, s string) {
	t.Helper()
	if n, err := hex.Decode(dst, []byte(s)); err != nil || n != len(dst) {
		t.Fatalf("%q is not %d bytes of hex: %v", s, len(dst), err)
	}
}

// asJSON shows records as log readers see them; %+v would print
// json.RawMessage as bytes.
func asJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
