package kafka_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

// BenchmarkExport measures records per second through Export into a
// 4-partition kfake topic, in batches of 256 records of about 1 KB of JSON
// spread over 64 resources. The broker discards what it acknowledges
// (BlackholeProduce), so its storage is not in the figure; the sink's
// encoding, batching and the produce round trips over loopback are.
func BenchmarkExport(b *testing.B) {
	const batch = 256
	for _, bc := range []struct{ encoding, compression string }{
		{kafka.EncodingJSON, "none"},
		{kafka.EncodingJSON, "zstd"},
		{kafka.EncodingOTLPProto, "none"},
	} {
		b.Run(bc.encoding+"/"+bc.compression, func(b *testing.B) {
			c := startCluster(b, kfake.SeedTopics(4, topic), kfake.BlackholeProduce())
			s := newSink(b, kafka.Config{Brokers: c.ListenAddrs(), Encoding: bc.encoding, Compression: bc.compression}, kafka.Options{})
			recs := make([]schema.Record, batch)
			for i := range recs {
				recs[i] = record(i, fmt.Sprintf("2819c223-7f76-453a-919d-%012d", i%64))
				recs[i].RequestBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"displayName":"` +
					strings.Repeat("x", 300) + `"}}]}`
			}
			var size int
			for i := range recs {
				j, err := json.Marshal(recs[i])
				if err != nil {
					b.Fatal(err)
				}
				size += len(j)
			}
			b.SetBytes(int64(size)) // of the JSON, whatever the encoding
			n := 0
			for b.Loop() {
				if err := s.Export(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
