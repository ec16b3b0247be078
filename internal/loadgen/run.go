package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the server to load and what to send it.
type Target struct {
	// Addr is the host:port to dial (TCP, no TLS).
	Addr string
	// Requests are encoded requests (Encode), sent in turn: connection i
	// starts at the i-th and goes round; Each sends each one once. At
	// least one is required.
	Requests [][]byte
	// Timeout bounds each request, from its write to the end of its
	// answer, and each dial. Default 10s.
	Timeout time.Duration
}

func (t Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return defaultTimeout
}

// Result is what a run measured.
type Result struct {
	// Latency holds one entry per answered request (2xx or not).
	Latency Histogram
	// OK counts 2xx answers, NotOK other answers.
	OK, NotOK int64
	// TransportErrors counts requests without an answer: dial, write or
	// read failures, timeouts (also counted in Timeouts).
	TransportErrors, Timeouts int64
	// Unsent counts open-loop requests never sent: still waiting for a
	// connection one Timeout after the end, or when the run was cancelled.
	Unsent int64
	// Duration is the run's length, the divisor of Rate.
	Duration time.Duration
}

// Answered is the number of requests answered, 2xx or not.
func (r *Result) Answered() int64 { return r.OK + r.NotOK }

// Errors is everything that was not a 2xx answer.
func (r *Result) Errors() int64 { return r.NotOK + r.TransportErrors + r.Unsent }

// Rate is answered requests per second.
func (r *Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Answered()) / r.Duration.Seconds()
}

func (r *Result) merge(o *Result) {
	r.Latency.Merge(&o.Latency)
	r.OK += o.OK
	r.NotOK += o.NotOK
	r.TransportErrors += o.TransportErrors
	r.Timeouts += o.Timeouts
	r.Unsent += o.Unsent
}

// count records the outcome of one request that took d.
func (r *Result) count(status int, err error, d time.Duration) {
	switch {
	case err != nil:
		r.TransportErrors++
		if isTimeout(err) {
			r.Timeouts++
		}
	case status >= 200 && status < 300:
		r.OK++
		r.Latency.Record(d)
	default:
		r.NotOK++
		r.Latency.Record(d)
	}
}

var errNoRequests = errors.New("loadgen: a Target needs at least one request")

// Closed runs conns connections for d, each sending its next request as
// soon as it has read the previous answer. Only answers read before the
// end count; requests in flight then finish (within Timeout) uncounted.
// It returns early, with what it measured and ctx's error, when ctx ends.
func Closed(ctx context.Context, t Target, conns int, d time.Duration) (*Result, error) {
	if len(t.Requests) == 0 {
		return nil, errNoRequests
	}
	if conns < 1 {
		return nil, errors.New("loadgen: Closed needs at least one connection")
	}
	set, stop := newConnSet(ctx)
	defer stop()
	start := time.Now()
	end := start.Add(d)
	parts, wait := workers(t, set, conns, func(i int, c *client, res *Result) {
		for n := i; ctx.Err() == nil; n++ {
			t0 := time.Now()
			if !t0.Before(end) {
				return
			}
			status, err := c.do(t.Requests[n%len(t.Requests)])
			t1 := time.Now()
			if t1.After(end) {
				return
			}
			res.count(status, err, t1.Sub(t0))
			if err != nil {
				pause(ctx, end)
			}
		}
	})
	wait()
	return total(parts, min(time.Since(start), d)), ctx.Err()
}

