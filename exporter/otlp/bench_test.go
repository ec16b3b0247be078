package otlp_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/otlp/otlptest"
)

// BenchmarkExport measures records per second through Export to a receiver
// in this process that decodes every request back into records, in batches
// of 256 records of about 1 KB of JSON: the sink's encoding, compression
// and the round trip over loopback, and the receiver's decoding.
func BenchmarkExport(b *testing.B) {
	const batch = 256
	for _, proto := range protocols {
		for _, comp := range []string{otlp.CompressionGzip, otlp.CompressionNone} {
			b.Run(proto+"/"+comp, func(b *testing.B) {
				var rcv *otlptest.Receiver
				if proto == otlp.ProtocolGRPC {
					rcv = otlptest.NewGRPC(b, otlptest.Discard())
				} else {
					rcv = otlptest.NewHTTP(b, otlptest.Discard())
				}
				e, err := otlp.New(otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto, Compression: comp}, otlp.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				recs := records(batch, 0)
				size := 0
				for i := range recs {
					recs[i].RequestBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"displayName":"` +
						strings.Repeat("x", 300) + `"}}]}`
					j, _ := json.Marshal(recs[i])
					size += len(j)
				}
				b.SetBytes(int64(size))
				n := 0
				for b.Loop() {
					if err := e.Export(b.Context(), recs); err != nil {
						b.Fatal(err)
					}
					n += batch
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
