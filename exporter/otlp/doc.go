// Package otlp is the sink that sends audit records to an OpenTelemetry
// Protocol (OTLP) logs receiver — a Collector, or a vendor's OTLP endpoint —
// over gRPC or HTTP/protobuf, one log record per audit record, mapped by
// schema.NewLogs. The spool feeds it, batches and retries; the sink splits
// requests to fit the receiver's limits and tells the spool which answers
// are worth retrying.
package otlp
