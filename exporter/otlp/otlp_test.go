package otlp_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/otlp/otlptest"
	"github.com/scimtrail/scimtrail/schema"
)

var protocols = []string{otlp.ProtocolGRPC, otlp.ProtocolHTTPProtobuf}

func receiver(t *testing.T, protocol string, opts ...otlptest.Option) *otlptest.Receiver {
	if protocol == otlp.ProtocolGRPC {
		return otlptest.NewGRPC(t, opts...)
	}
	return otlptest.NewHTTP(t, opts...)
}

func newExporter(t *testing.T, cfg otlp.Config, reg prometheus.Registerer) *otlp.Exporter {
	t.Helper()
	e, err := otlp.New(cfg, otlp.Options{Resource: schema.Resource{ServiceVersion: "1.2.3"}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// records makes n records of a PATCH with a body of bodyBytes.
func records(n, bodyBytes int) []schema.Record {
	out := make([]schema.Record, n)
	for i := range out {
		body := ""
		if bodyBytes > 0 {
			body = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"pad":"` + strings.Repeat("x", bodyBytes) + `"}`
		}
		out[i] = schema.Record{
			ID:           uuid.Must(uuid.NewV7()).String(),
			Timestamp:    time.Date(2026, 11, 27, 10, 0, i, 0, time.UTC),
			IdPName:      "okta",
			Action:       "PATCH",
			ResourceType: schema.ResourceUser,
			UserEmail:    fmt.Sprintf("user%d@example.com", i),
			ResourceID:   fmt.Sprintf("u-%d", i),
			Outcome:      schema.OutcomeSuccess,
			StatusCode:   200,
			RequestBody:  body,
			DurationMS:   1.5,
			Path:         fmt.Sprintf("/scim/v2/Users/u-%d", i),
			Events:       []string{"user.updated"},
		}
	}
	return out
}

func ids(recs []schema.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestExport_DeliversRecordsHeadersAndResource(t *testing.T) {
	for _, proto := range protocols {
		for _, comp := range []string{otlp.CompressionGzip, otlp.CompressionNone} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				rcv := receiver(t, proto)
				e := newExporter(t, otlp.Config{
					Endpoint: rcv.Endpoint(), Protocol: proto, Compression: comp,
					Headers: map[string]string{"X-Api-Key": "k-123"},
				}, nil)
				want := records(5, 100)
				if err := e.Export(context.Background(), want); err != nil {
					t.Fatal(err)
				}
				got := rcv.Records()
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("receiver got %d records %v, want %v", len(got), ids(got), ids(want))
				}
				reqs := rcv.Requests()
				if len(reqs) != 1 {
					t.Fatalf("%d requests, want 1", len(reqs))
				}
				h := http.Header(reqs[0].Headers)
				key := h.Get("X-Api-Key")
				if proto == otlp.ProtocolGRPC {
					key = strings.Join(reqs[0].Headers["x-api-key"], ",")
				}
				if key != "k-123" {
					t.Errorf("header X-Api-Key = %q, want k-123 (headers %v)", key, reqs[0].Headers)
				}
				if proto == otlp.ProtocolHTTPProtobuf && reqs[0].Path != "/v1/logs" {
					t.Errorf("path %q, want /v1/logs", reqs[0].Path)
				}
				res := reqs[0].Logs.ResourceLogs().At(0).Resource().Attributes().AsRaw()
				if res["service.name"] != "scimtrail" || res["service.version"] != "1.2.3" {
					t.Errorf("resource %v", res)
				}
			})
		}
	}
}

func TestExport_SplitsBatchesToStayUnderMaxBatchBytes(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			rcv := receiver(t, proto)
			reg := prometheus.NewRegistry()
			const limit = 300 << 10
			e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto, MaxBatchBytes: limit}, reg)
			want := records(12, 100<<10)
			if err := e.Export(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			if got := rcv.Records(); !reflect.DeepEqual(ids(got), ids(want)) {
				t.Fatalf("order or content differs: got %v", ids(got))
			}
			reqs := rcv.Requests()
			if len(reqs) < 4 {
				t.Errorf("%d requests for 1.2 MB under a 300 KiB bound", len(reqs))
			}
			for i, r := range reqs {
				if r.Size > limit {
					t.Errorf("request %d is %d bytes, over the %d bound", i, r.Size, limit)
				}
			}
			if n := testutil.ToFloat64(mustCounter(t, reg, "scimtrail_otlp_split_requests_total", "max_batch_bytes")); n != 1 {
				t.Errorf("split counter %v, want 1", n)
			}
		})
	}
}

// A receiver with a smaller limit than ours answers 413 (HTTP) or
// ResourceExhausted (gRPC, grpc-go's own check): the batch is split and
// resent, and a record too large alone goes without its body.
func TestExport_ReceiverSizeLimitSplitsAndRetries(t *testing.T) {
	const limit = 250 << 10
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			var opts []otlptest.Option
			if proto == otlp.ProtocolGRPC {
				opts = append(opts, otlptest.WithMaxRecvBytes(limit))
			} else {
				opts = append(opts, otlptest.WithRefuse(func(n int, req otlptest.Request) *otlptest.Refusal {
					if req.Size > limit {
						if n%2 == 0 {
							return &otlptest.Refusal{Status: http.StatusRequestEntityTooLarge}
						}
						// As the Collector's HTTP receiver answers.
						return &otlptest.Refusal{Status: http.StatusBadRequest, Message: "http: request body too large"}
					}
					return nil
				}))
			}
			rcv := receiver(t, proto, opts...)
			e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto, Compression: otlp.CompressionNone}, nil)
			want := records(8, 100<<10)
			big := records(1, 400<<10)[0]
			want = append(want, big)
			if err := e.Export(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			got := rcv.Records()
			if !reflect.DeepEqual(ids(got), ids(want)) {
				t.Fatalf("got %v, want %v", ids(got), ids(want))
			}
			last := got[len(got)-1]
			if last.RequestBody != "" || !last.BodyTruncated || !strings.Contains(strings.Join(last.Notes, ";"), otlp.NoteBodyDropped) {
				t.Errorf("the oversized record arrived with body %d bytes, truncated %v, notes %v", len(last.RequestBody), last.BodyTruncated, last.Notes)
			}
			if !reflect.DeepEqual(got[:8], want[:8]) {
				t.Error("records that fit were changed")
			}
		})
	}
}

func TestExport_ClassifiesReceiverAnswers(t *testing.T) {
	type want struct {
		permanent bool
		throttle  time.Duration // 0: none
	}
	cases := []struct {
		name  string
		proto string
		ref   otlptest.Refusal
		want  want
	}{
		{"http 503 Retry-After", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 503, RetryAfter: 7 * time.Second}, want{throttle: 7 * time.Second}},
		{"http 429 Retry-After", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 429, RetryAfter: 2 * time.Second}, want{throttle: 2 * time.Second}},
		{"http 502", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 502}, want{}},
		{"http 504", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 504}, want{}},
		{"http 400 bad data", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 400, Message: "bad"}, want{permanent: true}},
		// Configuration errors keep the records in the spool.
		{"http 401", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 401}, want{}},
		{"http 404", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 404}, want{}},
		{"http 500", otlp.ProtocolHTTPProtobuf, otlptest.Refusal{Status: 500}, want{}},
		{"grpc Unavailable RetryInfo", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.Unavailable, RetryAfter: 3 * time.Second}, want{throttle: 3 * time.Second}},
		{"grpc Unavailable", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.Unavailable}, want{}},
		{"grpc ResourceExhausted RetryInfo", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.ResourceExhausted, RetryAfter: time.Second, Message: "rate limited"}, want{throttle: time.Second}},
		{"grpc ResourceExhausted", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.ResourceExhausted, Message: "memory limit"}, want{}},
		{"grpc InvalidArgument", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.InvalidArgument}, want{permanent: true}},
		{"grpc Unauthenticated", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.Unauthenticated}, want{}},
		{"grpc Unimplemented", otlp.ProtocolGRPC, otlptest.Refusal{Code: codes.Unimplemented}, want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			rcv := receiver(t, tc.proto, otlptest.WithRefuse(func(int, otlptest.Request) *otlptest.Refusal { return &ref }))
			e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Protocol: tc.proto}, nil)
			err := e.Export(context.Background(), records(2, 10))
			if err == nil {
				t.Fatal("Export succeeded against a refusing receiver")
			}
			if got := exporter.IsPermanent(err); got != tc.want.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tc.want.permanent, err)
			}
			d, ok := exporter.ThrottleDelay(err)
			if ok != (tc.want.throttle > 0) || d != tc.want.throttle {
				t.Errorf("throttle = %v, %v; want %v (%v)", d, ok, tc.want.throttle, err)
			}
		})
	}
}

func TestExport_PartialSuccessIsCountedNotRetried(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			rcv := receiver(t, proto, otlptest.WithRefuse(func(int, otlptest.Request) *otlptest.Refusal {
				return &otlptest.Refusal{Rejected: 2, Message: "2 records over the attribute limit"}
			}))
			reg := prometheus.NewRegistry()
			e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto}, reg)
			if err := e.Export(context.Background(), records(5, 10)); err != nil {
				t.Fatalf("a partial success is no error: %v", err)
			}
			if n := testutil.ToFloat64(mustCounter(t, reg, "scimtrail_otlp_rejected_records_total", "")); n != 2 {
				t.Errorf("rejected counter %v, want 2", n)
			}
			if len(rcv.Requests()) != 1 {
				t.Errorf("%d requests: a partial success was retried", len(rcv.Requests()))
			}
		})
	}
}

func TestExport_ReceiverDownIsRetryable(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			rcv := receiver(t, proto)
			rcv.Stop()
			e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto, Timeout: time.Second}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := e.Export(ctx, records(1, 10))
			if err == nil || exporter.IsPermanent(err) {
				t.Fatalf("Export to a stopped receiver = %v, want a retryable error", err)
			}
			rcv.Start()
			// As the spool does: retry until it goes through (bounded).
			for i := 0; ; i++ {
				err := e.Export(context.Background(), records(1, 10))
				if err == nil {
					break
				}
				if i == 100 {
					t.Fatalf("after the receiver came back: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(rcv.Records()) != 1 {
				t.Fatalf("%d records after the receiver came back, want 1", len(rcv.Records()))
			}
		})
	}
}

// TLS: the receiver's certificate is verified against the configured CA;
// without it the handshake fails (retryable, never skipped).
func TestExport_TLSVerifiesTheReceiver(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := newExporter(t, otlp.Config{Endpoint: srv.URL, TLS: otlp.TLSConfig{CAFile: ca}}, nil)
	if err := trusted.Export(context.Background(), records(1, 10)); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	untrusted := newExporter(t, otlp.Config{Endpoint: srv.URL}, nil)
	err := untrusted.Export(context.Background(), records(1, 10))
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) || exporter.IsPermanent(err) {
		t.Fatalf("without the CA: %v, want a retryable certificate verification error", err)
	}
}

// A redirect would carry the configured headers, often a credential, to
// another server: it is not followed.
func TestExport_RedirectNeverCarriesHeadersElsewhere(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect target was contacted with headers %v", r.Header)
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.RedirectHandler(other.URL+"/v1/logs", http.StatusTemporaryRedirect))
	defer redirector.Close()
	e := newExporter(t, otlp.Config{Endpoint: redirector.URL, Headers: map[string]string{"Authorization": "Bearer s3cret"}}, nil)
	err := e.Export(context.Background(), records(1, 10))
	if err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("Export = %v, want a redirect not followed", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error shows the header value: %v", err)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, m.GetCounter().GetValue)
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return nil
}

// A receiver that quotes the credential it refuses ("invalid token
// tok-…") does not get it into the error the spool logs and /readyz shows,
// nor into the log line of a partial success.
func TestExport_ReceiverMessagesNeverCarryOurHeaderValues(t *testing.T) {
	const token = "tok-5e5e6f6f7a7a"
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			n := 0
			rcv := receiver(t, proto, otlptest.WithRefuse(func(int, otlptest.Request) *otlptest.Refusal {
				n++
				if n == 1 {
					return &otlptest.Refusal{Status: http.StatusUnauthorized, Code: codes.Unauthenticated,
						Message: "invalid credentials: Bearer " + token + " is not known"}
				}
				return &otlptest.Refusal{Rejected: 1, Message: "tenant of " + token + " over quota"}
			}))
			var logs strings.Builder
			e, err := otlp.New(otlp.Config{Endpoint: rcv.Endpoint(), Protocol: proto,
				Headers: map[string]string{"Authorization": "Bearer " + token}},
				otlp.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			err = e.Export(context.Background(), records(1, 10))
			if err == nil || !strings.Contains(err.Error(), "invalid credentials") {
				t.Fatalf("Export = %v, want the receiver's refusal", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error quotes the header's credential: %v", err)
			}
			if err := e.Export(context.Background(), records(1, 10)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "over quota") || strings.Contains(logs.String(), token) {
				t.Errorf("partial success log: %s", logs.String())
			}
		})
	}
}

// After a receiver refused a request as too large, later batches are cut
// below it at once: the receiver is not probed again on every export.
func TestExport_LearnsTheReceiversLimit(t *testing.T) {
	const limit = 250 << 10
	var mu sync.Mutex
	refused := 0
	rcv := otlptest.NewHTTP(t, otlptest.WithRefuse(func(_ int, req otlptest.Request) *otlptest.Refusal {
		if req.Size > limit {
			mu.Lock()
			refused++
			mu.Unlock()
			return &otlptest.Refusal{Status: http.StatusRequestEntityTooLarge}
		}
		return nil
	}))
	e := newExporter(t, otlp.Config{Endpoint: rcv.Endpoint(), Compression: otlp.CompressionNone}, nil)
	if err := e.Export(context.Background(), records(8, 100<<10)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := refused
	refused = 0
	mu.Unlock()
	if first == 0 {
		t.Fatal("the first export was never refused: the test proves nothing")
	}
	if err := e.Export(context.Background(), records(8, 100<<10)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 0 {
		t.Errorf("the second export was refused %d times: the limit was not learned", refused)
	}
	if n := len(rcv.Records()); n != 16 {
		t.Errorf("%d records arrived, want 16", n)
	}
}
