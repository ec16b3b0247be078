// Package spool is the durable queue between the request path and the
// sinks. Take appends a record to an on-disk log of segment files and
// returns once the operating system has it, so a killed process loses
// nothing; fsync follows by group commit. Each registered sink reads the
// spool with its own cursor, in append order, through one delivery loop
// that batches, retries with backoff and jitter, and sets aside what a sink
// refuses for good in a dead-letter file. A record leaves the spool once
// every sink has acknowledged it, or, under the drop-oldest policy, when
// the spool is full; a segment leaves the disk once all its records have.
package spool
