package spool_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/schema"
)

// countSink counts what it is given and nothing else, so the benchmarks
// measure the spool.
type countSink struct{ n atomic.Int64 }

func (c *countSink) Export(_ context.Context, recs []schema.Record) error {
	c.n.Add(int64(len(recs)))
	return nil
}

// benchRecord is about 1 KB encoded, like a PATCH record with its body.
func benchRecord() schema.Record {
	r := record(1, http.MethodPatch)
	r.RequestBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}` + strings.Repeat(" ", 600)
	r.UserAgent = "Okta SCIM Client 1.0.0"
	return r
}

// BenchmarkSpool_Take is the request path's cost: parallel Takes, each
// returning once its group is written (interval sync), with one sink
// draining behind.
func BenchmarkSpool_Take(b *testing.B) {
	for _, mode := range []string{spool.SyncInterval, spool.SyncAlways} {
		b.Run(mode, func(b *testing.B) {
			sink := &countSink{}
			sp, err := spool.Open(spool.Config{Dir: b.TempDir(), Sync: mode}, spool.Options{})
			if err != nil {
				b.Fatal(err)
			}
			sp.AddSink(spool.SinkConfig{Name: "count", Sink: sink})
			sp.Start(context.Background())
			rec := benchRecord()
			b.ReportAllocs()
			b.SetParallelism(8) // many requests in flight, as under an IdP's sync
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := sp.Take(context.Background(), rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			sp.Shutdown(context.Background())
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSpool_Deliver is the sinks' side: records already in the spool,
// read, decoded and acknowledged by one sink.
func BenchmarkSpool_Deliver(b *testing.B) {
	dir := b.TempDir()
	sp, err := spool.Open(spool.Config{Dir: dir}, spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rec := benchRecord()
	for range b.N {
		if err := sp.Take(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
	sink := &countSink{}
	sp.AddSink(spool.SinkConfig{Name: "count", Sink: sink})
	b.ReportAllocs()
	b.ResetTimer()
	sp.Start(context.Background())
	for sink.n.Load() < int64(b.N) {
		<-sleepTick()
	}
	b.StopTimer()
	sp.Shutdown(context.Background())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func sleepTick() <-chan time.Time { return time.After(100 * time.Microsecond) }
