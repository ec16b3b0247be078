package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/schema"
)

// Sync modes (Config.Sync).
const (
	// SyncInterval fsyncs at most every Config.SyncInterval. A killed
	// process loses nothing (the OS has every write); a power loss or kernel
	// crash can lose the last interval.
	SyncInterval = "interval"
	// SyncAlways fsyncs before Take returns, one fsync for every record
	// that arrived while the previous one ran (group commit).
	SyncAlways = "always"
)

// Full policies (Config.FullPolicy).
const (
	// DropOldest makes room by deleting the oldest records, counted and
	// logged.
	DropOldest = "drop-oldest"
	// Block keeps every record: Admit refuses new mutating requests while
	// the spool is full, so the proxy can answer 503 instead of forwarding
	// them unlogged.
	Block = "block"
)

// Defaults of Config.
const (
	DefaultSyncInterval = 200 * time.Millisecond
	DefaultMaxBytes     = 1 << 30
	// DeadLetterFileName and LockFileName are the spool's files in
	// Config.Dir, beside the log's segments (*.seg) and CursorFileName.
	DeadLetterFileName = "dead-letter.jsonl"
	LockFileName       = "lock"
)

// Segment sizes: a segment is deleted whole, so the disk may hold up to one
// segment more than MaxBytes.
const (
	maxSegmentSize = 16 << 20
	minSegmentSize = 64 << 10
)

// stopGrace is how long Shutdown waits for sinks after cancelling them.
const stopGrace = 5 * time.Second

// maxGroup bounds the records committed in one transaction.
const maxGroup = 1024

// retryAfterWriteError is how long Admit refuses after a failed write,
// before it lets requests through to try again.
const retryAfterWriteError = time.Second

var (
	// ErrFull is returned by Take, under the block policy, for a read-only
	// request's record that does not fit: reads are forwarded while the
	// spool is full, only their records are dropped (and counted).
	ErrFull = errors.New("spool: full")
	// ErrClosed is returned by Take after Shutdown began.
	ErrClosed = errors.New("spool: closed")
	// ErrNotDurable is returned (wrapped) by Take under the always mode
	// when the fsync after the write failed: the record is in the spool
	// file but may not survive a power loss.
	ErrNotDurable = errors.New("spool: record written but not fsynced")
	// ErrNotDrained is returned (wrapped) by Shutdown when sinks had not
	// delivered everything by its deadline: the rest is kept for the next
	// Open, nothing is lost.
	ErrNotDrained = errors.New("spool: sinks not caught up")
)

// Config is the spool's part of the configuration. The zero value of a
// field means its documented default; Dir is required.
type Config struct {
	// Dir holds the log's segments, the cursors, the lock and
	// dead-letter.jsonl.
	Dir string
	// Sync is "interval" (default) or "always".
	Sync string
	// SyncInterval is the group-commit period of the interval mode.
	// Default 200ms.
	SyncInterval time.Duration
	// MaxBytes bounds the records held (their frames in the log: the
	// JSON and 24 bytes). Segments are deleted whole, so the disk holds up
	// to 16 MiB more. Default 1 GiB.
	MaxBytes int64
	// FullPolicy is "drop-oldest" (default) or "block".
	FullPolicy string
}

func (c Config) sync() string {
	if c.Sync == "" {
		return SyncInterval
	}
	return c.Sync
}

func (c Config) syncInterval() time.Duration {
	if c.SyncInterval > 0 {
		return c.SyncInterval
	}
	return DefaultSyncInterval
}

func (c Config) maxBytes() int64 {
	if c.MaxBytes > 0 {
		return c.MaxBytes
	}
	return DefaultMaxBytes
}

// segmentSize is an eighth of MaxBytes, between 64 KiB and 16 MiB: small
// bounds still free space segment by segment.
func (c Config) segmentSize() int64 {
	return min(max(c.maxBytes()/8, minSegmentSize), maxSegmentSize)
}

func (c Config) fullPolicy() string {
	if c.FullPolicy == "" {
		return DropOldest
	}
	return c.FullPolicy
}

// Validate reports every problem, each naming its flag in quotes.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New(`requires a non-empty "spool-dir"`))
	}
	if s := c.sync(); s != SyncInterval && s != SyncAlways {
		errs = append(errs, fmt.Errorf(`"spool-sync": %q is not interval or always`, c.Sync))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf(`"spool-sync-interval": %s is negative`, c.SyncInterval))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf(`"spool-max-bytes": %d is negative`, c.MaxBytes))
	}
	if p := c.fullPolicy(); p != DropOldest && p != Block {
		errs = append(errs, fmt.Errorf(`"spool-full-policy": %q is not drop-oldest or block`, c.FullPolicy))
	}
	return errors.Join(errs...)
}

