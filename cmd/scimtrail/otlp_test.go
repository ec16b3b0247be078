package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/otlp/otlptest"
	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
)

// OTLP in these tests goes to real receivers on 127.0.0.1 (pdata's gRPC
// LogsService server and an OTLP/HTTP endpoint, exporter/otlp/otlptest);
// the Collector's own otlpreceiver is exercised in exporter/otlp/collectortest.

// dedupe drops records seen before (delivery is at least once), keeping
// arrival order.
func dedupe(recs []schema.Record) []schema.Record {
	seen := map[string]bool{}
	var out []schema.Record
	for _, r := range recs {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

func emailSet(recs []schema.Record) map[string]bool {
	out := map[string]bool{}
	for _, r := range recs {
		out[r.UserEmail] = true
	}
	return out
}

// Both IdPs' cycles reach the receiver, over either protocol, as the file
// sink has them, with the resource naming this process.
func TestE2E_OTLPCarriesEveryRecordOverBothProtocols(t *testing.T) {
	for _, proto := range []string{otlp.ProtocolGRPC, otlp.ProtocolHTTPProtobuf} {
		t.Run(proto, func(t *testing.T) {
			var rcv *otlptest.Receiver
			if proto == otlp.ProtocolGRPC {
				rcv = otlptest.NewGRPC(t)
			} else {
				rcv = otlptest.NewHTTP(t)
			}
			t.Setenv("OTEL_SERVICE_NAME", "scim-sidecar")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
			c, err := parseArgs(t, "--upstream", "http://127.0.0.1:1", "--otlp-endpoint", rcv.Endpoint(), "--otlp-protocol", proto,
				"--otlp-header", "x-tenant=acme")
			if err != nil {
				t.Fatal(err)
			}
			e := startE2E(t, e2eOptions{otlp: c.OTLP, serviceName: c.ServiceName, resourceAttrs: c.ResourceAttributes})
			e.run(slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle()))
			file := e.records() // stops the stack: the spool is drained
			got := dedupe(rcv.Records())
			if len(got) != len(file) || len(file) < 20 {
				t.Fatalf("receiver has %d records, the file %d", len(got), len(file))
			}
			byID := map[string]schema.Record{}
			for _, r := range got {
				byID[r.ID] = r
			}
			for _, want := range file {
				if !jsonEqual(t, byID[want.ID], want) {
					t.Fatalf("OTLP record differs from the file's:\n%+v\n%+v", byID[want.ID], want)
				}
			}
			req := rcv.Requests()[0]
			res := req.Logs.ResourceLogs().At(0).Resource().Attributes().AsRaw()
			if res["service.name"] != "scim-sidecar" || res["deployment.environment.name"] != "test" ||
				res["service.instance.id"] == nil || res["host.name"] == nil || res["service.version"] == nil {
				t.Errorf("resource %v", res)
			}
			tenant := http.Header(req.Headers).Get("X-Tenant")
			if proto == otlp.ProtocolGRPC {
				tenant = strings.Join(req.Headers["x-tenant"], "")
			}
			if tenant != "acme" {
				t.Errorf("x-tenant header %q, want acme", tenant)
			}
		})
	}
}

// The standard variable alone turns the sink on.
func TestE2E_OTLPFromEnvironmentOnly(t *testing.T) {
	rcv := otlptest.NewHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
	c, err := parseArgs(t, "--upstream", "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if c.logFile() != "" {
		t.Errorf("with OTLP from the environment, records still go to %q too", c.logFile())
	}
	e := startE2E(t, e2eOptions{otlp: c.OTLP})
	createUsers(t, e.base, 0, 3)
	rcv.Wait(3)
}

// The receiver goes down, 1,000 requests go through, it comes back on the
// same port: all 1,000 records arrive.
func TestE2E_OTLPOutageLosesNothing(t *testing.T) {
	rcv := otlptest.NewGRPC(t)
	e := startE2E(t, e2eOptions{otlp: otlp.Config{Endpoint: rcv.Endpoint(), Protocol: otlp.ProtocolGRPC, BatchTimeout: 10 * time.Millisecond}, noLogFile: true})
	createUsers(t, e.base, 0, 10)
	rcv.Wait(10)

	rcv.Stop()
	for i, code := range createUsers(t, e.base, 10, 1000) {
		if code != http.StatusCreated {
			t.Fatalf("request %d during the outage answered %d", i, code)
		}
	}
	waitFor(t, "readyz to name the otlp sink behind", func() bool {
		body := httpGet(t, "http://"+e.st.adminAddr+"/readyz")
		return strings.Contains(body, "sink otlp: behind") && strings.Contains(body, "failing")
	})
	rcv.Start()
	waitFor(t, "all 1,010 records", func() bool { return len(missing(emailSet(rcv.Records()), 0, 1010)) == 0 })
	waitFor(t, "the spool to empty", func() bool { return e.st.spool.Len() == 0 })
}

// A receiver answering 503 with Retry-After is not asked again sooner.
func TestE2E_OTLPHonoursRetryAfter(t *testing.T) {
	const wait = 2 * time.Second
	var mu sync.Mutex
	var refusedAt time.Time
	rcv := otlptest.NewHTTP(t, otlptest.WithRefuse(func(n int, _ otlptest.Request) *otlptest.Refusal {
		mu.Lock()
		defer mu.Unlock()
		if refusedAt.IsZero() {
			refusedAt = time.Now()
			return &otlptest.Refusal{Status: http.StatusServiceUnavailable, RetryAfter: wait}
		}
		return nil
	}))
	e := startE2E(t, e2eOptions{otlp: otlp.Config{Endpoint: rcv.Endpoint()}, noLogFile: true})
	createUsers(t, e.base, 0, 1)
	rcv.Wait(1)
	mu.Lock()
	defer mu.Unlock()
	if gap := rcv.Requests()[0].At.Sub(refusedAt); gap < wait {
		t.Fatalf("asked again %v after a 503 with Retry-After: %v", gap, wait)
	}
}

// Kafka and OTLP at once: each gets every record, and either one down does
// not hold the other back.
func TestE2E_KafkaAndOTLPAreIndependent(t *testing.T) {
	port := freePort(t)
	data := t.TempDir()
	b := startBroker(t, port, data)
	rcv := otlptest.NewHTTP(t)
	e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, noLogFile: true,
		otlp: otlp.Config{Endpoint: rcv.Endpoint(), BatchTimeout: 10 * time.Millisecond}})
	kafkaEmails := func(rs []*kgo.Record) map[string]bool { return emails(t, rs) }

	// OTLP down: Kafka gets everything meanwhile.
	rcv.Stop()
	createUsers(t, e.base, 0, 100)
	consume(t, brokerAddr(port), func(rs []*kgo.Record) bool { return len(missing(kafkaEmails(rs), 0, 100)) == 0 })
	if n := len(rcv.Records()); n != 0 {
		t.Fatalf("a stopped receiver has %d records", n)
	}

	// Kafka down, OTLP back: OTLP gets everything, the backlog included.
	b.stop()
	rcv.Start()
	createUsers(t, e.base, 100, 100)
	waitFor(t, "OTLP to have all 200 records while Kafka is down", func() bool {
		return len(missing(emailSet(rcv.Records()), 0, 200)) == 0
	})

	// Kafka back: it catches up.
	startBroker(t, port, data)
	consume(t, brokerAddr(port), func(rs []*kgo.Record) bool { return len(missing(kafkaEmails(rs), 0, 200)) == 0 })
	waitFor(t, "the spool to empty", func() bool { return e.st.spool.Len() == 0 })
}

