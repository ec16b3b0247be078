package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/file"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

// TestSink_KeysHeadersValuesAndPerKeyOrder writes 3 resources × 20 records
// (plus records keyed by externalId and by id) to a 4-partition topic in
// several Exports and reads them back with franz-go.
func TestSink_KeysHeadersValuesAndPerKeyOrder(t *testing.T) {
	const partitions = 4
	c := startCluster(t, kfake.SeedTopics(partitions, topic))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})

	var want []schema.Record
	for i := range 60 {
		want = append(want, record(i, fmt.Sprintf("res-%d", i%3)))
	}
	byExternalID := record(60, "")
	byExternalID.IdPResourceID = "00u-ext"
	byID := record(61, "")
	byID.IdPResourceID = ""
	want = append(want, byExternalID, byID)
	for from := 0; from < len(want); from += 25 {
		if err := s.Export(t.Context(), want[from:min(from+25, len(want))]); err != nil {
			t.Fatal(err)
		}
	}

	// The value is the file sink's line without its newline.
	var lines bytes.Buffer
	if err := file.New(&lines).Export(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	wantValue := map[string][]byte{}
	for i, line := range bytes.Split(bytes.TrimSuffix(lines.Bytes(), []byte("\n")), []byte("\n")) {
		wantValue[want[i].ID] = line
	}

	got := consume(t, c, len(want))
	javaPartitioner := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	partitionOf := map[string]int32{}
	seqOf := map[string][]string{}
	for _, r := range got {
		rec := decodeJSON(t, r)
		if !bytes.Equal(r.Value, wantValue[rec.ID]) {
			t.Errorf("value of %s differs from the file sink's line\n got %s\nwant %s", rec.ID, r.Value, wantValue[rec.ID])
		}
		if k := kafka.Key(&rec); string(r.Key) != k {
			t.Errorf("record %s has key %q, want %q", rec.ID, r.Key, k)
		}
		for h, want := range map[string]string{
			kafka.HeaderContentType:   "application/json",
			kafka.HeaderSchemaVersion: schema.Version,
			kafka.HeaderRecordID:      rec.ID,
		} {
			if got := header(r, h); got != want {
				t.Errorf("record %s header %s = %q, want %q", rec.ID, h, got, want)
			}
		}
		if !r.Timestamp.Equal(rec.Timestamp.Truncate(1e6)) {
			t.Errorf("record %s has timestamp %v, want %v", rec.ID, r.Timestamp, rec.Timestamp)
		}
		key := string(r.Key)
		if p, ok := partitionOf[key]; ok && p != r.Partition {
			t.Errorf("key %s on partitions %d and %d", key, p, r.Partition)
		}
		partitionOf[key] = r.Partition
		if jp := javaPartitioner.Partition(&kgo.Record{Key: r.Key}, partitions); int32(jp) != r.Partition {
			t.Errorf("key %s on partition %d; the Java client's partitioner picks %d", key, r.Partition, jp)
		}
		seqOf[key] = append(seqOf[key], rec.ID)
	}
	wantKeys := map[string]bool{"res-0": true, "res-1": true, "res-2": true, "00u-ext": true, byID.ID: true}
	if len(seqOf) != len(wantKeys) {
		t.Errorf("keys %v, want %v", seqOf, wantKeys)
	}
	for key, ids := range seqOf {
		if !wantKeys[key] {
			t.Errorf("unexpected key %q", key)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i-1] >= ids[i] { // ids grow with i in record()
				t.Errorf("key %s: %s read before %s, out of order", key, ids[i-1], ids[i])
			}
		}
	}
	if n := len(seqOf["res-1"]); n != 20 {
		t.Errorf("res-1 has %d records, want 20", n)
	}
}