// Options are the spool's collaborators. Zero values work.
type Options struct {
	// Logger receives the spool's own logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the spool's metrics. Default: none kept.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Spool is a durable, bounded, multi-consumer record queue. Make one with
// Open, add sinks with AddSink, then Start; Take is safe for concurrent use
// from the moment Open returns (records wait for the sinks to start).
type Spool struct {
	cfg     Config
	rlog    *recordLog
	cursors *cursorFile
	// stored are the cursors read at Open, for Start; cursorMu orders the
	// cursor file's writes.
	stored   map[string]uint64
	cursorMu sync.Mutex
	// filesClosed: Shutdown closed the files (guarded by cursorMu).
	filesClosed bool
	lock        *os.File
	log         *slog.Logger
	now         func() time.Time
	m           *metrics
	dlq         *deadLetter

	appends    chan *appendReq
	stop       chan struct{} // closed by Shutdown: the writer and syncer finish
	writerDone chan struct{}
	syncerDone chan struct{}

	// mu orders Take's send (read lock) before Shutdown's close (write
	// lock), and guards closed, started and consumers.
	mu        sync.RWMutex
	closed    bool
	started   bool
	consumers []*consumer
	cancel    context.CancelFunc // ends the consumers' exports and waits
	drain     chan struct{}      // closed by Shutdown: consumers exit once caught up
	// cursorsLive is set by Start once the consumers hold the cursors:
	// from then on the writer stores them after dropping records (it
	// cannot take mu, which a Take blocked on a full channel may hold).
	cursorsLive atomic.Bool

	// wmu serialises appends and drops with the update of the state
	// below, so a commit never starts from a state another one is about to
	// replace.
	wmu sync.Mutex
	// The records held, for lock-free reads: first > last means empty.
	// Records before first may still be in the oldest segment until it is
	// deleted whole.
	first, last atomic.Uint64
	bytes       atomic.Int64
	dirty       atomic.Bool  // written since the last fsync
	failedAt    atomic.Int64 // UnixNano of the last failed write, 0 if none

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after each commit

	warnFull   rateLimit
	warnRefuse rateLimit
	warnWrite  rateLimit

	recent recent
	bufs   sync.Pool // of *[]byte, see getBuf
}

type appendReq struct {
	data []byte
	rec  *schema.Record // handed to caught-up sinks without decoding data
	keep bool           // under block, written even past the bound
	err  error
	done chan struct{}
}

// recentSize is how many of the last records taken are kept decoded for
// the sinks: a sink that keeps up reads them from memory instead of
// decoding each from the file (every sink decoded every record). About
// 1–2 MB; a sink further behind reads the file.
const recentSize = 1024

// recent holds the last records taken, by sequence number modulo
// recentSize; seq tells whether a slot still holds that record.
type recent struct {
	mu   sync.Mutex
	seq  [recentSize]uint64
	recs [recentSize]schema.Record
}

func (r *recent) put(seq uint64, rec *schema.Record) {
	i := seq % recentSize
	r.seq[i], r.recs[i] = seq, *rec
}

// lookup returns the record seq when it is still held.
func (r *recent) lookup(seq uint64) (schema.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := seq % recentSize
	if r.seq[i] != seq || seq == 0 {
		return schema.Record{}, false
	}
	return r.recs[i], true
}

// Mutating reports whether a request with this method changes state: the
// requests the block policy refuses while the spool is full, and whose
// records it never drops.
func Mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// Open opens (or creates) the spool in cfg.Dir. A directory held by
// another process fails after a second rather than waiting. A damaged end
// of the log (after a power loss under the interval mode) is cut off and
// logged, so the proxy keeps serving. A spool.db left by an earlier release
// is moved into the log first.
func Open(cfg Config, opts Options) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{
		cfg:        cfg,
		log:        opts.Logger,
		now:        opts.Now,
		appends:    make(chan *appendReq, maxGroup),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
		syncerDone: make(chan struct{}),
		drain:      make(chan struct{}),
		notify:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.open(); err != nil {
		s.closeStorage()
		return nil, fmt.Errorf("spool: open %s: %w", cfg.Dir, err)
	}
	s.dlq = &deadLetter{path: filepath.Join(cfg.Dir, DeadLetterFileName)}
	s.m = newMetrics(opts.Registerer, s)
	go s.writeLoop()
	go s.syncLoop()
	return s, nil
}

var errLocked = errors.New("spool directory is in use by another process")

func (s *Spool) segmentSize() int64 { return s.cfg.segmentSize() }

// open locks the directory, opens the log and the cursors, and sets the
// state: the records after the slowest stored cursor are held.
func (s *Spool) open() error {
	var err error
	if s.lock, err = lockDir(filepath.Join(s.cfg.Dir, LockFileName)); err != nil {
		return err
	}
	if s.cursors, s.stored, err = openCursors(filepath.Join(s.cfg.Dir, CursorFileName)); err != nil {
		return err
	}
	if s.rlog, err = openLog(s.cfg.Dir, s.segmentSize(), 1, s.log); err != nil {
		return err
	}
	if err := s.migrateLegacy(); err != nil {
		return err
	}
	first, last := s.rlog.bounds()
	for name, c := range s.stored {
		// A cursor past the log (its segments removed by hand) would
		// skip the next records.
		s.stored[name] = min(c, last)
	}
	if len(s.stored) > 0 {
		floor := last
		for _, c := range s.stored {
			floor = min(floor, c)
		}
		first = max(first, floor+1)
	}
	s.first.Store(first)
	s.last.Store(last)
	s.bytes.Store(s.rlog.span(first, last))
	return nil
}

func (s *Spool) closeStorage() error {
	var errs []error
	if s.rlog != nil {
		errs = append(errs, s.rlog.close())
	}
	if s.cursors != nil {
		errs = append(errs, s.cursors.close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Take appends rec and returns once the OS has it (and, under the always
// mode, once it is fsynced). The spool keeps rec's slices (Changes,
// Notes…) for the sinks: the caller must not change them afterwards. An error means the record is not in the
// spool: ErrClosed after Shutdown, ErrFull for a read's record under the
// block policy, or a write failure; each is counted in
// scimtrail_spool_dropped_records_total.
func (s *Spool) Take(ctx context.Context, rec schema.Record) error {
	buf := s.getBuf()
	defer s.putBuf(buf)
	data, err := rec.AppendJSON((*buf)[:0])
	*buf = data
	if err != nil {
		s.m.dropped.WithLabelValues("encode").Inc()
		return fmt.Errorf("spool: encode record %s: %w", rec.ID, err)
	}
	req := &appendReq{data: data, keep: Mutating(rec.Action), done: make(chan struct{})}
	if !bytes.Contains(data, []byte(`\ufffd`)) {
		// Sinks that keep up get the record itself, not its JSON: only
		// when the JSON says the same (encoding replaces invalid UTF-8,
		// and a sink must get the same record from memory as from the
		// file).
		req.rec = &rec
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.m.dropped.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	// Try without waiting first: with an expired ctx, select would pick
	// the ready send only half of the time.
	select {
	case s.appends <- req:
	default:
		select {
		case s.appends <- req:
		case <-ctx.Done():
			s.mu.RUnlock()
			s.m.dropped.WithLabelValues("timeout").Inc()
			return fmt.Errorf("spool: append record %s: %w", rec.ID, ctx.Err())
		}
	}
	s.mu.RUnlock()
	// The writer always answers: once the request is in the channel it is
	// committed (or refused) even if Shutdown starts. Waiting past ctx
	// would only hide a record that is about to be safe. Once it has
	// answered, it no longer reads data: the buffer goes back to the pool.
	<-req.done
	return req.err
}

// maxPooledBuf bounds the encoding buffers kept for reuse: a rare record
// with a large body is not kept in memory after it.
const maxPooledBuf = 64 << 10

// getBuf and putBuf hand out the buffers records are encoded into: one per
// request was a fifth of the bytes the proxy allocated.
func (s *Spool) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4<<10)
	return &b
}

func (s *Spool) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		s.bufs.Put(b)
	}
}

// Admit reports whether a request with this method may be forwarded: false
// only under the block policy, for a mutating request, while the spool is
// full or a write failed in the last second. Each refusal is counted in
// scimtrail_requests_refused_total and logged at most once a second.
func (s *Spool) Admit(method string) bool {
	if s.cfg.fullPolicy() != Block || !Mutating(method) {
		return true
	}
	at := s.failedAt.Load()
	if (at == 0 || s.now().UnixNano()-at >= int64(retryAfterWriteError)) && s.bytes.Load() < s.cfg.maxBytes() {
		return true
	}
	s.m.refused.Inc()
	if now := s.now(); s.warnRefuse.allow(now) {
		s.log.Warn("spool: full or failing; refusing changes until sinks catch up (block policy)",
			"spool_bytes", s.Bytes(), "spool_records", s.Len())
	}
	return false
}

// Full reports whether the records held reach the size bound.
func (s *Spool) Full() bool { return s.bytes.Load() >= s.cfg.maxBytes() }

// Len returns the number of records held (not yet acknowledged by every
// sink).
func (s *Spool) Len() int64 {
	first, last := s.first.Load(), s.last.Load()
	if first > last {
		return 0
	}
	return int64(last - first + 1)
}

// Bytes returns the encoded size of the records held.
func (s *Spool) Bytes() int64 { return s.bytes.Load() }

// writeLoop commits appends in groups: whatever arrived while the last
// transaction ran goes into the next one.
func (s *Spool) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*appendReq, 0, maxGroup)
	for {
		select {
		case req := <-s.appends:
			batch = append(batch[:0], req)
		case <-s.stop:
			// Take refuses new records before stop closes, and every send
			// has finished: what is in the channel is all there is.
			for {
				batch = batch[:0]
				for len(batch) < maxGroup && len(s.appends) > 0 {
					batch = append(batch, <-s.appends)
				}
				if len(batch) == 0 {
					return
				}
				s.commitGroup(batch)
			}
		}
		for len(batch) < maxGroup && len(s.appends) > 0 {
			batch = append(batch, <-s.appends)
		}
		s.commitGroup(batch)
	}
}

