// Package loadgen sends HTTP/1.1 load to one server and measures how long
// its answers take, for `scimtrail bench`.
//
// Two shapes of load:
//
//   - Closed: a fixed number of keep-alive connections, each sending its
//     next request as soon as the previous answer has been read. It finds
//     the throughput a server sustains at that concurrency; its latencies
//     are those of a client that waits, so a stall hides the requests that
//     would have been sent meanwhile (coordinated omission).
//   - Open: requests at a fixed rate, whatever the server does. Each
//     latency counts from the request's scheduled send time, so time spent
//     waiting for a free connection while the server is slow shows up in the
//     percentiles. Only the generator's own lateness is left out: Go's
//     timers on Linux fire up to about a millisecond late (the netpoller
//     sleeps in whole milliseconds), and counting that would add the same
//     noise to every target; a request whose timer fired late counts from
//     when it fired.
//
// And one that is not a load but a job: Each sends every request of a list
// exactly once, over a fixed number of connections, as an IdP does an
// initial sync; its Duration is the time the whole list took.
//
// Requests are pre-encoded bytes (Encode) written to a raw connection and
// answers are read with http.ReadResponse: no http.Client, no per-request
// goroutine, so the generator costs a few microseconds per request and
// leaves its CPU to the server when both share a machine. Latencies go
// into a Histogram: log-linear buckets, fixed memory, within 0.4% of the
// exact value.
//
// Every run is bounded: it stops sending at the end of its duration (Each,
// at the end of its list), each request has a timeout, and cancelling the
// context closes the connections. Nothing here retries: a failed request is
// counted, its connection closed and dialled again for the next one.
package loadgen
