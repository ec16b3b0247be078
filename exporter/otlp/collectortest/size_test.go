package collectortest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/schema"
)

const mib = 1 << 20

// TestCollectorOTLPReceiver_DefaultConfigGetsOneMiBBodiesWhole: a batch of
// records with 1 MiB bodies reaches a default-configured receiver (gRPC:
// 4 MiB a message; HTTP: 20 MiB a body) in full, with the exporter's
// default MaxBatchBytes, over both protocols with and without gzip. The
// bodies are random text gzip cannot shrink much, so the uncompressed
// size is what the receiver's limit meets.
func TestCollectorOTLPReceiver_DefaultConfigGetsOneMiBBodiesWhole(t *testing.T) {
	want := bigRecords(10, func(int) int { return mib })
	for _, protocol := range protocols {
		for _, comp := range compressions {
			t.Run(protocol+"/"+comp, func(t *testing.T) {
				endpoint, sink := startReceiver(t, protocol, nil)
				e := newExporter(t, endpoint, protocol, otlp.Config{Compression: comp})
				if err := e.Export(t.Context(), want); err != nil {
					t.Fatal(err)
				}
				checkBodiesWhole(t, received(t, sink), want)
				sizes := requestSizes(sink)
				for i, n := range sizes {
					if n > otlp.DefaultMaxBatchBytes {
						t.Errorf("request %d is %d bytes, over the default MaxBatchBytes %d", i, n, otlp.DefaultMaxBatchBytes)
					}
				}
				t.Logf("%d records of %d-byte bodies took %d requests of %v records, %v bytes",
					len(want), mib, len(sizes), recordCounts(sink), sizes)
			})
		}
	}
}

// TestCollectorOTLPReceiver_SmallLimit_SplitsThenDropsOnlyOversizeBody runs
// the receiver with a 1 MiB limit (gRPC max_recv_msg_size_mib: 1; HTTP
// max_request_body_size: 1048576). The exporter sends a batch under its
// own 3 MiB bound; the receiver refuses it as too large, so the exporter
// halves it until each part fits, and the one record over 1 MiB on its
// own goes without its request_body, marked body_truncated with
// NoteBodyDropped. Every other record arrives whole, in order, once.
func TestCollectorOTLPReceiver_SmallLimit_SplitsThenDropsOnlyOversizeBody(t *testing.T) {
	const oversize = 3
	sent := bigRecords(7, func(i int) int {
		if i == oversize {
			return mib + mib/5
		}
		return 300 << 10
	})
	sent[oversize].Notes = []string{"identity of member u7 unknown"}
	want := slices.Clone(sent)
	want[oversize].RequestBody = ""
	want[oversize].BodyTruncated = true
	want[oversize].Notes = []string{"identity of member u7 unknown", otlp.NoteBodyDropped}

	// With gzip the oversize record alone compresses below 1 MiB, so over
	// gRPC it is grpc-go's after-decompression check that refuses it, a
	// message of its own the exporter must recognise too.
	if n := gzipSize(t, sent[oversize:oversize+1]); n >= mib {
		t.Fatalf("the oversize record gzips to %d bytes: it must gzip below 1 MiB to test the after-decompression refusal", n)
	}

	limits := map[string]func(*otlpreceiver.Config){
		otlp.ProtocolGRPC: func(cfg *otlpreceiver.Config) {
			cfg.Protocols.GRPC.Get().MaxRecvMsgSizeMiB = 1
		},
		otlp.ProtocolHTTPProtobuf: func(cfg *otlpreceiver.Config) {
			cfg.Protocols.HTTP.Get().ServerConfig.MaxRequestBodySize = mib
		},
	}
	for _, protocol := range protocols {
		for _, comp := range compressions {
			t.Run(protocol+"/"+comp, func(t *testing.T) {
				endpoint, sink := startReceiver(t, protocol, limits[protocol])
				e := newExporter(t, endpoint, protocol, otlp.Config{Compression: comp})
				if err := e.Export(t.Context(), sent); err != nil {
					t.Fatal(err)
				}
				got := received(t, sink)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("the receiver got\n%s\nwant\n%s", summary(t, got), summary(t, want))
				}
				sizes := requestSizes(sink)
				for i, n := range sizes {
					if n > mib {
						t.Errorf("request %d is %d bytes, over the receiver's 1 MiB", i, n)
					}
				}
				t.Logf("7 records (one of %d bytes) took %d requests of %v records", mib+mib/5, len(sizes), recordCounts(sink))
			})
		}
	}
}

