package telemetry_test

import (
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/logtest"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/telemetry"
)

// hangGuard bounds every wait: reaching it means the test is broken, not
// slow.
const hangGuard = 10 * time.Second

// The parent every test span has, as if an IdP had sent it.
var (
	parentTraceID = mustTraceID("4bf92f3577b34da6a3ce929d0e0e4736")
	parentSpanID  = mustSpanID("00f067aa0ba902b7")
)

func mustTraceID(s string) trace.TraceID {
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

func mustSpanID(s string) trace.SpanID {
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return id
}

// export is one request a receiver got: the spans and the headers (HTTP
// headers, or gRPC metadata with lower-case keys).
type export struct {
	traces   ptrace.Traces
	headers  map[string][]string
	encoding string // HTTP Content-Encoding
}

// grpcReceiver is an OTLP/gRPC traces receiver on 127.0.0.1.
type grpcReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	got  chan export
	addr string
}

func startGRPCReceiver(t *testing.T, opts ...grpc.ServerOption) *grpcReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &grpcReceiver{got: make(chan export, 16), addr: ln.Addr().String()}
	srv := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(srv, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

func (r *grpcReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	r.got <- export{traces: td, headers: md}
	return ptraceotlp.NewExportResponse(), nil
}

// httpReceiver is an OTLP/HTTP traces receiver: POST /v1/traces, protobuf,
// optionally gzip encoded.
type httpReceiver struct {
	got chan export
	srv *httptest.Server
}

func (r *httpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(data); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got <- export{traces: er.Traces(), headers: req.Header.Clone(), encoding: req.Header.Get("Content-Encoding")}
	out, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func startHTTPReceiver(t *testing.T, useTLS bool) *httpReceiver {
	t.Helper()
	r := &httpReceiver{got: make(chan export, 16)}
	r.srv = httptest.NewUnstartedServer(r)
	// An untrusted client's handshake error stays out of the global logger.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	t.Cleanup(r.srv.Close)
	return r
}

// caFile writes cert as a PEM CA bundle, for otlp.TLSConfig.CAFile.
func caFile(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func next(t *testing.T, got chan export) export {
	t.Helper()
	select {
	case e := <-got:
		return e
	case <-time.After(hangGuard):
		t.Fatal("the receiver got no export")
		return export{}
	}
}

var testResource = schema.Resource{
	ServiceVersion: "1.2.3",
	InstanceID:     "c2a7f1c4-instance",
	HostName:       "sidecar-0",
	Attributes:     map[string]string{"deployment.environment.name": "test", "service.name": "not-this"},
}

// emitSpan makes one Server span under the IdP's parent and shuts the
// provider down, which must send it.
func emitSpan(t *testing.T, tp *sdktrace.TracerProvider) trace.SpanContext {
	t.Helper()
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: parentTraceID, SpanID: parentSpanID, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, span := tp.Tracer("telemetry-test").Start(ctx, "PATCH /Users/{id}", trace.WithSpanKind(trace.SpanKindServer))
	span.End()
	sctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := tp.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	return span.SpanContext()
}

// checkExport asserts the export holds exactly the span emitSpan made,
// under testResource.
func checkExport(t *testing.T, e export, want trace.SpanContext) {
	t.Helper()
	if n := e.traces.SpanCount(); n != 1 {
		t.Fatalf("receiver got %d spans, want 1", n)
	}
	rs := e.traces.ResourceSpans().At(0)
	res := rs.Resource().Attributes().AsRaw()
	for k, v := range map[string]any{
		"service.name": "scimtrail", "service.version": "1.2.3", "service.instance.id": "c2a7f1c4-instance",
		"host.name": "sidecar-0", "deployment.environment.name": "test",
	} {
		if res[k] != v {
			t.Errorf("resource %s = %v, want %v (resource %v)", k, res[k], v, res)
		}
	}
	s := rs.ScopeSpans().At(0).Spans().At(0)
	if s.Name() != "PATCH /Users/{id}" || s.Kind() != ptrace.SpanKindServer {
		t.Errorf("span %q kind %v, want PATCH /Users/{id} server", s.Name(), s.Kind())
	}
	if got := s.TraceID(); hex.EncodeToString(got[:]) != parentTraceID.String() {
		t.Errorf("trace id %x, want the parent's %s", got, parentTraceID)
	}
	if got := s.ParentSpanID(); hex.EncodeToString(got[:]) != parentSpanID.String() {
		t.Errorf("parent span id %x, want %s", got, parentSpanID)
	}
	if got := s.SpanID(); hex.EncodeToString(got[:]) != want.SpanID().String() {
		t.Errorf("span id %x, want %s", got, want.SpanID())
	}
}

func TestNewTracerProvider_ExportsOverGRPC(t *testing.T) {
	for _, compression := range []string{"", otlp.CompressionNone} {
		t.Run("compression="+compression, func(t *testing.T) {
			rcv := startGRPCReceiver(t)
			tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
				Protocol:    otlp.ProtocolGRPC,
				Endpoint:    "http://" + rcv.addr,
				Headers:     map[string]string{"X-Api-Key": "k-0123456789"},
				Compression: compression,
			}, telemetry.Options{Resource: testResource})
			if err != nil {
				t.Fatal(err)
			}
			sc := emitSpan(t, tp)
			e := next(t, rcv.got)
			checkExport(t, e, sc)
			if got := e.headers["x-api-key"]; len(got) != 1 || got[0] != "k-0123456789" {
				t.Errorf("metadata x-api-key %q, want the configured header", got)
			}
		})
	}
}

func TestNewTracerProvider_ExportsOverGRPCWithTLS(t *testing.T) {
	// httptest's certificate (for 127.0.0.1), served by a gRPC receiver.
	donor := httptest.NewUnstartedServer(http.NotFoundHandler())
	donor.StartTLS()
	cert, leaf := donor.TLS.Certificates[0], donor.Certificate()
	donor.Close()
	rcv := startGRPCReceiver(t, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))

	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Protocol: otlp.ProtocolGRPC,
		Endpoint: "https://" + rcv.addr,
		TLS:      otlp.TLSConfig{CAFile: caFile(t, leaf)},
	}, telemetry.Options{Resource: testResource})
	if err != nil {
		t.Fatal(err)
	}
	sc := emitSpan(t, tp)
	checkExport(t, next(t, rcv.got), sc)
}

