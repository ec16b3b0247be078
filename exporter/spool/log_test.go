package spool_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/schema"
)

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A power loss can leave the newest segment ending in part of a frame, or
// in bytes that were never written: the records before it are kept, the
// damage is cut off, and the next records follow, each delivered once.
func TestSpool_TornEndOfTheLogIsCutAndTheRestKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kept   int // of the 20 records written before
		damage func(t *testing.T, path string)
	}{
		{"half a frame", 19, func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()-40); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeros after the last frame", 20, func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
		}},
		{"a flipped byte in the last frame", 19, func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-10] ^= 0xff
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			down := newMemSink()
			down.setFailing(true)
			h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: down})
			h.take(0, 20, http.MethodPost)
			h.shutdown(10 * time.Millisecond)
			segs := segments(t, dir)
			tc.damage(t, segs[len(segs)-1])

			up := newMemSink()
			h2 := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: up})
			h2.take(100, 110, http.MethodPost)
			waitFor(t, "the records kept and the new ones", func() bool { return len(up.ids()) == tc.kept+10 })
			equal(t, "delivered", up.ids(), append(ids(0, tc.kept), ids(100, 110)...))
			waitFor(t, "the spool to empty", func() bool { return h2.sp.Len() == 0 })
		})
	}
}

// Segments leave the disk once every sink is past them, so a spool that
// keeps up stays small however many records went through.
func TestSpool_DeliveredSegmentsLeaveTheDisk(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	max := recordSize(t, 0, http.MethodPost) * 4000 // 64 KiB segments
	h := open(t, dir, spool.Config{MaxBytes: max}, spool.SinkConfig{Name: "kafka", Sink: sink})
	h.take(0, 3000, http.MethodPost) // about 40 segments' worth
	waitFor(t, "every record", func() bool { return len(sink.ids()) == 3000 })
	waitFor(t, "the spool to empty", func() bool { return h.sp.Len() == 0 && h.sp.Bytes() == 0 })
	if n := len(segments(t, dir)); n > 2 {
		t.Fatalf("%d segments on disk after every record was delivered, want the newest only (or one more behind it)", n)
	}
	equal(t, "delivered", sink.ids(), ids(0, 3000))
}

// Sequence numbers go on after a restart that finds every record
// delivered and the older segments gone: the cursors stored are not ahead
// of the next records, which would skip them.
func TestSpool_RestartAfterEverythingDeliveredDeliversTheNextRecords(t *testing.T) {
	dir := t.TempDir()
	first := newMemSink()
	h := open(t, dir, spool.Config{MaxBytes: 64 << 10 * 8}, spool.SinkConfig{Name: "kafka", Sink: first})
	h.take(0, 2000, http.MethodPost)
	waitFor(t, "the first run's records", func() bool { return len(first.ids()) == 2000 && h.sp.Len() == 0 })
	if err := h.shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		next := newMemSink()
		h2 := open(t, dir, spool.Config{MaxBytes: 64 << 10 * 8}, spool.SinkConfig{Name: "kafka", Sink: next})
		if h2.sp.Len() != 0 {
			t.Fatalf("after a clean restart the spool holds %d delivered records", h2.sp.Len())
		}
		h2.take(5000, 5010, http.MethodPost)
		waitFor(t, "the records after the restart", func() bool { return len(next.ids()) == 10 })
		equal(t, "after the restart", next.ids(), ids(5000, 5010))
		if err := h2.shutdown(time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// A cursor write torn by a power loss leaves the other slot: the sink
// starts one acknowledgement earlier and gets some records twice, never
// fewer.
func TestSpool_TornCursorWriteRedeliversInsteadOfSkipping(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: sink, BatchSize: 5})
	// One take at a time, so the sink acknowledges more than once.
	for i := range 20 {
		h.take(i, i+1, http.MethodPost)
		waitFor(t, "delivery", func() bool { return len(sink.ids()) == i+1 })
	}
	sink.setFailing(true)
	h.take(20, 30, http.MethodPost) // delivered after the restart
	h.shutdown(10 * time.Millisecond)
	// Spoil both slots' newest: flip a byte in each.
	b, err := os.ReadFile(filepath.Join(dir, spool.CursorFileName))
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	if binary.BigEndian.Uint64(b[32<<10:]) > binary.BigEndian.Uint64(b) {
		newest = 32 << 10
	}
	b[newest+20] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, spool.CursorFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	again := newMemSink()
	open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: again})
	waitFor(t, "the records not acknowledged", func() bool {
		got := again.ids()
		return len(got) > 0 && got[len(got)-1] == "rec-00029"
	})
	got := again.ids()
	if len(got) < 10 {
		t.Fatalf("after a torn cursor write the sink got %d records, want at least the 10 it never had", len(got))
	}
	all := append(sink.ids(), got...)
	seen := map[string]bool{}
	for _, id := range all {
		seen[id] = true
	}
	for _, id := range ids(0, 30) {
		if !seen[id] {
			t.Fatalf("record %s never delivered", id)
		}
	}
}

