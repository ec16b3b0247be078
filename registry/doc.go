// Package registry keeps what the records say in an embedded SQLite
// database (modernc.org/sqlite, pure Go): every record, and the state they
// add up to — each user's last seen identity, each group's members, and the
// timeline of changes — so an admin can answer "what happened to this user"
// without grepping JSON.
//
// A Registry is one more consumer of records: it implements the exporter
// Sink interface, fed in-process from the spool (scimtrail proxy
// --registry) or centrally from a Kafka topic or a JSON-lines file (see
// package registry/feed). Ingestion is idempotent by record id, so a
// replay or an at-least-once redelivery changes nothing.
package registry
