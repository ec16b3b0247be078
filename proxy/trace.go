package proxy

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// TracerName is the instrumentation scope of the proxy's spans.
const TracerName = "github.com/scimtrail/scimtrail/proxy"

// Span attribute keys of our own; the rest are OpenTelemetry semantic
// conventions.
const (
	attrIdPName      = attribute.Key("scim.idp_name")
	attrResourceType = attribute.Key("scim.resource_type")
)

// Fixed span status descriptions: the transport's error text can name
// internal addresses or a query string, so it never goes on a span.
const (
	spanUpstreamTimeout = "upstream did not answer in time"
	spanUpstreamFailed  = "upstream unreachable or failed"
	spanAborted         = "response aborted: the upstream or client connection failed mid-body"
	spanLookupFailed    = "look-up failed"
)

// WithTracerProvider makes the proxy start a span (kind Server) for every
// request it forwards, as a child of the W3C trace context (traceparent,
// tracestate) the request came with, or as a new root. The span's context
// replaces the request's in the traceparent and tracestate forwarded
// upstream, and it is the trace and span id of the Exchange, so a record
// names scimtrail's span. The look-ups of a scim.FetchFunc get a child span
// (kind Client) and a traceparent of their own.
//
// Span names are "METHOD /Users/{id}"-like: never an id, an e-mail or a
// query. Attributes: http.request.method, url.path, http.response.status_code,
// scim.idp_name, scim.resource_type (USER or GROUP, when it is one),
// server.address and server.port of the upstream. A 5xx answer, a
// transport failure and an aborted response set the status Error, with a
// fixed description; no header, body or error text is put on a span.
//
// Default (and a nil tp): no spans. The incoming trace context is still
// read into the Exchange, and the request is forwarded with its headers
// untouched. The caller owns tp (its Shutdown flushes the last spans).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// tracing is the proxy's trace state, fixed at construction.
type tracing struct {
	// propagator reads and writes traceparent and tracestate; it is a value
	// of the proxy's own, never the global one.
	propagator propagation.TraceContext
	// tracer is nil without WithTracerProvider: no spans at all then.
	tracer trace.Tracer
	// upstream is server.address and server.port of every span.
	upstream []attribute.KeyValue
}

func newTracing(tp trace.TracerProvider, upstreamHost string, upstreamPort int) tracing {
	t := tracing{upstream: []attribute.KeyValue{
		semconv.ServerAddress(upstreamHost),
		semconv.ServerPort(upstreamPort),
	}}
	if tp != nil {
		t.tracer = tp.Tracer(TracerName, trace.WithSchemaURL(semconv.SchemaURL))
	}
	return t
}