func (s *Spool) commitGroup(batch []*appendReq) {
	dropped, err := s.commit(batch)
	if err != nil {
		s.failedAt.Store(s.now().UnixNano())
		s.m.dropped.WithLabelValues("write_error").Add(float64(len(batch)))
		if s.warnWrite.allow(s.now()) {
			s.log.Error("spool: write failed; records not kept", "records", len(batch), "error", err)
		}
		err = fmt.Errorf("spool: write: %w", err)
	} else if s.cfg.sync() == SyncAlways {
		if ferr := s.fsync(); ferr != nil {
			// The records are in the file, but an fsync that failed may
			// have dropped the dirty pages (a later one can then succeed
			// without writing them): the promise of the always mode is
			// broken, so say so to every caller. Under block, changes are
			// refused for a moment, as after a failed write.
			s.failedAt.Store(s.now().UnixNano())
			if s.warnWrite.allow(s.now()) {
				s.log.Error("spool: fsync failed; records written but not durable", "records", len(batch), "error", ferr)
			}
			err = fmt.Errorf("%w: %w", ErrNotDurable, ferr)
		}
	} else {
		s.failedAt.Store(0)
	}
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
	if dropped && s.cursorsLive.Load() {
		// The dropped records may stay in the oldest segment until it is
		// deleted whole; the cursors stored past them keep the next start
		// from holding them again (and counting them dropped twice).
		// After the Takes: their records do not wait for it.
		if err := s.updateCursors(); err != nil && s.warnWrite.allow(s.now()) {
			s.log.Error("spool: store cursors after dropping records", "error", err)
		}
	}
}

