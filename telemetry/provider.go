package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/schema"
)

// Options are the parts of a TracerProvider that are not about the
// receiver.
type Options struct {
	// Resource names this process on every span, as on the audit records'
	// OTLP logs: service.name (default "scimtrail"), service.version,
	// service.instance.id, host.name and further attributes.
	Resource schema.Resource
	// Logger receives a warning for every batch of spans that could not be
	// exported, instead of the OpenTelemetry global error handler. nil
	// discards them.
	Logger *slog.Logger
}

// NewTracerProvider returns a TracerProvider that exports its spans over
// OTLP to cfg.TracesTarget, with cfg's protocol, headers, TLS, compression
// and timeout: the connection the audit logs take, described once. cfg is
// validated; its batching fields and LogsEndpoint do not apply. The
// provider has a batch span processor (the SDK's defaults: 5s or 512 spans
// per export, 2048 queued, the rest dropped), a parent-based always-on
// sampler (the IdP's sampled flag is honoured, a request without one is
// sampled), and opts.Resource. No connection is made here: gRPC connects on
// first use, HTTP per request. A failed export is retried by the exporter
// when OTLP calls the answer retryable, within the batch processor's export
// timeout (30s), then logged to opts.Logger and dropped.
//
// The caller owns the provider: call Shutdown (with a deadline) to send the
// spans still queued and release the connection. Nothing is registered
// globally.
func NewTracerProvider(ctx context.Context, cfg otlp.Config, opts Options) (*sdktrace.TracerProvider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	u, err := cfg.TracesTarget()
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	exp, err := newExporter(ctx, cfg, u)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP trace exporter for %s: %w", u, err)
	}
	exp.logger, exp.redact = logger, cfg.RedactHeaderValues
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(newResource(opts.Resource)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	), nil
}

// newExporter builds the OTLP exporter sending to u, cfg's traces target.
// Every option the exporter would otherwise take from OTEL_EXPORTER_OTLP_*
// is set explicitly.
func newExporter(ctx context.Context, cfg otlp.Config, u *url.URL) (*exporter, error) {
	tlsConf, err := cfg.ClientTLS(u)
	if err != nil {
		return nil, err
	}
	headers := maps.Clone(cfg.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	gzip := cfg.CompressionOrDefault() == otlp.CompressionGzip

	if cfg.ProtocolOrDefault() == otlp.ProtocolGRPC {
		creds := insecure.NewCredentials()
		if tlsConf != nil {
			creds = credentials.NewTLS(tlsConf)
		}
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpoint(u.Host),
			otlptracegrpc.WithTLSCredentials(creds),
			otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithTimeout(cfg.TimeoutOrDefault()),
		}
		if gzip {
			opts = append(opts, otlptracegrpc.WithCompressor(otlp.CompressionGzip))
		}
		e, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, err
		}
		return &exporter{SpanExporter: e}, nil
	}

	client := otlp.NewHTTPClient(tlsConf)
	// The exporter applies its own timeout only to a client it builds.
	client.Timeout = cfg.TimeoutOrDefault()
	compression := otlptracehttp.NoCompression
	if gzip {
		compression = otlptracehttp.GzipCompression
	}
	e, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(u.String()),
		otlptracehttp.WithHTTPClient(client),
		// The client above carries TLS; this only clears a certificate
		// taken from the environment, which the exporter would refuse
		// next to an http:// URL.
		otlptracehttp.WithTLSClientConfig(tlsConf),
		otlptracehttp.WithHeaders(headers),
		otlptracehttp.WithCompression(compression),
		otlptracehttp.WithTimeout(cfg.TimeoutOrDefault()),
	)
	if err != nil {
		return nil, err
	}
	return &exporter{SpanExporter: e, closeIdle: client.CloseIdleConnections}, nil
}

// exporter logs failed exports to the caller's logger rather than letting
// the batch processor hand them to the OpenTelemetry global error handler,
// and closes its own idle connections at shutdown.
type exporter struct {
	sdktrace.SpanExporter
	logger    *slog.Logger
	closeIdle func() // nil for gRPC, whose Shutdown closes the connection
	// redact removes the header values from an error, which can hold the
	// receiver's answer quoting them.
	redact func(string) string
}

// ExportSpans reports no error to the batch processor: the OTLP exporter
// has already retried what was worth retrying, and the processor could
// only pass the error on to the global handler.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.logger.WarnContext(ctx, "telemetry: spans not exported", "spans", len(spans), "error", e.redact(err.Error()))
	}
	return nil
}

func (e *exporter) Shutdown(ctx context.Context) error {
	err := e.SpanExporter.Shutdown(ctx)
	if e.closeIdle != nil {
		e.closeIdle()
	}
	return err
}

// newResource mirrors schema.NewLogs's resource, so spans and audit logs
// name the same process alike.
func newResource(res schema.Resource) *resource.Resource {
	name := res.ServiceName
	if name == "" {
		name = schema.DefaultServiceName
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	taken := map[string]bool{string(semconv.ServiceNameKey): true}
	for _, kv := range []attribute.KeyValue{
		semconv.ServiceVersion(res.ServiceVersion),
		semconv.ServiceInstanceID(res.InstanceID),
		semconv.HostName(res.HostName),
	} {
		if kv.Value.AsString() != "" {
			attrs = append(attrs, kv)
			taken[string(kv.Key)] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(res.Attributes)) {
		if !taken[k] {
			attrs = append(attrs, attribute.String(k, res.Attributes[k]))
		}
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}