func TestSink_OTLPProtoValueReadsBackAsTheRecord(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(2, topic))
	res := schema.Resource{ServiceVersion: "1.2.3", InstanceID: "pod-7"}
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), Encoding: kafka.EncodingOTLPProto}, kafka.Options{Resource: res})
	want := []schema.Record{record(1, "res-a"), record(2, "res-b"), record(3, "res-a")}
	if err := s.Export(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got := map[string]schema.Record{}
	for _, r := range consume(t, c, len(want)) {
		if ct := header(r, kafka.HeaderContentType); ct != "application/x-protobuf" {
			t.Errorf("content-type %q", ct)
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(r.Value); err != nil {
			t.Fatalf("value is not an ExportLogsServiceRequest: %v", err)
		}
		ld := req.Logs()
		if n := ld.LogRecordCount(); n != 1 {
			t.Fatalf("%d log records in one message, want 1", n)
		}
		attrs := ld.ResourceLogs().At(0).Resource().Attributes().AsRaw()
		if attrs["service.name"] != "scimtrail" || attrs["service.version"] != "1.2.3" || attrs["service.instance.id"] != "pod-7" {
			t.Errorf("resource attributes %v", attrs)
		}
		recs, err := schema.RecordsFromLogs(ld)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != kafka.Key(&recs[0]) {
			t.Errorf("key %q for record %s", r.Key, recs[0].ID)
		}
		got[recs[0].ID] = recs[0]
	}
	for _, w := range want {
		if !reflect.DeepEqual(got[w.ID], w) {
			t.Errorf("record %s read back as\n%+v\nwant\n%+v", w.ID, got[w.ID], w)
		}
	}
}

func TestSink_EveryCompressionRoundTrips(t *testing.T) {
	codecs := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for name, code := range codecs {
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(1, topic))
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), Compression: name}, kafka.Options{})
			var want []schema.Record
			for i := range 10 {
				want = append(want, record(i, "res-1"))
			}
			if err := s.Export(t.Context(), want); err != nil {
				t.Fatal(err)
			}
			for i, r := range consume(t, c, len(want)) {
				if got := r.Attrs.CompressionType(); got != code {
					t.Errorf("batch compression %d, want %d (%s)", got, code, name)
				}
				if rec := decodeJSON(t, r); !reflect.DeepEqual(rec, want[i]) {
					t.Errorf("record %d differs after %s", i, name)
				}
			}
		})
	}
}

func TestSink_UnknownTopicWithoutAutoCreateIsPermanentAndNamesIt(t *testing.T) {
	c := startCluster(t) // no topics
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), Topic: "audit-typo"}, kafka.Options{})
	err := s.Export(t.Context(), []schema.Record{record(1, "res-1")})
	if !exporter.IsPermanent(err) {
		t.Fatalf("Export = %v, want a permanent error", err)
	}
	if want := `kafka: write audit-typo: topic "audit-typo" does not exist and auto-create is off`; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestSink_AutoCreatesTopicWhenAllowed(t *testing.T) {
	c := startCluster(t, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), AllowAutoTopicCreation: true}, kafka.Options{})
	if err := s.Export(t.Context(), []schema.Record{record(1, "res-1")}); err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON(t, consume(t, c, 1)[0]); got.ID != record(1, "").ID {
		t.Fatalf("read %s", got.ID)
	}
}

// TestSink_BrokerErrorsClassified has the broker answer produce requests
// with errors and checks which ones the spool would retry.
func TestSink_BrokerErrorsClassified(t *testing.T) {
	cases := []struct {
		name      string
		err       *kerr.Error
		permanent bool
		says      string
		// written: the broker applies the write and still answers with the
		// error, so the retry duplicates the records (at least once).
		written bool
	}{
		{"not leader is retried", kerr.NotLeaderForPartition, false, "Not Leader For Partition", false},
		{"request timeout is retried", kerr.RequestTimedOut, false, "Request Timed Out", true},
		{"not enough replicas is retried", kerr.NotEnoughReplicas, false, "Not Enough Replicas", false},
		{"topic authorization is permanent", kerr.TopicAuthorizationFailed, true, `not authorized to write to topic "scim-logs"`, false},
		{"message too large is permanent", kerr.MessageTooLarge, true, "set kafka-max-message-bytes at or below the topic's max.message.bytes", false},
		{"unknown topic is permanent", kerr.UnknownTopicOrPartition, true, `topic "scim-logs" does not exist and auto-create is off`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(1, topic))
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})
			h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: tc.err, Count: -1})
			recs := []schema.Record{record(1, "res-1"), record(2, "res-2")}
			err := s.Export(t.Context(), recs)
			if err == nil || exporter.IsPermanent(err) != tc.permanent {
				t.Fatalf("Export = %v, want permanent=%v", err, tc.permanent)
			}
			if !strings.Contains(err.Error(), "kafka: write scim-logs: 2 of 2 records failed: ") || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			// Once the broker recovers, the same sink delivers.
			h.Remove()
			if err := s.Export(t.Context(), recs); err != nil {
				t.Fatalf("Export after the fault: %v", err)
			}
			n := len(recs)
			if tc.written {
				n *= 2
			}
			consume(t, c, n)
		})
	}
}

