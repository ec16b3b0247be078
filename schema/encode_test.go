package schema_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// stdJSON is what the file and Kafka sinks wrote with encoding/json:
// an Encoder without HTML escaping, without its newline.
func stdJSON(t testing.TB, r schema.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func everyField() schema.Record {
	active := false
	return schema.Record{
		ID: "019a4a6e-1f40-7000-8000-000000000001", Timestamp: time.Date(2026, 11, 2, 9, 30, 0, 123456789, time.UTC),
		IdPName: "entra", Action: "PATCH", ResourceType: schema.ResourceUser, UserEmail: "ann@example.com", UserName: "ann",
		UserDisplayName: "Ann Lee", GroupName: "g", ResourceID: "u1", IdPResourceID: "ext", Outcome: schema.OutcomeError,
		StatusCode: 409, ErrorDetail: `User "ann" <exists> & more`, SCIMType: "uniqueness",
		RequestBody: `{"a":"<b>","c":"\u2028"}`, BodyTruncated: true, DurationMS: 1.5, Direction: schema.DirectionEgress,
		DestinationHost: "api.example.com", Path: "/scim/v2/Users/u1", Query: "a=b&c=d", UserAgent: "Okta SCIM Client 1.0.0",
		ClientIP: "10.0.0.1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Active: &active,
		MembersAdded: []string{"a", "b"}, MembersRemoved: []string{"c"},
		Changes: []schema.Change{{Op: "replace", Attribute: "active", Old: json.RawMessage(`true`), New: json.RawMessage(` false `)},
			{Op: "add", Attribute: "title", New: json.RawMessage(`{"x": [1, 2.50, "<y>"]}`)}, {Op: "remove", Attribute: "nickName"}},
		NoOp: true, Events: []string{"user.updated"}, Notes: []string{"a note"},
	}
}

func TestAppendJSON_SameBytesAsEncodingJSON(t *testing.T) {
	cases := map[string]schema.Record{
		"every field": everyField(),
		"minimal":     {ID: "x", Timestamp: time.Unix(0, 0).UTC(), Outcome: schema.OutcomeSuccess, Path: "/"},
		"zone":        {ID: "x", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+1800))},
		"strings":     {ID: "\x00\x01\b\f\n\r\t\x1f\x7f\"\\/é€😀\u2028\u2029 \xff\xfe invalid", Path: "<>&'"},
		"floats":      {ID: "f", DurationMS: 1e-7},
		"big float":   {ID: "f", DurationMS: 1e21},
		"negative":    {ID: "f", DurationMS: -0.000123, StatusCode: -1},
		"third":       {ID: "f", DurationMS: 1.0 / 3},
		"empty slices": {ID: "e", MembersAdded: []string{}, Changes: []schema.Change{}, Events: []string{""},
			Notes: []string{}},
		"raw null": {ID: "n", Changes: []schema.Change{{Op: "replace", Attribute: "x", New: json.RawMessage(`null`)}}},
	}
	for _, d := range []float64{0, 0.001, 0.1, 12.345, 999999, 1e20, 123456789.123, 5e-324, math.MaxFloat64, 1e-6, 9.99e-7} {
		cases["duration "+strings.TrimSpace(json.Number(func() string { b, _ := json.Marshal(d); return string(b) }()).String())] = schema.Record{ID: "d", DurationMS: d}
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := r.AppendJSON([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]byte("prefix"), stdJSON(t, r)...); !bytes.Equal(got, want) {
				t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestAppendJSON_FailsWhereEncodingJSONFails(t *testing.T) {
	for name, r := range map[string]schema.Record{
		"invalid raw": {ID: "x", Changes: []schema.Change{{Op: "add", Attribute: "a", New: json.RawMessage(`{"a":`)}}},
		"NaN":         {ID: "x", DurationMS: math.NaN()},
		"Inf":         {ID: "x", DurationMS: math.Inf(1)},
		"year 10000":  {ID: "x", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := json.Marshal(r); err == nil {
			t.Fatalf("%s: encoding/json accepts it; the test is wrong", name)
		}
		if _, err := r.AppendJSON(nil); err == nil {
			t.Errorf("%s: AppendJSON accepted what encoding/json refuses", name)
		}
	}
}

// FuzzAppendJSON holds AppendJSON to encoding/json on arbitrary strings
// and numbers.
func FuzzAppendJSON(f *testing.F) {
	f.Add("ann@example.com", `{"a":1}`, 1.5, 200)
	f.Add("\xff\u2028<&>\"\\", "\t", 1e-9, -3)
	f.Fuzz(func(t *testing.T, s, raw string, d float64, code int) {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return
		}
		r := schema.Record{ID: s, UserEmail: s, RequestBody: raw, DurationMS: d, StatusCode: code, Notes: []string{s, raw},
			Changes: []schema.Change{{Op: s, Attribute: raw}}}
		if json.Valid([]byte(raw)) {
			r.Changes[0].New = json.RawMessage(raw)
		}
		got, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, r); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %q\nwant %q", got, want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	r := everyField()
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = r.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	r := everyField()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