// An upgrade finds the bbolt spool.db of an earlier release: its records
// move into the log with their sequence numbers, each sink resumes at its
// cursor, and spool.db is gone.
// writeLegacySpool writes a spool.db as the earlier release left it:
// records from through to under their sequence numbers, and the cursors.
func writeLegacySpool(t *testing.T, dir string, from, to int, cursors map[string]uint64) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, spool.LegacyFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seq := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	err = db.Update(func(tx *bolt.Tx) error {
		recs, _ := tx.CreateBucket([]byte("records"))
		cb, _ := tx.CreateBucket([]byte("cursors"))
		meta, _ := tx.CreateBucket([]byte("meta"))
		for i := from; i <= to; i++ {
			r := record(i, http.MethodPost)
			data, err := r.AppendJSON(seq(uint64(time.Now().UnixNano())))
			if err != nil {
				return err
			}
			if err := recs.Put(seq(uint64(i)), data); err != nil {
				return err
			}
		}
		for name, c := range cursors {
			if err := cb.Put([]byte(name), seq(c)); err != nil {
				return err
			}
		}
		return meta.Put([]byte("last"), seq(uint64(to)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpool_EarlierSpoolFileIsMovedIntoTheLog(t *testing.T) {
	dir := t.TempDir()
	// Records 5..14 (1..4 were delivered to both sinks and removed).
	writeLegacySpool(t, dir, 5, 14, map[string]uint64{"file": 9, "kafka": 4})

	file, kafka := newMemSink(), newMemSink()
	h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "file", Sink: file}, spool.SinkConfig{Name: "kafka", Sink: kafka})
	if _, err := os.Stat(filepath.Join(dir, spool.LegacyFileName)); !os.IsNotExist(err) {
		t.Fatalf("spool.db still there after the move: %v", err)
	}
	h.take(15, 17, http.MethodPost)
	waitFor(t, "both sinks", func() bool { return len(file.ids()) == 7 && len(kafka.ids()) == 12 })
	equal(t, "file sink resumes after its cursor", file.ids(), ids(10, 17))
	equal(t, "kafka sink resumes after its cursor", kafka.ids(), ids(5, 17))
	waitFor(t, "the spool to empty", func() bool { return h.sp.Len() == 0 })
	if err := h.shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	// And the next start does not move anything again.
	again := newMemSink()
	h2 := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "file", Sink: again}, spool.SinkConfig{Name: "kafka", Sink: newMemSink()})
	if h2.sp.Len() != 0 {
		t.Fatalf("second start holds %d records", h2.sp.Len())
	}
}

// Upgraded, downgraded (the earlier release starts a spool.db of its own)
// and upgraded again: the records still in the log and those the earlier
// release took are all delivered, none deleted.
func TestSpool_SpoolFileFoundBesideALogIsAppendedToIt(t *testing.T) {
	dir := t.TempDir()
	down := newMemSink()
	down.setFailing(true)
	h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: down})
	h.take(0, 10, http.MethodPost)
	h.shutdown(10 * time.Millisecond)
	writeLegacySpool(t, dir, 1, 5, map[string]uint64{"kafka": 0}) // rec-00001..5 again, as the earlier release took them
	up := newMemSink()
	h2 := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: up})
	waitFor(t, "every record", func() bool { return len(up.ids()) == 15 })
	equal(t, "the log's records, then the earlier release's", up.ids(), append(ids(0, 10), ids(1, 6)...))
	if _, err := os.Stat(filepath.Join(dir, spool.LegacyFileName)); !os.IsNotExist(err) {
		t.Fatalf("spool.db still there after the move: %v", err)
	}
	waitFor(t, "the spool to empty", func() bool { return h2.sp.Len() == 0 })
}

// logCapture keeps the messages of the records logged at error level.
type logCapture struct {
	mu   sync.Mutex
	errs []string
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		c.mu.Lock()
		c.errs = append(c.errs, msg)
		c.mu.Unlock()
	}
	return nil
}
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

