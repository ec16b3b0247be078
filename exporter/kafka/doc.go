// Package kafka is the exporter sink that produces each audit record as
// one Kafka message, on segmentio/kafka-go's Writer in synchronous mode.
//
// The message key is the record's resource_id, else its idp_resource_id,
// else its id, hashed with murmur2 as the Java client does, so one
// resource's records stay in order on one partition whichever client wrote
// them. The value is the record as JSON (Encoding "json", the file sink's
// line without the newline) or an OTLP ExportLogsServiceRequest holding one
// log record (Encoding "otlp_proto", readable by the OpenTelemetry
// Collector's kafka receiver). Headers carry content-type, schema-version
// and record-id.
//
// A record too large for MaxMessageBytes is cut down (request_body first)
// and marked, never refused by the broker; errors that retrying cannot fix
// are marked exporter.Permanent. Retrying, batching across calls and
// durability belong to the caller (the spool); the sink makes one attempt.
package kafka