func TestNewTracerProvider_ExportsOverHTTP(t *testing.T) {
	for _, tc := range []struct{ compression, wantEncoding string }{
		{"", "gzip"},
		{otlp.CompressionGzip, "gzip"},
		{otlp.CompressionNone, ""},
	} {
		t.Run("compression="+tc.compression, func(t *testing.T) {
			rcv := startHTTPReceiver(t, false)
			tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
				Endpoint:    rcv.srv.URL,
				Headers:     map[string]string{"X-Api-Key": "k-0123456789"},
				Compression: tc.compression,
			}, telemetry.Options{Resource: testResource})
			if err != nil {
				t.Fatal(err)
			}
			sc := emitSpan(t, tp)
			e := next(t, rcv.got)
			checkExport(t, e, sc)
			if got := http.Header(e.headers).Get("X-Api-Key"); got != "k-0123456789" {
				t.Errorf("header X-Api-Key %q, want the configured value", got)
			}
			if e.encoding != tc.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", e.encoding, tc.wantEncoding)
			}
		})
	}
}

// Over https the receiver's certificate is checked against the CA file.
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (TracesEndpoint) sends the spans
// elsewhere than the logs, with TLS when it says https even though the
// logs' endpoint is plain text.
func TestNewTracerProvider_ExportsOverHTTPS(t *testing.T) {
	for _, name := range []string{"endpoint", "traces endpoint"} {
		t.Run(name, func(t *testing.T) {
			rcv := startHTTPReceiver(t, true)
			cfg := otlp.Config{Endpoint: rcv.srv.URL, TLS: otlp.TLSConfig{CAFile: caFile(t, rcv.srv.Certificate())}}
			if name == "traces endpoint" {
				cfg.Endpoint, cfg.TracesEndpoint = "http://127.0.0.1:1", rcv.srv.URL+"/v1/traces"
			}
			tp, err := telemetry.NewTracerProvider(context.Background(), cfg, telemetry.Options{Resource: testResource})
			if err != nil {
				t.Fatal(err)
			}
			sc := emitSpan(t, tp)
			checkExport(t, next(t, rcv.got), sc)
		})
	}
}

