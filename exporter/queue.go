package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// Defaults of QueueOptions.
const (
	DefaultCapacity     = 10000
	DefaultMaxBatch     = 512
	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 5 * time.Second
	DefaultName         = "default"
)

// warnEvery bounds how often a full queue logs.
const warnEvery = time.Second

// QueueOptions configures NewQueue. The zero value is ready to use: each
// unset field means its documented default.
type QueueOptions struct {
	// Capacity is how many records the queue holds before Offer drops.
	// Zero or negative means 10000.
	Capacity int
	// MaxBatch is the most records handed to one Export call. Zero or
	// negative means 512.
	MaxBatch int
	// RetryInitial is the backoff after the first failed Export; it doubles
	// after each further failure up to RetryMax. Each wait is jittered to
	// between half and all of the current backoff. Zero or negative means
	// 100ms and 5s.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Logger receives export failures and drops. Nil means discard.
	Logger *slog.Logger
	// Metrics counts exports, drops and errors under the "sink" label
	// Name. Nil means no metrics.
	Metrics *QueueMetrics
	// Name names the sink in metrics and logs. Empty means "default".
	Name string
}

func (o QueueOptions) capacity() int           { return orDefault(o.Capacity, DefaultCapacity) }
func (o QueueOptions) maxBatch() int           { return orDefault(o.MaxBatch, DefaultMaxBatch) }
func (o QueueOptions) retryMax() time.Duration { return orDefault(o.RetryMax, DefaultRetryMax) }

func (o QueueOptions) retryInitial() time.Duration {
	return min(orDefault(o.RetryInitial, DefaultRetryInitial), o.retryMax())
}

func (o QueueOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o QueueOptions) name() string {
	if o.Name == "" {
		return DefaultName
	}
	return o.Name
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Queue is a bounded in-memory queue between the request path and one
// Sink. Offer never blocks; one worker goroutine hands whatever is waiting,
// up to MaxBatch records, to one Export call, in Offer order, and retries a
// failed call with exponential backoff and jitter until it succeeds, the
// error is Permanent (the batch is logged and dropped), or Shutdown's
// context ends. A sink that keeps failing therefore stalls only its own
// queue, which then fills and drops new records (counted as queue_full).
//
// Records in the queue are lost on a crash. Make a Queue with NewQueue;
// its methods are safe for concurrent use.
type Queue struct {
	sink         Sink
	name         string
	capacity     int
	maxBatch     int
	retryInitial time.Duration
	retryMax     time.Duration
	log          *slog.Logger
	metrics      *QueueMetrics

	ch chan schema.Record
	// pending counts records accepted and not yet exported or dropped:
	// those in ch plus the batch in hand.
	pending atomic.Int64

	// mu orders Offer's send (read lock) before Shutdown's close of ch
	// (write lock), and guards state and cancel.
	mu     sync.RWMutex
	state  queueState
	cancel context.CancelFunc // ends the worker's exports and backoff
	done   chan struct{}      // closed when the worker has exited

	lastWarn atomic.Int64 // UnixNano of the last queue-full warning
	unwarned atomic.Int64 // queue-full drops not yet logged
}

type queueState int

const (
	stateNew queueState = iota
	stateRunning
	stateStopped
)

// NewQueue returns a queue in front of sink. Records offered before Start
// wait in the queue. sink must not be nil (NewQueue panics).
func NewQueue(sink Sink, opts QueueOptions) *Queue {
	if sink == nil {
		panic("exporter: NewQueue: nil sink")
	}
	q := &Queue{
		sink:         sink,
		name:         opts.name(),
		capacity:     opts.capacity(),
		maxBatch:     opts.maxBatch(),
		retryInitial: opts.retryInitial(),
		retryMax:     opts.retryMax(),
		log:          opts.logger(),
		metrics:      opts.Metrics,
		done:         make(chan struct{}),
	}
	q.ch = make(chan schema.Record, q.capacity)
	q.metrics.track(q)
	return q
}

// Start starts the worker. ctx is for start-up only, as in the
// OpenTelemetry Collector: cancelling it later does not stop the queue
// (Shutdown does), but its values reach the sink. Start fails if the
// queue was started or shut down before.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != stateNew {
		return fmt.Errorf("exporter: queue %s: start: already started or shut down", q.name)
	}
	q.startLocked(ctx)
	return nil
}

func (q *Queue) startLocked(ctx context.Context) {
	q.state = stateRunning
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.cancel = cancel
	go q.run(wctx)
}