// TestSink_MixedFailuresAreRetried: one partition refuses for good, another
// only for now. Retrying is the only way the second one's records arrive,
// and the spool splits a batch on a permanent error anyway.
func TestSink_MixedFailuresAreRetried(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(2, topic))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})
	c.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{0}, Err: kerr.TopicAuthorizationFailed, Count: -1},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{1}, Err: kerr.NotLeaderForPartition, Count: -1},
	)
	var recs []schema.Record
	for i := range 20 { // 20 keys: both partitions get some
		recs = append(recs, record(i, fmt.Sprintf("res-%d", i)))
	}
	err := s.Export(t.Context(), recs)
	if err == nil || exporter.IsPermanent(err) {
		t.Fatalf("Export = %v, want a retryable error", err)
	}
	for _, want := range []string{"not authorized", "Not Leader For Partition"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

func TestSink_BrokerDownIsRetryable(t *testing.T) {
	s := newSink(t, kafka.Config{Brokers: []string{closedAddr(t)}}, kafka.Options{})
	err := s.Export(t.Context(), []schema.Record{record(1, "res-1")})
	if err == nil || exporter.IsPermanent(err) {
		t.Fatalf("Export = %v, want a retryable error", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "kafka: write scim-logs: ") {
		t.Fatalf("Export = %v, want a wrapped connection refused", err)
	}
}

// TestSink_ReturnsWhenContextEnds: a broker that accepts and never answers
// must not hold Export past its context.
func TestSink_ReturnsWhenContextEnds(t *testing.T) {
	addr, accepted := silentBroker(t)
	s := newSink(t, kafka.Config{Brokers: []string{addr}}, kafka.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-accepted // Export is waiting on the broker now
		cancel()
	}()
	err := s.Export(ctx, []schema.Record{record(1, "res-1")})
	if !errors.Is(err, context.Canceled) || exporter.IsPermanent(err) {
		t.Fatalf("Export = %v, want a retryable context.Canceled", err)
	}
}

func TestSink_ExportAfterCloseFails(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(1, topic))
	s, err := kafka.New(kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Export(t.Context(), []schema.Record{record(1, "res-1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Export(t.Context(), []schema.Record{record(2, "res-1")}); !errors.Is(err, kafka.ErrClosed) || exporter.IsPermanent(err) {
		t.Fatalf("Export after Close = %v, want a retryable ErrClosed", err)
	}
	if s.Name() != "kafka" {
		t.Fatalf("Name() = %q", s.Name())
	}
}

func TestSink_EmptyExportWritesNothing(t *testing.T) {
	s := newSink(t, kafka.Config{Brokers: []string{closedAddr(t)}}, kafka.Options{})
	if err := s.Export(t.Context(), nil); err != nil {
		t.Fatalf("Export(nil) = %v, want nil without contacting a broker", err)
	}
}

func TestSink_UnencodableRecordIsPermanentOthersWritten(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(1, topic))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})
	bad := record(2, "res-1")
	bad.Changes = []schema.Change{{Op: "add", Attribute: "x", New: json.RawMessage(`{not json`)}}
	err := s.Export(t.Context(), []schema.Record{record(1, "res-1"), bad, record(3, "res-1")})
	if !exporter.IsPermanent(err) || !strings.Contains(err.Error(), "record "+bad.ID) {
		t.Fatalf("Export = %v, want a permanent error naming %s", err, bad.ID)
	}
	got := consume(t, c, 2)
	if a, b := decodeJSON(t, got[0]).ID, decodeJSON(t, got[1]).ID; a != record(1, "").ID || b != record(3, "").ID {
		t.Fatalf("written %s, %s; want records 1 and 3", a, b)
	}
}

// TestSink_OversizedRecordArrivesCutAndMarked: the broker takes at most 64
// KiB per batch, as does the sink; records far larger arrive cut down and
// say so, and a record that cannot be cut enough is refused for good while
// the others arrive.
func TestSink_OversizedRecordArrivesCutAndMarked(t *testing.T) {
	const limit = 64 << 10
	huge := strings.Repeat(`{"k":"v\"<&>"},`, 3<<20/15) // 3 MiB that JSON escapes
	runes := strings.Repeat("é€𝄞", 3<<20/9)             // 3 MiB of 2-, 3- and 4-byte runes
	var manyMembers []string
	for i := range 5000 {
		manyMembers = append(manyMembers, fmt.Sprintf("2819c223-7f76-453a-919d-%012d", i))
	}
	var manyChanges []schema.Change
	for i := range 5000 {
		manyChanges = append(manyChanges, schema.Change{Op: "add", Attribute: fmt.Sprintf("urn:x:%d", i), New: json.RawMessage(`"value"`)})
	}

	for _, enc := range []string{kafka.EncodingJSON, kafka.EncodingOTLPProto} {
		t.Run(enc, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(2, topic), kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(limit)}))
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), Encoding: enc, MaxMessageBytes: limit}, kafka.Options{})

			bigBody := record(1, "res-1")
			bigBody.RequestBody = huge
			bigRunes := record(2, "res-2")
			bigRunes.RequestBody = runes
			bigRunes.Notes = make([]string, 1, 8) // room to append into: the caller's array must stay untouched
			bigRunes.Notes[0] = "kept"
			bigChanges := record(3, "res-3")
			bigChanges.RequestBody = huge
			bigChanges.Changes = manyChanges
			bigMembers := record(4, "res-4")
			bigMembers.ResourceType = schema.ResourceGroup
			bigMembers.RequestBody = huge
			bigMembers.Changes = manyChanges
			bigMembers.MembersAdded = manyMembers
			bigMembers.MembersRemoved = manyMembers[:10]
			hopeless := record(5, "res-5")
			hopeless.ErrorDetail = strings.Repeat("x", 2*limit)
			small := record(6, "res-6")
			recs := []schema.Record{bigBody, bigRunes, bigChanges, bigMembers, hopeless, small}
			before, _ := json.Marshal(recs)

			err := s.Export(t.Context(), recs)
			if !exporter.IsPermanent(err) || !strings.Contains(err.Error(), "record "+hopeless.ID+": ") {
				t.Fatalf("Export = %v, want a permanent error naming only %s", err, hopeless.ID)
			}
			if after, _ := json.Marshal(recs); !bytes.Equal(before, after) || len(bigRunes.Notes) != 1 || bigRunes.Notes[:2][1] != "" {
				t.Fatal("Export changed the caller's records")
			}

			got := map[string]schema.Record{}
			size := map[string]int{}
			for _, r := range consume(t, c, 5) {
				size[header(r, kafka.HeaderRecordID)] = len(r.Key) + len(r.Value)
				var rec schema.Record
				if enc == kafka.EncodingJSON {
					rec = decodeJSON(t, r)
				} else {
					req := plogotlp.NewExportRequest()
					if err := req.UnmarshalProto(r.Value); err != nil {
						t.Fatal(err)
					}
					recs, err := schema.RecordsFromLogs(req.Logs())
					if err != nil {
						t.Fatal(err)
					}
					rec = recs[0]
				}
				got[rec.ID] = rec
			}

			for _, tc := range []struct {
				orig      schema.Record
				notes     []string
				keepsBody bool
			}{
				{bigBody, []string{kafka.NoteBodyCut}, true},
				{bigRunes, []string{"kept", kafka.NoteBodyCut}, true},
				{bigChanges, []string{kafka.NoteBodyCut, kafka.NoteChangesDropped}, false},
				{bigMembers, []string{kafka.NoteBodyCut, kafka.NoteChangesDropped, kafka.NoteMembersDropped}, false},
			} {
				rec, ok := got[tc.orig.ID]
				if !ok {
					t.Errorf("record %s did not arrive", tc.orig.ID)
					continue
				}
				if !rec.BodyTruncated || !reflect.DeepEqual(rec.Notes, tc.notes) {
					t.Errorf("record %s: body_truncated %v, notes %q; want true, %q", rec.ID, rec.BodyTruncated, rec.Notes, tc.notes)
				}
				if !strings.HasPrefix(tc.orig.RequestBody, rec.RequestBody) || !utf8.ValidString(rec.RequestBody) {
					t.Errorf("record %s: body is not a valid UTF-8 prefix of the original", rec.ID)
				}
				// The cut keeps as much as fits: the message ends up close to
				// the limit, short of it by the reserves (512 bytes, and 8
				// per record of a round) and the slack (256).
				if reserves := 512 + 8*kafka.DefaultBatchSize + 256; tc.keepsBody && size[rec.ID] < limit-reserves-512 {
					t.Errorf("record %s: cut to a %d-byte message, more than needed for %d", rec.ID, size[rec.ID], limit)
				}
				wantChanges := tc.orig.Changes
				if slicesContain(tc.notes, kafka.NoteChangesDropped) {
					wantChanges = nil
				}
				if !reflect.DeepEqual(rec.Changes, wantChanges) {
					t.Errorf("record %s: %d changes, want %d", rec.ID, len(rec.Changes), len(wantChanges))
				}
				if slicesContain(tc.notes, kafka.NoteMembersDropped) && (rec.MembersAdded != nil || rec.MembersRemoved != nil) {
					t.Errorf("record %s: members kept", rec.ID)
				}
			}
			if rec := got[small.ID]; !reflect.DeepEqual(rec, small) {
				t.Errorf("small record changed: %+v", rec)
			}
		})
	}
}

