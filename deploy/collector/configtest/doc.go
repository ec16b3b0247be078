// Package configtest proves that the OpenTelemetry Collector configurations
// in deploy/collector are what a Collector accepts: each file is loaded and
// validated by the Collector's own config loading (otelcoltest), with its
// environment variables set, and the pipelines and settings that matter to
// scimtrail's records are checked.
//
// The otlp and kafka receivers, the batch and resource processors and the
// file exporter are the real components, at one Collector release (core
// v0.165.0, contrib v0.165.1, as in exporter/kafka/collectortest). The
// splunk_hec and elasticsearch exporters and the transform processor are not
// available at that release, so they stand in as placeholders that keep their
// section as written: their own key checks do not run, and the tests check
// the values by hand. The transform statements are parsed, and run on log
// records shaped like scimtrail's, by the OTTL module (v1.4.1) that this
// release of the transform processor is built on.
//
// It is a module of its own so that the Collector's many dependencies stay
// out of scimtrail's go.mod; it holds only tests.
package configtest
