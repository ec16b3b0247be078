// Package otlptest runs real OTLP logs (and traces) receivers on 127.0.0.1
// for tests:
// the gRPC LogsService (pdata's plogotlp server on a grpc.Server) and the
// OTLP/HTTP /v1/logs endpoint, both decoding what they get back into
// records with schema.RecordsFromLogs. A Refuse hook makes them answer as
// a busy, limited or misconfigured receiver would.
package otlptest

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the receiver reads gzip requests
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/scimtrail/scimtrail/schema"
)

// Request is one export request a receiver took.
type Request struct {
	// At is when it arrived.
	At time.Time
	// Headers are the HTTP headers or the gRPC metadata (lower-case keys).
	Headers map[string][]string
	// Size is the request's uncompressed protobuf size.
	Size int
	// Logs is the request's content; Records its records, in order.
	Logs    plog.Logs
	Records []schema.Record
	// Path is the HTTP path ("" for gRPC).
	Path string
}

// Refusal is how a receiver turns a request down. HTTP receivers answer
// Status (with Retry-After when RetryAfter > 0); gRPC receivers answer
// Code (with RetryInfo when RetryAfter > 0).
type Refusal struct {
	Status     int
	Code       codes.Code
	RetryAfter time.Duration
	Message    string
	// Rejected, with Status and Code zero, accepts the request as a
	// partial success rejecting this many log records.
	Rejected int64
}

// Receiver is a running OTLP receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	t    testing.TB
	addr string
	grpc bool
	// MaxRecvBytes bounds a gRPC message (grpc-go's default 4 MiB when
	// zero); set before Start.
	maxRecv int

	discard bool

	mu     sync.Mutex
	reqs   []Request
	spans  []ptrace.Traces
	refuse func(n int, req Request) *Refusal
	stop   func()
}

// Option changes a Receiver before it starts.
type Option func(*Receiver)

// WithMaxRecvBytes sets the gRPC server's MaxRecvMsgSize (default 4 MiB,
// grpc-go's and a stock Collector's).
func WithMaxRecvBytes(n int) Option { return func(r *Receiver) { r.maxRecv = n } }

// WithRefuse sets a hook called for every request before it is kept: n
// counts requests from 0; a non-nil Refusal turns the request down (it is
// not kept, but for a partial success).
func WithRefuse(f func(n int, req Request) *Refusal) Option {
	return func(r *Receiver) { r.refuse = f }
}

// Discard decodes requests but keeps none (Requests stays empty): for
// benchmarks, whose memory would otherwise grow with every request.
func Discard() Option { return func(r *Receiver) { r.discard = true } }

// NewGRPC starts a gRPC receiver on 127.0.0.1 (a free port), stopped at
// the end of the test.
func NewGRPC(t testing.TB, opts ...Option) *Receiver { return start(t, true, "127.0.0.1:0", opts) }

// NewHTTP starts an OTLP/HTTP receiver on 127.0.0.1 (a free port),
// stopped at the end of the test.
func NewHTTP(t testing.TB, opts ...Option) *Receiver { return start(t, false, "127.0.0.1:0", opts) }