// TestSink_ThreeMiBBodyFitsTheDefaults: with nothing configured a 3 MiB
// body, three times what a default broker takes, still arrives.
func TestSink_ThreeMiBBodyFitsTheDefaults(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(1, topic))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs()}, kafka.Options{})
	rec := record(1, "res-1")
	rec.RequestBody = strings.Repeat("a", 3<<20)
	if err := s.Export(t.Context(), []schema.Record{rec}); err != nil {
		t.Fatal(err)
	}
	r := consume(t, c, 1)[0]
	got := decodeJSON(t, r)
	if !got.BodyTruncated || len(got.RequestBody) < 900_000 || len(r.Value) > kafka.DefaultMaxMessageBytes {
		t.Fatalf("body of %d bytes in a value of %d, truncated %v", len(got.RequestBody), len(r.Value), got.BodyTruncated)
	}
}

// TestSink_BatchesNeverExceedTheBrokerLimit fills partitions with records
// of every size up to the limit, the sink's limit equal to the broker's:
// kafka-go's batches, as the broker counts them, must stay within it.
func TestSink_BatchesNeverExceedTheBrokerLimit(t *testing.T) {
	const limit = 64 << 10
	for _, codec := range []string{"none", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c := startCluster(t, kfake.SeedTopics(3, topic), kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(limit)}))
			s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), MaxMessageBytes: limit, Compression: codec}, kafka.Options{})
			var recs []schema.Record
			for i := range 300 {
				r := record(i, fmt.Sprintf("res-%d", i%7))
				r.RequestBody = incompressible(i * 997 % (limit + 4096))
				recs = append(recs, r)
			}
			if err := s.Export(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			consume(t, c, len(recs))
		})
	}
}