// commit appends a group in one write, making room first under
// drop-oldest; dropped reports whether it dropped records held.
func (s *Spool) commit(batch []*appendReq) (bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	max := s.cfg.maxBytes()
	dropOldest := s.cfg.fullPolicy() == DropOldest
	first, last, bytes := s.first.Load(), s.last.Load(), s.bytes.Load()
	var dropped, refused int
	now := s.now()
	seqs := make([]uint64, len(batch)) // 0: not written
	data := make([][]byte, 0, len(batch))
	for i, r := range batch {
		size := int64(frameHeader + len(r.data))
		for bytes+size > max && first <= last+uint64(len(data)) && dropOldest {
			// The oldest record held, in the log or in this group.
			if first <= last {
				bytes -= s.rlog.span(first, first)
			} else {
				bytes -= int64(frameHeader + len(data[first-last-1]))
			}
			first++
			dropped++
		}
		if bytes+size > max && !dropOldest && !r.keep {
			r.err = ErrFull
			refused++
			continue
		}
		seqs[i] = last + uint64(len(data)) + 1
		data = append(data, r.data)
		bytes += size
	}
	if len(data) > 0 {
		if err := s.rlog.append(last+1, now.UnixNano(), data); err != nil {
			for _, r := range batch {
				r.err = nil // the group failed as a whole
			}
			return false, err
		}
	}
	last += uint64(len(data))
	s.recent.mu.Lock()
	for i, r := range batch {
		if seqs[i] != 0 && r.rec != nil {
			s.recent.put(seqs[i], r.rec)
		}
	}
	s.recent.mu.Unlock()
	s.first.Store(first)
	s.last.Store(last)
	s.bytes.Store(bytes)
	s.dirty.Store(true)
	if dropped > 0 {
		s.rlog.dropBefore(first)
		s.m.dropped.WithLabelValues("full").Add(float64(dropped))
		if s.warnFull.allow(now) {
			s.log.Warn("spool: full; dropped the oldest records", "dropped", dropped, "max_bytes", max)
		}
	}
	if refused > 0 {
		s.m.dropped.WithLabelValues("full").Add(float64(refused))
		if s.warnFull.allow(now) {
			s.log.Warn("spool: full; records of read requests not kept (block policy)", "records", refused, "max_bytes", max)
		}
	}
	s.wake()
	return dropped > 0, nil
}