// TestCollectorOTLPHTTPReceiver_AnswersOversizeBodyWith400 pins what the
// Collector's OTLP/HTTP receiver answers to a body over its
// max_request_body_size: not 413 but 400, "http: request body too large"
// (its handler reads the body and answers any read error with 400). The
// exporter takes 413, and a 400 saying so, for "too large"; another 400 is
// bad data.
func TestCollectorOTLPHTTPReceiver_AnswersOversizeBodyWith400(t *testing.T) {
	endpoint, sink := startReceiver(t, otlp.ProtocolHTTPProtobuf, func(cfg *otlpreceiver.Config) {
		cfg.Protocols.HTTP.Get().ServerConfig.MaxRequestBodySize = mib
	})
	body, err := plogotlp.NewExportRequestFromLogs(schema.NewLogs(resource, bigRecords(1, func(int) int { return mib + mib/5 }))).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+otlp.LogsPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var st spb.Status
	if err := proto.Unmarshal(data, &st); err != nil {
		t.Fatalf("answer %d %q is not a google.rpc.Status: %v", resp.StatusCode, data, err)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.GetMessage(), "request body too large") {
		t.Errorf("answer %d %q, want 400 \"http: request body too large\"", resp.StatusCode, st.GetMessage())
	}
	if n := sink.LogRecordCount(); n != 0 {
		t.Errorf("the receiver passed on %d log records of a body it refused", n)
	}
}

// bigRecords makes n PATCH records whose request_body is valid JSON of
// exactly size(i) bytes, most of it random letters and digits (6 bits a
// byte: gzip keeps about three quarters of it).
func bigRecords(n int, size func(i int) int) []schema.Record {
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'c', 'i', 'm'}))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]schema.Record, n)
	for i := range out {
		const head = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"description","value":"`
		const tail = `"}]}`
		var b strings.Builder
		b.Grow(size(i))
		b.WriteString(head)
		for range size(i) - len(head) - len(tail) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		b.WriteString(tail)
		id := fmt.Sprintf("01936f3e-8b7a-7cc4-9c39-%012d", i)
		out[i] = schema.Record{
			ID:           id,
			Timestamp:    time.Date(2026, 11, 27, 14, 0, i, 0, time.UTC),
			IdPName:      "okta",
			Action:       "PATCH",
			ResourceType: schema.ResourceUser,
			UserEmail:    fmt.Sprintf("user%d@example.com", i),
			ResourceID:   fmt.Sprintf("u-%d", i),
			Outcome:      schema.OutcomeSuccess,
			StatusCode:   200,
			RequestBody:  b.String(),
			DurationMS:   2.5,
			Path:         fmt.Sprintf("/scim/v2/Users/u-%d", i),
			Events:       []string{"user.updated"},
		}
	}
	return out
}

// received reads back every record the receiver handed its pipeline, in
// the order it did.
func received(t *testing.T, sink *consumertest.LogsSink) []schema.Record {
	t.Helper()
	var out []schema.Record
	for i, ld := range sink.AllLogs() {
		recs, err := schema.RecordsFromLogs(ld)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		out = append(out, recs...)
	}
	return out
}

// checkBodiesWhole checks that got is want, naming the first record whose
// body differs by its lengths rather than printing megabytes.
func checkBodiesWhole(t *testing.T, got, want []schema.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the receiver got %d records, %d were sent:\n%s", len(got), len(want), summary(t, got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.RequestBody != w.RequestBody {
			t.Errorf("record %d (%s): body of %d bytes arrived as %d bytes (equal prefix %d), truncated %v, notes %q",
				i, w.ID, len(w.RequestBody), len(g.RequestBody), commonPrefix(g.RequestBody, w.RequestBody), g.BodyTruncated, g.Notes)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("record %d (%s) changed on the way:\n got %s\nwant %s", i, w.ID, summary(t, got[i:i+1]), summary(t, want[i:i+1]))
		}
	}
}

// summary shows records without their bodies, which may be megabytes:
// one JSON line each, request_body replaced by its length.
func summary(t *testing.T, recs []schema.Record) string {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		r.RequestBody = fmt.Sprintf("<%d bytes>", len(r.RequestBody))
		fmt.Fprintf(&b, "  %s\n", asJSON(t, r))
	}
	return b.String()
}

// gzipSize is the gzip size, at the default level (grpc-go's and the
// exporter's), of the request holding recs.
func gzipSize(t *testing.T, recs []schema.Record) int {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(schema.NewLogs(resource, recs)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// requestSizes are the uncompressed protobuf sizes of the requests the
// receiver took, in order.
func requestSizes(sink *consumertest.LogsSink) []int {
	var m plog.ProtoMarshaler
	var out []int
	for _, ld := range sink.AllLogs() {
		out = append(out, m.LogsSize(ld))
	}
	return out
}

func recordCounts(sink *consumertest.LogsSink) []int {
	var out []int
	for _, ld := range sink.AllLogs() {
		out = append(out, ld.LogRecordCount())
	}
	return out
}