func start(t testing.TB, isGRPC bool, addr string, opts []Option) *Receiver {
	t.Helper()
	r := &Receiver{t: t, addr: addr, grpc: isGRPC}
	for _, o := range opts {
		o(r)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Endpoint is the receiver's base URL, http://127.0.0.1:PORT.
func (r *Receiver) Endpoint() string { return "http://" + r.addr }

// Addr is host:port.
func (r *Receiver) Addr() string { return r.addr }

// Start listens again on the same address after Stop (an outage ending).
func (r *Receiver) Start() {
	r.t.Helper()
	var ln net.Listener
	var err error
	// The port was just released by Stop; give the kernel a moment.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("otlptest: listen %s: %v", r.addr, err)
	}
	r.mu.Lock()
	r.addr = ln.Addr().String()
	r.mu.Unlock()
	if r.grpc {
		var sopts []grpc.ServerOption
		if r.maxRecv > 0 {
			sopts = append(sopts, grpc.MaxRecvMsgSize(r.maxRecv))
		}
		srv := grpc.NewServer(sopts...)
		plogotlp.RegisterGRPCServer(srv, &grpcServer{r: r})
		ptraceotlp.RegisterGRPCServer(srv, &grpcTraceServer{r: r})
		go srv.Serve(ln) //nolint:errcheck // ends with Stop
		r.setStop(srv.Stop)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", r.serveHTTP)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Stop
	r.setStop(func() { srv.Close() })
}

func (r *Receiver) setStop(f func()) {
	r.mu.Lock()
	r.stop = f
	r.mu.Unlock()
}

// Stop closes the listener and every connection: the receiver is down.
func (r *Receiver) Stop() {
	r.mu.Lock()
	stop := r.stop
	r.stop = nil
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Requests returns the requests kept so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Traces returns the trace export requests taken so far (the gRPC
// TraceService, or POST /v1/traces).
func (r *Receiver) Traces() []ptrace.Traces {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ptrace.Traces(nil), r.spans...)
}

func (r *Receiver) takeTraces(td ptrace.Traces) {
	r.mu.Lock()
	r.spans = append(r.spans, td)
	r.mu.Unlock()
}

type grpcTraceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *grpcTraceServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.r.takeTraces(req.Traces())
	return ptraceotlp.NewExportResponse(), nil
}

// Records returns every record kept so far, in arrival order.
func (r *Receiver) Records() []schema.Record {
	var out []schema.Record
	for _, req := range r.Requests() {
		out = append(out, req.Records...)
	}
	return out
}

// take decodes and keeps req unless the hook refuses it.
func (r *Receiver) take(req Request) (*Refusal, error) {
	recs, err := schema.RecordsFromLogs(req.Logs)
	if err != nil {
		return nil, err
	}
	req.Records = recs
	req.Size = (&plog.ProtoMarshaler{}).LogsSize(req.Logs)
	req.At = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.reqs)
	var ref *Refusal
	if r.refuse != nil {
		ref = r.refuse(n, req)
	}
	if !r.discard && (ref == nil || (ref.Status == 0 && ref.Code == codes.OK)) {
		r.reqs = append(r.reqs, req)
	}
	return ref, nil
}

type grpcServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *grpcServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	md, _ := metadata.FromIncomingContext(ctx)
	ref, err := s.r.take(Request{Headers: md, Logs: req.Logs()})
	if err != nil {
		return resp, status.Error(codes.InvalidArgument, err.Error())
	}
	if ref == nil {
		return resp, nil
	}
	if ref.Code != codes.OK {
		st := status.New(ref.Code, ref.Message)
		if ref.RetryAfter > 0 {
			if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(ref.RetryAfter)}); err == nil {
				st = d
			}
		}
		return resp, st.Err()
	}
	resp.PartialSuccess().SetRejectedLogRecords(ref.Rejected)
	resp.PartialSuccess().SetErrorMessage(ref.Message)
	return resp, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = hr.Body
	if hr.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(hr.Body)
		if err != nil {
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if hr.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	if hr.URL.Path == "/v1/traces" {
		treq := ptraceotlp.NewExportRequest()
		if err := treq.UnmarshalProto(data); err != nil {
			http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.takeTraces(treq.Traces())
		w.Header().Set("Content-Type", "application/x-protobuf")
		return
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(data); err != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return
	}
	ref, err := r.take(Request{Headers: hr.Header, Logs: req.Logs(), Path: hr.URL.Path})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ref != nil && ref.Status != 0 {
		if ref.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ref.RetryAfter/time.Second)))
		}
		http.Error(w, ref.Message, ref.Status)
		return
	}
	resp := plogotlp.NewExportResponse()
	if ref != nil {
		resp.PartialSuccess().SetRejectedLogRecords(ref.Rejected)
		resp.PartialSuccess().SetErrorMessage(ref.Message)
	}
	out, err := resp.MarshalProto()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out) //nolint:errcheck // the client may be gone
}

// Wait polls until the receiver holds at least n records, failing the test
// after a generous bound (a hang guard, not a speed claim).
func (r *Receiver) Wait(n int) []schema.Record {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs := r.Records()
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("otlptest: %d records after 60s, want %d", len(recs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