// exchangeSpanContext is the trace context an Exchange carries: with
// tracing, the proxy's own span (already in r's context); without, the one
// the request came with. The zero SpanContext when there is none, or when
// the traceparent is malformed.
func (t *tracing) exchangeSpanContext(r *http.Request) trace.SpanContext {
	if t.tracer != nil {
		return trace.SpanContextFromContext(r.Context())
	}
	if len(r.Header["Traceparent"]) == 0 {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(t.propagator.Extract(context.Background(), propagation.HeaderCarrier(r.Header)))
}

// inject replaces the traceparent and tracestate of an outgoing request
// with the span context in ctx. Only called with tracing on: without it, a
// forwarded request keeps the headers it came with.
func (t *tracing) inject(ctx context.Context, h http.Header) {
	h.Del("Traceparent")
	h.Del("Tracestate")
	t.propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// serveTraced runs serve inside a Server span.
func (p *Reverse) serveTraced(w http.ResponseWriter, r *http.Request, idp string) {
	ctx := p.tracing.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	path := r.URL.EscapedPath()
	ep := scim.ParseEndpoint(path)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(path),
		attrIdPName.String(idp),
	)
	if ep.ResourceType != "" {
		attrs = append(attrs, attrResourceType.String(ep.ResourceType))
	}
	attrs = append(attrs, p.tracing.upstream...)
	ctx, span := p.tracing.tracer.Start(ctx, spanName(r.Method, path, ep),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	tw := &tracedWriter{rw: w}
	ctx = context.WithValue(ctx, tracedWriterKey{}, tw)

	completed := false
	defer func() {
		// A panic (http.ErrAbortHandler for a response cut off mid-body)
		// goes on to the server; the span still ends, marked.
		if !completed {
			tw.failure, tw.errorType = spanAborted, "aborted"
		}
		endServerSpan(span, tw)
	}()
	p.serve(tw, r.WithContext(ctx), idp)
	completed = true
}

// endServerSpan sets what is known once the answer has gone out, and ends
// the span.
func endServerSpan(span trace.Span, tw *tracedWriter) {
	status := tw.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a silent handler
	}
	switch {
	case tw.failure != "":
		span.SetAttributes(semconv.HTTPResponseStatusCode(status), semconv.ErrorTypeKey.String(tw.errorType))
		span.SetStatus(codes.Error, tw.failure)
	case status >= 500:
		span.SetAttributes(semconv.HTTPResponseStatusCode(status), semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	default:
		// A 4xx is the client's error, not the server's (OpenTelemetry's
		// HTTP semantic conventions for Server spans).
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	span.End()
}

// markUpstreamFailure notes on the request's span, if any, that the round
// trip failed, with a fixed description chosen by status.
func markUpstreamFailure(r *http.Request, status int) {
	tw, ok := r.Context().Value(tracedWriterKey{}).(*tracedWriter)
	if !ok {
		return
	}
	switch status {
	case http.StatusGatewayTimeout:
		tw.failure, tw.errorType = spanUpstreamTimeout, "timeout"
	case http.StatusBadGateway:
		tw.failure, tw.errorType = spanUpstreamFailed, "upstream_unreachable"
	}
}

type tracedWriterKey struct{}

// tracedWriter notes the status sent to the client, for the span. Unwrap
// lets http.ResponseController reach the real writer. Only the handler's
// goroutine writes its fields; 1xx headers pass through untouched.
type tracedWriter struct {
	rw     http.ResponseWriter
	status int
	// failure and errorType, when set, say why the exchange failed:
	// a transport failure or an aborted response.
	failure, errorType string
}

func (t *tracedWriter) Header() http.Header { return t.rw.Header() }

func (t *tracedWriter) WriteHeader(code int) {
	if code >= 200 && t.status == 0 {
		t.status = code
	}
	t.rw.WriteHeader(code)
}

func (t *tracedWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	return t.rw.Write(b)
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (t *tracedWriter) Unwrap() http.ResponseWriter { return t.rw }

// startLookupSpan starts the Client span of a look-up of path (a child of
// the request's span in ctx).
func (p *Reverse) startLookupSpan(ctx context.Context, path string) (context.Context, trace.Span) {
	escaped, _, _ := strings.Cut(path, "?")
	ep := scim.ParseEndpoint(escaped)
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(http.MethodGet),
		semconv.URLPath(escaped),
	)
	if ep.ResourceType != "" {
		attrs = append(attrs, attrResourceType.String(ep.ResourceType))
	}
	attrs = append(attrs, p.tracing.upstream...)
	return p.tracing.tracer.Start(ctx, spanName(http.MethodGet, escaped, ep),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endLookupSpan ends a look-up's span. Only a 5xx or a transport failure
// is an error: a 404 is how a look-up learns a resource is gone.
func endLookupSpan(span trace.Span, status int, err error) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	switch {
	case status == 0 && err != nil:
		span.SetAttributes(semconv.ErrorTypeKey.String("request_failed"))
		span.SetStatus(codes.Error, spanLookupFailed)
	case status >= 500:
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	case err != nil:
		// The status was fine, the body was not (too long, bad gzip).
		span.SetAttributes(semconv.ErrorTypeKey.String("response_body"))
		span.SetStatus(codes.Error, spanLookupFailed)
	}
	span.End()
}

// spanName is "METHOD ROUTE" with ROUTE a SCIM endpoint template such as
// /Users/{id}, or the method alone for a path that names no SCIM endpoint.
// A base path before the endpoint (/scim/v2, /tenants/a) is left out: it
// can hold a tenant's name, and a span name must stay low-cardinality.
func spanName(method, path string, ep scim.Endpoint) string {
	if route := scimRoute(path, ep); route != "" {
		return method + " " + route
	}
	return method
}

func scimRoute(path string, ep scim.Endpoint) string {
	var base string
	switch ep.ResourceType {
	case schema.ResourceUser:
		base = "/Users"
	case schema.ResourceGroup:
		base = "/Groups"
	}
	switch {
	case base != "" && ep.Search:
		return base + "/.search"
	case base != "" && ep.ID != "":
		return base + "/{id}"
	case base != "":
		return base
	}
	// The other endpoints of RFC 7644 (3.2, 3.11, 3.4.3, 4).
	path = strings.TrimSuffix(path, "/")
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch last {
	case "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me", ".search":
		return "/" + last
	}
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		parent := path[:i]
		switch parent[strings.LastIndexByte(parent, '/')+1:] {
		case "ResourceTypes":
			return "/ResourceTypes/{id}"
		case "Schemas":
			return "/Schemas/{id}"
		}
	}
	return ""
}