// With --otlp-traces, the IdP's trace goes on: the SCIM service gets a
// traceparent of the same trace with scimtrail's span as parent, the
// record names that span, and the span reaches the receiver as the
// caller's child.
func TestE2E_OTLPTracesContinueTheIdPsTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		caller  = "00f067aa0ba902b7"
	)
	rcv := otlptest.NewHTTP(t)
	var mu sync.Mutex
	var seen []string
	e := startE2E(t, e2eOptions{otlp: otlp.Config{Endpoint: rcv.Endpoint()}, otlpTraces: true,
		wrapUpstream: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Get("Traceparent"))
				mu.Unlock()
				h.ServeHTTP(w, r)
			})
		}})
	req, err := http.NewRequest(http.MethodPost, e.base+"/scim/v2/Users", strings.NewReader(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"t@example.com","emails":[{"primary":true,"value":"t@example.com"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+oktaToken)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+caller+"-01")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	recs := e.records() // stops the stack: spans are flushed
	if len(recs) != 1 || len(seen) != 1 {
		t.Fatalf("%d records, %d upstream requests", len(recs), len(seen))
	}
	parts := strings.Split(seen[0], "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == caller {
		t.Fatalf("upstream traceparent %q: want trace %s with scimtrail's span as parent", seen[0], traceID)
	}
	ours := parts[2]
	if recs[0].TraceID != traceID || recs[0].SpanID != ours {
		t.Errorf("record trace %s span %s, want %s %s", recs[0].TraceID, recs[0].SpanID, traceID, ours)
	}
	logs := rcv.Wait(1)
	if logs[0].SpanID != ours {
		t.Errorf("OTLP log record span %s, want %s", logs[0].SpanID, ours)
	}
	var found bool
	for _, td := range rcv.Traces() {
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					sp := spans.At(k)
					if sp.SpanID().String() == ours {
						found = true
						if sp.TraceID().String() != traceID || sp.ParentSpanID().String() != caller {
							t.Errorf("span %s: trace %s parent %s", ours, sp.TraceID(), sp.ParentSpanID())
						}
					}
				}
			}
		}
	}
	if !found {
		t.Fatalf("span %s never reached the receiver (%d trace requests)", ours, len(rcv.Traces()))
	}
}

// SIGTERM drains in two phases of at most shutdown-timeout each, as the
// README and the deploy files' grace periods count on: with --otlp-traces
// and a receiver that never answers, the spans' flush shares the sinks'
// phase instead of adding a third.
func TestE2E_OTLPTracesAddNoShutdownPhase(t *testing.T) {
	release := make(chan struct{})
	hung := newUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	e := startE2E(t, e2eOptions{otlp: otlp.Config{Endpoint: hung}, otlpTraces: true})
	e.run(scimtest.OktaCycle())
	const timeout = 2 * time.Second
	e.stopped = true
	start := time.Now()
	_ = e.st.shutdown(timeout) // the OTLP sink is not drained: an error
	if took := time.Since(start); took > timeout+timeout/2 {
		t.Errorf("shutdown took %v with a shutdown timeout of %v: the spans had a phase of their own", took.Round(time.Millisecond), timeout)
	}
}
