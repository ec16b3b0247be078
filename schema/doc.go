// Package schema defines Record, the one type that crosses from the proxy
// and the SCIM derivation to the exporters, and its versioned JSON Schema
// (record.v1.json, embedded). A key is never renamed or retyped within a
// schema version; new optional keys may be added.
package schema
