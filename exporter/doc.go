// Package exporter delivers audit records to where they are read: it holds
// the Sink interface every destination implements, the Permanent error
// mark, and the Queue that carries records from the request path to one
// sink with batching and retry, so each sink only writes.
//
// The Queue is in memory for now: records it holds are lost on a crash. A
// durable on-disk spool will take its place between Offer and the sink;
// sinks are unaffected by that change.
package exporter