// syncLoop fsyncs what was written, every SyncInterval (interval mode), and
// once more when the spool stops.
func (s *Spool) syncLoop() {
	defer close(s.syncerDone)
	if s.cfg.sync() == SyncAlways {
		<-s.stop
		return
	}
	t := time.NewTicker(s.cfg.syncInterval())
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if s.dirty.Load() {
				if err := s.fsync(); err != nil && s.warnWrite.allow(s.now()) {
					s.log.Error("spool: fsync", "error", err)
				}
			}
		case <-s.stop:
			return
		}
	}
}

func (s *Spool) fsync() error {
	start := time.Now()
	s.dirty.Store(false)
	if err := s.rlog.sync(); err != nil {
		s.dirty.Store(true)
		return err
	}
	s.m.fsync.Observe(time.Since(start).Seconds())
	return nil
}

// changed returns a channel closed at the next commit.
func (s *Spool) changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

func (s *Spool) wake() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// Shutdown stops taking records, commits what was taken, lets every sink
// deliver what it can until it has caught up or ctx ends, and closes the
// file; undelivered records stay for the next Open. It returns an error
// wrapping ErrNotDrained when sinks were still behind.
func (s *Spool) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	consumers, cancel := s.consumers, s.cancel
	if !s.started {
		consumers = nil
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.writerDone
	<-s.syncerDone
	close(s.drain)
	var behind error
	for _, c := range consumers {
		select {
		case <-c.done:
		case <-ctx.Done():
			behind = fmt.Errorf("%w: %d records kept for the next start (%w)", ErrNotDrained, s.Len(), ctx.Err())
		}
		if behind != nil {
			break
		}
	}
	if cancel != nil {
		cancel()
	}
	// A sink that ignores its context (a write blocked on a full pipe)
	// must not hang the process: after stopGrace it is left behind; its
	// records are not acknowledged, so the next start delivers them.
	stopped := time.NewTimer(stopGrace)
	defer stopped.Stop()
	for _, c := range consumers {
		select {
		case <-c.done:
		case <-stopped.C:
			behind = errors.Join(behind, fmt.Errorf("spool: sink %s did not stop within %s", c.cfg.Name, stopGrace))
		}
	}
	err := errors.Join(behind, s.closeFiles())
	return err
}

func (s *Spool) closeFiles() error {
	// A sink left behind by Shutdown (it ignored its context) may still
	// acknowledge: from now on that stores nothing and deletes no
	// segment, since the next process may hold the directory by then.
	s.cursorMu.Lock()
	s.filesClosed = true
	s.cursorMu.Unlock()
	errs := []error{s.rlog.sync(), s.cursors.sync()}
	if err := s.closeStorage(); err != nil {
		errs = append(errs, fmt.Errorf("spool: close: %w", err))
	}
	if err := s.dlq.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rateLimit lets one log line through per second.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow(now time.Time) bool {
	prev := r.last.Load()
	if now.UnixNano()-prev < int64(time.Second) {
		return false
	}
	return r.last.CompareAndSwap(prev, now.UnixNano())
}
