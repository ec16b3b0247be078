package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

// Defaults of SinkConfig.
const (
	DefaultBatchSize    = 512
	DefaultBatchBytes   = 4 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// maxThrottle bounds the wait a sink's destination may ask for (Retry-After,
// RetryInfo), so a wrong header cannot park a sink for hours.
const maxThrottle = 5 * time.Minute

// SinkConfig registers one sink with the spool. The zero value of a field
// means its documented default; Name and Sink are required.
type SinkConfig struct {
	// Name names the sink in its cursor, metrics, logs and dead letters.
	// It is the cursor's key: renaming a sink restarts it from the oldest
	// record held.
	Name string
	Sink exporter.Sink
	// BatchSize and BatchBytes bound one Export call: at most BatchSize
	// records, and no more records once BatchBytes of encoded records are
	// in (a single larger record still goes alone). Defaults 512 and 4 MiB.
	BatchSize  int
	BatchBytes int
	// Linger is how long a batch smaller than BatchSize waits for more
	// records before it is exported. Default 0: export what is there.
	Linger time.Duration
	// Timeout bounds one Export call. Default 30s.
	Timeout time.Duration
	// RetryInitial is the wait after the first failed Export; it doubles
	// after each further failure up to RetryMax. Each wait is jittered to
	// between half and all of the current backoff. Defaults 100ms and 30s.
	RetryInitial time.Duration
	RetryMax     time.Duration
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// SinkStatus is one sink's state, for /readyz.
type SinkStatus struct {
	Name string
	// Lag is how many records the sink has not acknowledged.
	Lag int64
	// OldestAge is how long the oldest of them has waited; 0 when none.
	OldestAge time.Duration
	// LastError is the error of the last failed Export, "" after a
	// success.
	LastError string
	// Failures counts Export calls failed in a row.
	Failures int64
}

// Behind reports whether the sink is failing or has records waiting longer
// than after.
func (st SinkStatus) Behind(after time.Duration) bool {
	return st.Failures > 0 || st.OldestAge > after
}

// consumer is one sink's delivery loop.
type consumer struct {
	s   *Spool
	cfg SinkConfig
	log *slog.Logger
	// cursor is the last sequence number the sink acknowledged.
	cursor atomic.Uint64
	done   chan struct{}

	mu       sync.Mutex
	lastErr  string
	failures int64
}

// AddSink registers a sink. Call it before Start; it fails after.
func (s *Spool) AddSink(cfg SinkConfig) error {
	if cfg.Name == "" || cfg.Sink == nil {
		return errors.New("spool: add sink: a name and a sink are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return fmt.Errorf("spool: add sink %s: spool already started", cfg.Name)
	}
	for _, c := range s.consumers {
		if c.cfg.Name == cfg.Name {
			return fmt.Errorf("spool: add sink %s: name already used", cfg.Name)
		}
	}
	cfg.BatchSize = orDefault(cfg.BatchSize, DefaultBatchSize)
	cfg.BatchBytes = orDefault(cfg.BatchBytes, DefaultBatchBytes)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.RetryMax = orDefault(cfg.RetryMax, DefaultRetryMax)
	cfg.RetryInitial = min(orDefault(cfg.RetryInitial, DefaultRetryInitial), cfg.RetryMax)
	s.consumers = append(s.consumers, &consumer{
		s: s, cfg: cfg, done: make(chan struct{}),
		log: s.log.With("sink", cfg.Name),
	})
	return nil
}

// Start loads each sink's cursor, forgets the cursors of sinks no longer
// registered (they would hold records forever), reclaims what every sink
// has, and starts the delivery loops. ctx is for start-up only; Shutdown
// stops the loops. A sink new to this spool starts at its oldest record.
func (s *Spool) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("spool: start: already started or shut down")
	}
	if len(s.consumers) == 0 {
		return errors.New("spool: start: no sink registered")
	}
	names := map[string]*consumer{}
	for _, c := range s.consumers {
		names[c.cfg.Name] = c
	}
	var stale []string
	for name, v := range s.stored {
		if c, ok := names[name]; ok {
			c.cursor.Store(v)
		} else {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	for _, name := range stale {
		// What that sink had not yet delivered is reclaimed once the
		// others have it: say how much, and count it.
		n := s.lagFrom(s.stored[name])
		s.m.dropped.WithLabelValues("sink_removed").Add(float64(n))
		s.log.Warn("spool: sink no longer configured; its cursor is removed and its undelivered records are given up",
			"sink", name, "records", n)
	}
	// Every sink's cursor is stored from the start, so a sink removed
	// before it ever delivered is seen, and counted, as removed.
	if err := s.updateCursors(); err != nil {
		return fmt.Errorf("spool: start: %w", err)
	}
	s.cursorsLive.Store(true)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.started = true
	for _, c := range s.consumers {
		go c.run(cctx)
	}
	return nil
}

// updateCursors stores every sink's cursor (the stale ones no longer),
// and releases what all sinks have acknowledged: the records leave the
// count at once, their segments once wholly behind. The consumers list is
// fixed once Start runs.
func (s *Spool) updateCursors() error {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	if s.filesClosed {
		return ErrClosed
	}
	cursors := make(map[string]uint64, len(s.consumers))
	// The records before first are gone for every sink: acknowledged by
	// all, or dropped (spool full). A cursor behind them is stored as just
	// before first, so a restart does not hold dropped records again.
	gone := s.first.Load() - 1
	var floor uint64
	for i, c := range s.consumers {
		v := c.cursor.Load()
		cursors[c.cfg.Name] = max(v, gone)
		if i == 0 || v < floor {
			floor = v
		}
	}
	err := s.cursors.write(cursors)
	s.wmu.Lock()
	if first := s.first.Load(); floor+1 > first {
		floor = min(floor, s.last.Load())
		s.bytes.Add(-s.rlog.span(first, floor))
		s.first.Store(floor + 1)
	}
	s.wmu.Unlock()
	s.rlog.dropBefore(s.first.Load())
	if err != nil {
		return fmt.Errorf("update cursors: %w", err)
	}
	return nil
}

func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	lastRound := false
	for {
		wake := c.s.changed()
		recs, seqs, last, err := c.s.read(c.cursor.Load(), c.cfg.BatchSize, c.cfg.BatchBytes)
		if err != nil {
			c.log.Error("spool: read", "error", err)
			if !sleep(ctx, c.cfg.RetryInitial) {
				return
			}
			continue
		}
		if len(recs) == 0 && last > c.cursor.Load() {
			c.ack(last) // only unreadable records: move past them
			continue
		}
		if len(recs) == 0 {
			select {
			case <-wake:
				continue
			case <-c.s.drain:
				// Shutdown: the writer has finished, so nothing new can
				// arrive; go round once more in case its last group came
				// in after our read.
				if !lastRound {
					lastRound = true
					continue
				}
				return
			case <-ctx.Done():
				return
			}
		}
		if len(recs) < c.cfg.BatchSize && c.cfg.Linger > 0 && !closed(c.s.drain) {
			if !sleep(ctx, c.cfg.Linger) {
				return
			}
			if recs, seqs, last, err = c.s.read(c.cursor.Load(), c.cfg.BatchSize, c.cfg.BatchBytes); err != nil || len(recs) == 0 {
				continue
			}
		}
		if !c.deliver(ctx, recs, seqs) {
			return
		}
		c.ack(last)
	}
}

func (c *consumer) ack(last uint64) {
	if last <= c.cursor.Load() {
		return
	}
	c.cursor.Store(last)
	if err := c.s.updateCursors(); err != nil {
		// The in-memory cursor moved on; a restart before the next ack
		// redelivers, which at-least-once allows.
		c.log.Warn("spool: store cursor", "error", err)
	}
}

// deliver exports recs (whose sequence numbers are seqs) until it succeeds,
// sets aside what the sink refuses for good, or ctx ends (false: nothing
// acknowledged). Records the drop-oldest policy removed while it retried
// are left out of the next attempt (one removed during an attempt that then
// succeeds is delivered although counted dropped).
func (c *consumer) deliver(ctx context.Context, recs []schema.Record, seqs []uint64) bool {
	backoff := c.cfg.RetryInitial
	for {
		for len(seqs) > 0 && seqs[0] < c.s.first.Load() {
			recs, seqs = recs[1:], seqs[1:]
		}
		if len(recs) == 0 {
			return true
		}
		err := c.export(ctx, recs)
		if err == nil {
			c.succeeded(len(recs))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if exporter.IsPermanent(err) {
			if len(recs) > 1 {
				// Find the records the sink refuses; deliver the others.
				for i := range recs {
					if !c.deliver(ctx, recs[i:i+1], seqs[i:i+1]) {
						return false
					}
				}
				return true
			}
			if derr := c.s.dlq.write(c.cfg.Name, recs[0], err, c.s.now()); derr == nil {
				c.s.m.deadLettered.WithLabelValues(c.cfg.Name).Inc()
				c.log.Error("spool: sink refused a record for good; written to the dead-letter file",
					"record_id", recs[0].ID, "file", c.s.dlq.path, "error", err)
				return true
			} else {
				err = fmt.Errorf("%w (and the dead-letter file failed: %v)", err, derr)
			}
		}
		c.failed(err)
		wait := jitter(backoff)
		if d, ok := exporter.ThrottleDelay(err); ok {
			// The destination said when to come back: not sooner, and not
			// later than maxThrottle whatever it said.
			wait = max(wait, min(d, maxThrottle))
		}
		if !sleep(ctx, wait) {
			return false
		}
		backoff = min(backoff*2, c.cfg.RetryMax)
	}
}

func (c *consumer) export(ctx context.Context, recs []schema.Record) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := c.cfg.Sink.Export(ctx, recs)
	c.s.m.exportDuration.WithLabelValues(c.cfg.Name).Observe(time.Since(start).Seconds())
	return err
}

func (c *consumer) succeeded(n int) {
	c.s.m.delivered.WithLabelValues(c.cfg.Name).Add(float64(n))
	c.mu.Lock()
	failures := c.failures
	c.failures, c.lastErr = 0, ""
	c.mu.Unlock()
	if failures > 0 {
		c.log.Info("spool: sink recovered", "failed_attempts", failures)
	}
}

func (c *consumer) failed(err error) {
	c.s.m.retries.WithLabelValues(c.cfg.Name).Inc()
	c.mu.Lock()
	c.failures++
	first := c.failures == 1
	c.lastErr = err.Error()
	c.mu.Unlock()
	// The first failure of a run is a warning; the repeats are in the
	// metrics and /readyz rather than a line per attempt.
	if first {
		c.log.Warn("spool: export failed; retrying with backoff", "error", err)
	} else {
		c.log.Debug("spool: export failed again", "error", err)
	}
}

func (c *consumer) status() SinkStatus {
	st := SinkStatus{Name: c.cfg.Name}
	c.mu.Lock()
	st.LastError, st.Failures = c.lastErr, c.failures
	c.mu.Unlock()
	cursor := max(c.cursor.Load(), c.s.first.Load()-1)
	if st.Lag = c.s.lagFrom(cursor); st.Lag > 0 {
		if at, ok := c.s.appendedAt(cursor); ok {
			st.OldestAge = max(c.s.now().Sub(at), 0)
		}
	}
	return st
}

// lagFrom returns how many records the spool holds after cursor.
func (s *Spool) lagFrom(cursor uint64) int64 {
	cursor = max(cursor, s.first.Load()-1)
	if last := s.last.Load(); last > cursor {
		return int64(last - cursor)
	}
	return 0
}

// Status returns every sink's state, in registration order.
func (s *Spool) Status() []SinkStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SinkStatus, 0, len(s.consumers))
	for _, c := range s.consumers {
		out = append(out, c.status())
	}
	return out
}