func (c *logCapture) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// A sink that keeps up passes a segment, and it is deleted, within one
// sync interval, possibly while the syncer is fsyncing the segments it
// listed. A segment deleted meanwhile is no fsync failure (its records are
// gone), and its descriptor is not used as Close releases it (under -race
// this test saw the fsync read the descriptor Close was clearing).
func TestSpool_DeletingASegmentDuringAnFsyncIsNoFsyncError(t *testing.T) {
	dir := t.TempDir()
	logs := &logCapture{}
	cfg := spool.Config{
		Dir:          dir,
		MaxBytes:     64 << 10 * 8, // 64 KiB segments
		FullPolicy:   spool.Block,  // nothing dropped
		SyncInterval: time.Millisecond,
	}
	sp, err := spool.Open(cfg, spool.Options{Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	if err := sp.AddSink(spool.SinkConfig{Name: "kafka", Sink: sink, BatchSize: 50}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, sp: sp}
	t.Cleanup(func() { h.shutdown(time.Second) })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.take(g*5000, g*5000+5000, http.MethodPost)
		}()
	}
	wg.Wait()
	waitFor(t, "every record", func() bool { return len(sink.ids()) >= 40000 })
	if errs := logs.errors(); len(errs) > 0 {
		t.Fatalf("%d errors logged, the first: %s", len(errs), errs[0])
	}
}

// Records the drop-oldest policy removed stay removed after a restart.
// Segments leave the disk whole, so the oldest one may still hold them;
// holding them again would count them dropped twice and start the spool
// over its bound.
func TestSpool_DroppedRecordsStayDroppedAfterARestart(t *testing.T) {
	dir := t.TempDir()
	down := newMemSink()
	down.setFailing(true)
	max := recordSize(t, 0, http.MethodPost) * 20
	h := open(t, dir, spool.Config{MaxBytes: max}, spool.SinkConfig{Name: "kafka", Sink: down})
	h.take(0, 100, http.MethodPost)
	held, bytes := h.sp.Len(), h.sp.Bytes()
	if held == 100 {
		t.Fatal("nothing dropped")
	}
	h.shutdown(10 * time.Millisecond)

	up := newMemSink()
	up.setFailing(true)
	h2 := open(t, dir, spool.Config{MaxBytes: max}, spool.SinkConfig{Name: "kafka", Sink: up})
	if h2.sp.Len() != held || h2.sp.Bytes() != bytes {
		t.Fatalf("after a restart the spool holds %d records, %d bytes; before it, %d records, %d bytes",
			h2.sp.Len(), h2.sp.Bytes(), held, bytes)
	}
	up.setFailing(false)
	waitFor(t, "the records held", func() bool { return int64(len(up.ids())) >= held })
	equal(t, "delivered after the restart", up.ids(), ids(100-int(held), 100))
}

// stuckSink ignores its context: Export returns only once released, and
// says so on returned.
type stuckSink struct {
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	returned chan struct{}
}

func (s *stuckSink) Export(context.Context, []schema.Record) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	select {
	case s.returned <- struct{}{}:
	default:
	}
	return nil
}

// A sink that ignores its context outlives Shutdown; when it returns at
// last, the next process may already hold the directory. Its late
// acknowledgement must not delete that process's segments or overwrite
// its cursors: every record is still delivered after the next restart.
func TestSpool_SinkReturningAfterShutdownTouchesNoFile(t *testing.T) {
	dir := t.TempDir()
	cfg := spool.Config{MaxBytes: 64 << 10 * 8} // 64 KiB segments
	stuck := &stuckSink{entered: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{}, 1)}
	a := open(t, dir, cfg, spool.SinkConfig{Name: "kafka", Sink: stuck})
	a.take(0, 500, http.MethodPost) // several segments
	<-stuck.entered
	if err := a.shutdown(10 * time.Millisecond); err == nil {
		t.Fatal("Shutdown with a stuck sink reported no error")
	}
	if n := len(segments(t, dir)); n < 2 {
		t.Fatalf("%d segments, want several for this test", n)
	}

	down := newMemSink()
	down.setFailing(true)
	b := open(t, dir, cfg, spool.SinkConfig{Name: "kafka", Sink: down})
	close(stuck.release) // the first process's sink acknowledges, late
	<-stuck.returned
	time.Sleep(50 * time.Millisecond) // its acknowledgement runs after Export returns
	b.shutdown(10 * time.Millisecond)

	up := newMemSink()
	open(t, dir, cfg, spool.SinkConfig{Name: "kafka", Sink: up})
	waitFor(t, "every record after the restart", func() bool { return len(up.ids()) >= 500 })
	equal(t, "delivered", up.ids()[:500], ids(0, 500))
}
