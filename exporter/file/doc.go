// Package file is the exporter sink that writes records as JSON lines to a
// file or to standard output: one compact JSON object (schema.Record) per
// line, the format log shippers and jq read.
package file
