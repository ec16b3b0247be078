// Package collectortest proves that the OpenTelemetry Collector's own OTLP
// receiver takes what scimtrail's OTLP logs sink sends, over gRPC and
// HTTP/protobuf, whole. It is a module of its own so that the Collector's
// many dependencies stay out of scimtrail's go.mod; it holds only tests.
package collectortest