// Open sends requests at rate per second for d over up to conns
// connections, each on the first free one. A request's latency counts from
// its scheduled time (or from when the generator's timer fired, if that
// was later), to the end of its answer, so the time it waited for a free
// connection is part of it. Requests still waiting one Timeout after the
// end are not sent (Unsent). It returns early, with what it measured and
// ctx's error, when ctx ends.
func Open(ctx context.Context, t Target, rate float64, conns int, d time.Duration) (*Result, error) {
	if len(t.Requests) == 0 {
		return nil, errNoRequests
	}
	if conns < 1 || !(rate > 0) || math.IsInf(rate, 0) {
		return nil, errors.New("loadgen: Open needs at least one connection and a positive rate")
	}
	set, stop := newConnSet(ctx)
	defer stop()
	n := int(math.Ceil(rate * d.Seconds()))
	// Room for every request of the run up to a bound, so that the
	// schedule never waits on the server; past the bound it may, and
	// then the wait counts (see schedule).
	due := make(chan time.Time, min(n, 1<<20)+1)
	start := time.Now()
	end := start.Add(d)
	parts, wait := workers(t, set, conns, func(i int, c *client, res *Result) {
		giveUp := end.Add(t.timeout())
		k := i
		for from := range due {
			if ctx.Err() != nil || time.Now().After(giveUp) {
				res.Unsent++
				continue
			}
			status, err := c.do(t.Requests[k%len(t.Requests)])
			k++
			res.count(status, err, time.Since(from))
		}
	})
	schedule(ctx, due, start, end, rate, n)
	close(due)
	wait()
	return total(parts, d), ctx.Err()
}

// Each sends every request of t exactly once, over up to conns keep-alive
// connections: each connection takes the next request not yet sent, so a
// slow answer holds up only its own connection. A latency counts from the
// request's write to the end of its answer; Duration is the wall time from
// the first send to the last answer. Nothing is sent twice: a request that
// gets no answer counts as a transport error, and the connection is
// dialled again for the next. When ctx ends, the requests not yet sent
// count as Unsent and it returns what it measured with ctx's error.
func Each(ctx context.Context, t Target, conns int) (*Result, error) {
	if len(t.Requests) == 0 {
		return nil, errNoRequests
	}
	if conns < 1 {
		return nil, errors.New("loadgen: Each needs at least one connection")
	}
	set, stop := newConnSet(ctx)
	defer stop()
	var next atomic.Int64
	n := int64(len(t.Requests))
	start := time.Now()
	parts, wait := workers(t, set, int(min(int64(conns), n)), func(_ int, c *client, res *Result) {
		for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
			if ctx.Err() != nil {
				res.Unsent++
				continue
			}
			t0 := time.Now()
			status, err := c.do(t.Requests[i])
			res.count(status, err, time.Since(t0))
		}
	})
	wait()
	return total(parts, time.Since(start)), ctx.Err()
}

// workers starts conns goroutines, each with its own connection and
// Result, running work(i, client, result); wait waits for them all.
func workers(t Target, set *connSet, conns int, work func(i int, c *client, res *Result)) (parts []*Result, wait func()) {
	parts = make([]*Result, conns)
	var wg sync.WaitGroup
	for i := range conns {
		parts[i] = &Result{}
		wg.Go(func() {
			c := &client{addr: t.Addr, timeout: t.timeout(), conns: set}
			defer c.close()
			work(i, c, parts[i])
		})
	}
	return parts, wg.Wait
}

// schedule puts the send time of each of n requests on due, at its time.
// A request counts from its scheduled time, or from when the timer that
// released it fired if that was later: a late timer is the generator's own
// delay, not the server's. A request released late because due was full
// (the server too slow to take them) counts from its scheduled time.
func schedule(ctx context.Context, due chan<- time.Time, start, end time.Time, rate float64, n int) {
	interval := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	woke := start
	for i := range n {
		at := start.Add(time.Duration(float64(i) * interval))
		if !at.Before(end) {
			return
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
				woke = time.Now()
			case <-ctx.Done():
				return
			}
		}
		from := at
		if woke.After(at) {
			from = woke
		}
		select {
		case due <- from:
		case <-ctx.Done():
			return
		}
	}
}

// pause waits errorPause, or less when the run ends first.
func pause(ctx context.Context, end time.Time) {
	t := time.NewTimer(min(errorPause, max(time.Until(end), 0)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func total(parts []*Result, d time.Duration) *Result {
	r := &Result{Duration: d}
	for _, p := range parts {
		r.merge(p)
	}
	return r
}
