// Package schema defines Record, the one type that crosses from the proxy
// and the SCIM derivation to the exporters, its versioned JSON Schema
// (record.v1.json, embedded), and its mapping to OpenTelemetry log records
// (NewLogs, AppendLogRecords, and RecordsFromLogs back). A key is never
// renamed or retyped within a schema version; new optional keys may be
// added.
package schema
