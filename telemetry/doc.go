// Package telemetry is the proxy's own spans, exported over OTLP: a
// TracerProvider (the OpenTelemetry SDK, batching, parent-based always-on
// sampling) whose exporter speaks OTLP over gRPC or HTTP/protobuf to one
// receiver, configured explicitly by an otlp.Config, the same description
// of the connection the OTLP logs sink takes (its TracesTarget says where
// the spans go). Give the provider to proxy.WithTracerProvider; the caller
// owns its Shutdown, which sends the spans still queued.
//
// Nothing here is global: no otel.SetTracerProvider, no global propagator.
// The exporter reads no proxy from the environment, and every setting the
// OTEL_EXPORTER_OTLP_* variables could change (endpoint, headers, TLS,
// compression, timeout) is set from the otlp.Config, so the caller decides
// how those variables apply (otlp.Config.ApplyEnv is one way).
//
// These spans are not the audit trail: a span can be sampled away, dropped
// by a full queue or lost with a receiver that is down, and is never
// retried from disk. The audit record names its span (trace_id, span_id)
// so the two can be joined.
package telemetry