// incompressible returns n bytes of hex that no codec shrinks much.
func incompressible(n int) string {
	var b strings.Builder
	x := uint64(n)*0x9E3779B97F4A7C15 + 1
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fmt.Fprintf(&b, "%016x", x)
	}
	return b.String()[:n]
}

func slicesContain(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// TestSink_FailedRoundStopsLaterRounds: when a round fails, later records
// of the Export are not sent, so the retry writes every key's records in
// order rather than after later ones that got through.
func TestSink_FailedRoundStopsLaterRounds(t *testing.T) {
	c := startCluster(t, kfake.SeedTopics(1, topic))
	s := newSink(t, kafka.Config{Brokers: c.ListenAddrs(), BatchSize: 10}, kafka.Options{})
	var recs []schema.Record
	for i := range 30 {
		recs = append(recs, record(i, "res-1"))
	}
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotLeaderForPartition}) // the first produce request only
	if err := s.Export(t.Context(), recs); err == nil || exporter.IsPermanent(err) {
		t.Fatalf("Export = %v, want a retryable error", err)
	}
	if hwm := c.PartitionInfos(topic)[0].HighWatermark; hwm != 0 {
		t.Fatalf("%d records written after the first round failed, want none", hwm)
	}
	if err := s.Export(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range consume(t, c, len(recs)) {
		if id := header(r, kafka.HeaderRecordID); id != recs[i].ID {
			t.Fatalf("record %d is %s, want %s", i, id, recs[i].ID)
		}
	}
}
