package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/otlp/otlptest"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/schema"
)

// BenchmarkStack_PatchUser sends an Okta-shaped deactivation PATCH from
// parallel clients to the in-memory SCIM service: directly, through a plain
// httputil.ReverseProxy, and through scimtrail (capture, derivation,
// identity cache, spool) with the file sink, the Kafka sink (a kfake broker
// in this process), the OTLP sink (a gRPC receiver in this process that
// decodes every request) and all three at once. Client, proxy, broker and service share
// the machine, so the figures compare, they do not measure the proxy alone.
func BenchmarkStack_PatchUser(b *testing.B) {
	upstream := newUpstream(b)
	port := freePort(b)
	startBroker(b, port, "")
	rcv := otlptest.NewGRPC(b, otlptest.Discard())
	stacks := map[string]string{}
	spools := map[string]*spool.Spool{}
	for _, sink := range []string{"file", "file+registry", "kafka", "otlp", "all"} {
		c := config{Listen: "127.0.0.1:0", AdminListen: adminOff, StateDir: b.TempDir(), Lookup: true, Proxy: proxyConfigFor(upstream)}
		if sink == "file" || sink == "file+registry" || sink == "all" {
			c.LogFile = filepath.Join(b.TempDir(), "r.jsonl")
		}
		if sink == "file+registry" {
			c.Registry = filepath.Join(b.TempDir(), "registry.db")
		}
		if sink == "kafka" || sink == "all" {
			c.Kafka.Brokers = []string{brokerAddr(port)}
		}
		if sink == "otlp" || sink == "all" {
			c.OTLP = otlp.Config{Endpoint: rcv.Endpoint(), Protocol: otlp.ProtocolGRPC}
		}
		st, err := start(b.Context(), c, io.Discard, prometheus.NewRegistry(), newLogger(io.Discard, "", ""), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.shutdown(10 * time.Second)
		stacks[sink], spools[sink] = "http://"+st.proxyAddr, st.spool
	}
	target, _ := url.Parse(upstream)
	plain := newUpstreamHandler(b, &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(upstream+"/scim/v2/Users", "application/scim+json", strings.NewReader(
		`{"userName":"bench@example.com","emails":[{"primary":true,"value":"bench@example.com"}],"externalId":"00ubench","active":true}`))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	const patch = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	for _, via := range []struct{ name, base string }{
		{"direct", upstream}, {"httputil", plain}, {"scimtrail-file", stacks["file"]},
		{"scimtrail-file+registry", stacks["file+registry"]}, {"scimtrail-kafka", stacks["kafka"]},
		{"scimtrail-otlp", stacks["otlp"]}, {"scimtrail-all", stacks["all"]},
	} {
		b.Run(via.name, func(b *testing.B) {
			u := via.base + "/scim/v2/Users/" + id
			b.ReportAllocs()
			b.SetParallelism(8) // 16 clients on 2 cores: throughput, as during an initial sync
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPatch, u, strings.NewReader(patch))
					req.Header.Set("Authorization", "Bearer "+oktaToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			if sp := spools[strings.TrimPrefix(via.name, "scimtrail-")]; sp != nil {
				b.ReportMetric(float64(drainTime(b, sp).Microseconds())/1000, "ms-to-drain")
			}
		})
	}
}

// drainTime is how long the sinks take, once the load stops, to have
// every record the spool holds: near zero when they keep up.
func drainTime(b *testing.B, sp *spool.Spool) time.Duration {
	began := time.Now()
	for deadline := began.Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		behind := false
		for _, st := range sp.Status() {
			behind = behind || st.Lag > 0
		}
		if !behind {
			return time.Since(began)
		}
	}
	b.Fatal("the sinks did not catch up within a minute")
	return 0
}

// BenchmarkSpoolToKafka is the delivery path alone: records taken into the
// spool from parallel goroutines and produced to a kfake broker, timed
// until the sink has acknowledged the last one.
func BenchmarkSpoolToKafka(b *testing.B) {
	port := freePort(b)
	startBroker(b, port, "")
	reg := prometheus.NewRegistry()
	sp, err := spool.Open(spool.Config{Dir: b.TempDir()}, spool.Options{Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	ks, err := kafka.New(kafka.Config{Brokers: []string{brokerAddr(port)}}, kafka.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ks.Close()
	if err := sp.AddSink(spool.SinkConfig{Name: "kafka", Sink: ks}); err != nil {
		b.Fatal(err)
	}
	if err := sp.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	rec := schema.Record{
		ID: "0190b1a0-0000-7000-8000-000000000001", Timestamp: time.Now().UTC(), IdPName: "okta", Action: http.MethodPatch,
		ResourceType: schema.ResourceUser, ResourceID: "2819c223-7f76-453a-919d-413861904646", UserEmail: "bjensen@example.com",
		IdPResourceID: "00u1abcd", Outcome: schema.OutcomeSuccess, StatusCode: 200, Path: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
		RequestBody: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}` + strings.Repeat(" ", 600),
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sp.Take(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for sp.Len() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sp.Shutdown(ctx)
}
