// Package exporter is the contract between the spool and the places
// records go: the Sink interface every destination implements and the
// Permanent mark for errors retrying cannot fix. The machinery that wraps
// every sink the same way (durable spool, batching, retry with backoff,
// dead letters) is in exporter/spool; the sinks are its subpackages.
package exporter