// A config the exporter cannot use is refused before any span is made,
// naming the setting, never showing a header's value.
func TestNewTracerProvider_RefusesInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  otlp.Config
		want string
	}{
		{"logs URL only", otlp.Config{LogsEndpoint: "http://127.0.0.1:4318/v1/logs"},
			`telemetry: "otlp-traces" needs "otlp-endpoint" (a base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`},
		{"header value", otlp.Config{Endpoint: "http://127.0.0.1:4318", Headers: map[string]string{"X-Key": "secret\r\nX-Evil: 1"}},
			`telemetry: "otlp-header": the value of "X-Key" has a control character`},
		{"protocol", otlp.Config{Endpoint: "http://127.0.0.1:4318", Protocol: "thrift"},
			`telemetry: "otlp-protocol" is "thrift"; want "grpc" or "http/protobuf"`},
		{"traces URL", otlp.Config{TracesEndpoint: "collector:4318"},
			`telemetry: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4318" is not an http:// or https:// URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := telemetry.NewTracerProvider(context.Background(), tc.cfg, telemetry.Options{})
			if err == nil {
				_ = tp.Shutdown(context.Background())
				t.Fatal("accepted")
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows a header's value: %v", err)
			}
		})
	}
	// The TLS files are read here too, not at the first export.
	missing := filepath.Join(t.TempDir(), "missing.pem")
	_, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint: "https://127.0.0.1:4318", TLS: otlp.TLSConfig{CAFile: missing},
	}, telemetry.Options{})
	if err == nil || !strings.Contains(err.Error(), `"otlp-ca-file": open `+missing) {
		t.Errorf("missing CA file: %v", err)
	}
}

// syncBuffer is a log sink safe for the logger's goroutines.
type syncBuffer = logtest.Buffer

// A receiver whose certificate nobody trusts gets nothing: TLS is verified
// with the system roots when no CA file is given. The failure goes to the
// caller's logger, without the header's value.
func TestNewTracerProvider_UntrustedReceiverGetsNoSpans(t *testing.T) {
	rcv := startHTTPReceiver(t, true)
	var logs syncBuffer
	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint: rcv.srv.URL,
		Headers:  map[string]string{"Authorization": "Bearer otlp-secret-value"},
	}, telemetry.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	emitSpan(t, tp)
	if len(rcv.got) != 0 {
		t.Fatal("a receiver with an untrusted certificate got spans")
	}
	out := logs.String()
	if !strings.Contains(out, "spans not exported") || !strings.Contains(out, "certificate") {
		t.Errorf("want a warning naming the certificate problem, got %q", out)
	}
	if strings.Contains(out, "otlp-secret-value") {
		t.Errorf("the log shows the header's value: %s", out)
	}
}

// A redirect would carry the headers, often a credential, to another
// place: it is not followed, as the OTLP logs sink does not follow one.
func TestNewTracerProvider_HeadersNeverFollowARedirect(t *testing.T) {
	elsewhere := startHTTPReceiver(t, false)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL+"/v1/traces", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	var logs syncBuffer
	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint: redirector.URL,
		Headers:  map[string]string{"X-Api-Key": "k-0123456789"},
	}, telemetry.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	emitSpan(t, tp)
	if len(elsewhere.got) != 0 {
		t.Fatal("the redirect was followed, with the headers")
	}
	if out := logs.String(); !strings.Contains(out, "spans not exported") || !strings.Contains(out, "307") {
		t.Errorf("want a warning naming the redirect, got %q", out)
	}
}

// The proxy's spans reach a real receiver: the trace an IdP started goes on
// through scimtrail's span.
func TestProxySpans_ReachOTLPReceiver(t *testing.T) {
	rcv := startHTTPReceiver(t, false)
	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint: rcv.srv.URL,
	}, telemetry.Options{Resource: testResource})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"id":"2819c223"}`)
	}))
	defer upstream.Close()
	p, err := proxy.NewReverse(proxy.Config{Upstream: upstream.URL}, nil, nil, proxy.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Transport().CloseIdleConnections()
	front := httptest.NewServer(p)
	defer front.Close()

	req, err := http.NewRequest(http.MethodGet, front.URL+"/scim/v2/Users/2819c223", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-"+parentTraceID.String()+"-"+parentSpanID.String()+"-01")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	e := next(t, rcv.got)
	if n := e.traces.SpanCount(); n != 1 {
		t.Fatalf("receiver got %d spans, want 1", n)
	}
	s := e.traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	tid, psid := s.TraceID(), s.ParentSpanID()
	if s.Name() != "GET /Users/{id}" || hex.EncodeToString(tid[:]) != parentTraceID.String() || hex.EncodeToString(psid[:]) != parentSpanID.String() {
		t.Errorf("span %q trace %x parent %x, want GET /Users/{id} under the IdP's span", s.Name(), tid, psid)
	}
	if scope := e.traces.ResourceSpans().At(0).ScopeSpans().At(0).Scope().Name(); scope != proxy.TracerName {
		t.Errorf("scope %q, want %q", scope, proxy.TracerName)
	}
}

// The exporter would take its receiver, headers and compression from
// OTEL_EXPORTER_OTLP_* when not told otherwise; the otlp.Config must win,
// so the caller alone decides how those variables apply.
func TestNewTracerProvider_EnvironmentDoesNotRedirect(t *testing.T) {
	for _, env := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(env, "http://127.0.0.1:1/elsewhere")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=from-env,x-env-only=1")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")

	rcv := startHTTPReceiver(t, false)
	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint:    rcv.srv.URL,
		Headers:     map[string]string{"X-Api-Key": "from-config"},
		Compression: otlp.CompressionNone,
	}, telemetry.Options{Resource: testResource})
	if err != nil {
		t.Fatal(err)
	}
	sc := emitSpan(t, tp)
	e := next(t, rcv.got)
	checkExport(t, e, sc)
	h := http.Header(e.headers)
	if h.Get("X-Api-Key") != "from-config" || h.Get("X-Env-Only") != "" || e.encoding != "" {
		t.Errorf("headers %v encoding %q: want the configured header only, uncompressed", h, e.encoding)
	}
}

// A receiver that quotes the credential it refuses does not get it into
// the warning the failed export logs.
func TestNewTracerProvider_ReceiverQuotingOurHeaderIsNotLogged(t *testing.T) {
	const token = "tok-9a9a8b8b7c7c"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid credentials: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
	}))
	defer echo.Close()
	var logs syncBuffer
	tp, err := telemetry.NewTracerProvider(context.Background(), otlp.Config{
		Endpoint: echo.URL,
		Headers:  map[string]string{"Authorization": "Bearer " + token},
	}, telemetry.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	emitSpan(t, tp)
	out := logs.String()
	if !strings.Contains(out, "spans not exported") || !strings.Contains(out, "401") {
		t.Fatalf("want a warning naming the refusal, got %q", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the log shows the header's value: %s", out)
	}
}