// read decodes up to n records after the cursor, stopping once maxBytes of
// encoded records are in, and returns them, their sequence numbers, and the
// last sequence number read. A record that cannot be decoded (a damaged
// file) is skipped, counted and logged: it can never be delivered.
func (s *Spool) read(after uint64, n, maxBytes int) ([]schema.Record, []uint64, uint64, error) {
	var recs []schema.Record
	var seqs []uint64
	last := after
	through := s.last.Load()
	size := 0
	for seq := max(after+1, s.first.Load()); seq <= through && len(recs) < n && (size < maxBytes || len(recs) == 0); {
		// Records share their slices with the other sinks' copies: a
		// sink changes a record's fields, never its slices' elements.
		// The lock is taken per record, never across the file's reads:
		// the writer takes it too, on the request path.
		if rec, ok := s.recent.lookup(seq); ok {
			recs = append(recs, rec)
			seqs = append(seqs, seq)
			size += int(s.rlog.span(seq, seq))
			last, seq = seq, seq+1
			continue
		}
		frames, err := s.rlog.read(seq, min(through, seq+uint64(n-len(recs))-1), maxBytes-size)
		if err != nil {
			if seq < s.first.Load() {
				// Dropped (spool full) while we read: go on from what is
				// held.
				seq = s.first.Load()
				continue
			}
			return nil, nil, after, fmt.Errorf("read after %d: %w", after, err)
		}
		if len(frames) == 0 {
			last = through // nothing held past seq
			break
		}
		for _, fr := range frames {
			last, seq = fr.seq, fr.seq+1
			size += frameHeader + len(fr.data)
			var rec schema.Record
			if fr.data == nil || json.Unmarshal(fr.data, &rec) != nil {
				s.m.dropped.WithLabelValues("corrupt").Inc()
				s.log.Error("spool: record unreadable; skipped", "seq", fr.seq)
				continue
			}
			recs = append(recs, rec)
			seqs = append(seqs, fr.seq)
		}
	}
	return recs, seqs, last, nil
}

// appendedAt returns when the first record after the cursor was appended.
func (s *Spool) appendedAt(after uint64) (time.Time, bool) {
	at, ok := s.rlog.appendedAt(after + 1)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads retries of many proxies over half to all of d, so they do
// not hit a recovering broker together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