// Offer enqueues rec without blocking. It returns false, and counts the
// record as dropped, when the queue is full (reason queue_full, with a
// warning logged at most once a second) or shut down (reason shutdown).
func (q *Queue) Offer(rec schema.Record) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.state == stateStopped {
		q.metrics.addDropped(q.name, ReasonShutdown, 1)
		return false
	}
	// Count before sending: the worker may finish the record before a
	// later Add, and Len must never go negative.
	q.pending.Add(1)
	select {
	case q.ch <- rec:
		return true
	default:
		q.pending.Add(-1)
		q.dropFull()
		return false
	}
}

func (q *Queue) dropFull() {
	q.metrics.addDropped(q.name, ReasonQueueFull, 1)
	q.unwarned.Add(1)
	now := time.Now().UnixNano()
	last := q.lastWarn.Load()
	if now-last < int64(warnEvery) || !q.lastWarn.CompareAndSwap(last, now) {
		return
	}
	q.log.Warn("exporter: queue full, dropping records",
		"sink", q.name, "dropped", q.unwarned.Swap(0), "capacity", q.capacity)
}

// Len returns the number of records accepted and not yet exported or
// dropped, including the batch being exported.
func (q *Queue) Len() int { return int(q.pending.Load()) }

// Shutdown stops taking records (Offer returns false from now on) and
// waits until every queued record is exported or dropped. When ctx ends
// first it cancels the export in progress, returns an error wrapping
// ctx.Err(), and the worker drops what is left, counting it under reason
// shutdown, without further Export calls. A queue never started is
// started here so its records are still delivered. Later calls wait in
// the same way.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	switch q.state {
	case stateNew:
		q.startLocked(ctx)
		fallthrough
	case stateRunning:
		q.state = stateStopped
		close(q.ch)
	}
	cancel := q.cancel
	q.mu.Unlock()

	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("exporter: queue %s: shutdown with %d records undelivered: %w",
			q.name, q.Len(), ctx.Err())
	}
}

// run is the worker: it exits when ch is closed and drained.
func (q *Queue) run(ctx context.Context) {
	defer close(q.done)
	defer q.metrics.untrack(q)
	batch := make([]schema.Record, 0, q.maxBatch)
	for rec := range q.ch {
		batch = append(batch[:0], rec)
	fill:
		for len(batch) < q.maxBatch {
			select {
			case r, ok := <-q.ch:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.deliver(ctx, batch)
		clear(batch) // let the records go while we wait for more
	}
}

// deliver exports batch, retrying until it succeeds, the error is
// permanent, or ctx (cancelled by a Shutdown past its deadline) ends.
func (q *Queue) deliver(ctx context.Context, batch []schema.Record) {
	backoff := q.retryInitial
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			q.drop(ReasonShutdown, batch, ctx.Err())
			return
		}
		err := q.sink.Export(ctx, batch)
		if err == nil {
			q.metrics.addExported(q.name, len(batch))
			q.pending.Add(-int64(len(batch)))
			return
		}
		q.metrics.incExportErrors(q.name)
		switch {
		case IsPermanent(err):
			q.drop(ReasonPermanentError, batch, err)
			return
		case ctx.Err() != nil:
			q.drop(ReasonShutdown, batch, err)
			return
		}
		wait := jitter(backoff)
		q.log.Warn("exporter: export failed, retrying",
			"sink", q.name, "records", len(batch), "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			q.drop(ReasonShutdown, batch, errors.Join(err, ctx.Err()))
			return
		case <-t.C:
		}
		backoff = min(2*backoff, q.retryMax)
	}
}

func (q *Queue) drop(reason string, batch []schema.Record, err error) {
	q.metrics.addDropped(q.name, reason, len(batch))
	q.pending.Add(-int64(len(batch)))
	q.log.Error("exporter: dropping records",
		"sink", q.name, "records", len(batch), "reason", reason,
		"first_id", batch[0].ID, "err", err)
}

// jitter returns a wait in [d/2, d], so that sinks failing together do not
// retry in step.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}

// ErrNotTaken is returned by Take when the queue is full or shut down.
var ErrNotTaken = errors.New("exporter: queue full or shut down: record dropped")

// Take is Offer for the audit pipeline's Sink interface: it never blocks,
// and returns ErrNotTaken when the record was dropped.
func (q *Queue) Take(_ context.Context, rec schema.Record) error {
	if q.Offer(rec) {
		return nil
	}
	return ErrNotTaken
}
