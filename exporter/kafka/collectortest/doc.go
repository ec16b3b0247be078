// Package collectortest proves that the OpenTelemetry Collector's kafka
// receiver reads what scimtrail's Kafka sink writes with the otlp_proto
// encoding. It is a module of its own so that the Collector's many
// dependencies stay out of scimtrail's go.mod; it holds only a test.
package collectortest
