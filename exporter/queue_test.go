package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

// wait bounds every wait on the code under test; it is a guard against a
// hang, never an assertion about speed.
const wait = 10 * time.Second

func rec(id string) schema.Record {
	return schema.Record{ID: id, Action: "POST", ResourceType: schema.ResourceUser, Outcome: schema.OutcomeSuccess, StatusCode: 201}
}

func recs(prefix string, n int) []schema.Record {
	out := make([]schema.Record, n)
	for i := range out {
		out[i] = rec(fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func ids(rs []schema.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// recordingSink keeps every batch it was given; fail, when set, decides the
// result of each call (by call number, from 1).
type recordingSink struct {
	mu      sync.Mutex
	batches [][]schema.Record
	calls   int
	fail    func(call int, recs []schema.Record) error
}

func (s *recordingSink) Export(_ context.Context, recs []schema.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(s.calls, recs); err != nil {
			return err
		}
	}
	s.batches = append(s.batches, append([]schema.Record(nil), recs...))
	return nil
}

func (s *recordingSink) delivered() []schema.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []schema.Record
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

func (s *recordingSink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

func (s *recordingSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// gateSink blocks each Export until the test releases it (or ctx ends),
// reporting each call's records on entered first.
type gateSink struct {
	entered chan []schema.Record
	release chan struct{}
	rec     recordingSink
}

func newGateSink() *gateSink {
	return &gateSink{entered: make(chan []schema.Record, 100), release: make(chan struct{})}
}

func (s *gateSink) Export(ctx context.Context, recs []schema.Record) error {
	s.entered <- append([]schema.Record(nil), recs...)
	select {
	case <-s.release:
		return s.rec.Export(ctx, recs)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gateSink) awaitEntered(t *testing.T) []schema.Record {
	t.Helper()
	select {
	case b := <-s.entered:
		return b
	case <-time.After(wait):
		t.Fatal("sink was never called")
		return nil
	}
}

func newMetrics(t *testing.T) (*prometheus.Registry, *exporter.QueueMetrics) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return reg, exporter.NewQueueMetrics(reg)
}

// value returns the value of the metric name with exactly the labels given,
// 0 when there is no such series.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func shutdown(t *testing.T, q *exporter.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := q.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func start(t *testing.T, q *exporter.Queue) {
	t.Helper()
	if err := q.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func equalIDs(t *testing.T, got, want []schema.Record) {
	t.Helper()
	g, w := ids(got), ids(want)
	if strings.Join(g, ",") != strings.Join(w, ",") {
		t.Fatalf("delivered %v\nwant      %v", g, w)
	}
}

func TestQueue_DeliversEverythingInOrder(t *testing.T) {
	reg, m := newMetrics(t)
	sink := &recordingSink{}
	q := exporter.NewQueue(sink, exporter.QueueOptions{Capacity: 5000, MaxBatch: 64, Metrics: m, Name: "file"})
	start(t, q)
	want := recs("r", 2000)
	for _, r := range want {
		if !q.Offer(r) {
			t.Fatalf("Offer(%s) = false with room in the queue", r.ID)
		}
	}
	shutdown(t, q)

	equalIDs(t, sink.delivered(), want)
	for _, n := range sink.batchSizes() {
		if n < 1 || n > 64 {
			t.Fatalf("batch of %d records, want 1..64", n)
		}
	}
	if got := value(t, reg, "scimtrail_records_exported_total", map[string]string{"sink": "file"}); got != 2000 {
		t.Fatalf("exported_total = %v, want 2000", got)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len after Shutdown = %d, want 0", n)
	}
}

func TestQueue_ConcurrentOffersKeepPerProducerOrder(t *testing.T) {
	sink := &recordingSink{}
	q := exporter.NewQueue(sink, exporter.QueueOptions{MaxBatch: 7})
	start(t, q)
	const producers, each = 8, 300
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for _, r := range recs(fmt.Sprintf("p%d-", p), each) {
				if !q.Offer(r) {
					t.Errorf("Offer(%s) = false", r.ID)
				}
				_ = q.Len()
			}
		})
	}
	wg.Wait()
	shutdown(t, q)

	got := sink.delivered()
	if len(got) != producers*each {
		t.Fatalf("delivered %d records, want %d", len(got), producers*each)
	}
	next := map[string]int{}
	for _, r := range got {
		var p, i int
		if _, err := fmt.Sscanf(r.ID, "p%d-%d", &p, &i); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(p)
		if i != next[key] {
			t.Fatalf("producer %d: got record %d, want %d", p, i, next[key])
		}
		next[key]++
	}
}

func TestQueue_CountsDropsWhenFull(t *testing.T) {
	reg, m := newMetrics(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sink := newGateSink()
	q := exporter.NewQueue(sink, exporter.QueueOptions{Capacity: 4, Metrics: m, Name: "kafka", Logger: log})
	start(t, q)

	if !q.Offer(rec("r0")) {
		t.Fatal("Offer to an empty queue = false")
	}
	sink.awaitEntered(t) // the worker holds r0; the queue is empty again
	for _, r := range recs("r", 5)[1:] {
		if !q.Offer(r) {
			t.Fatalf("Offer(%s) = false with room in the queue", r.ID)
		}
	}
	const extra = 100
	for _, r := range recs("x", extra) {
		if q.Offer(r) {
			t.Fatalf("Offer(%s) = true on a full queue", r.ID)
		}
	}
	if n := q.Len(); n != 5 {
		t.Fatalf("Len = %d, want 5 (4 queued + 1 in export)", n)
	}
	if got := value(t, reg, "scimtrail_records_dropped_total", map[string]string{"sink": "kafka", "reason": "queue_full"}); got != extra {
		t.Fatalf("dropped_total{queue_full} = %v, want %d", got, extra)
	}
	if got := value(t, reg, "scimtrail_sink_queue_depth", map[string]string{"sink": "kafka"}); got != 5 {
		t.Fatalf("queue_depth = %v, want 5", got)
	}
	warnings := strings.Count(logs.String(), "queue full")
	if warnings < 1 || warnings >= extra {
		t.Fatalf("%d queue-full warnings for %d drops, want at least 1 and rate-limited:\n%s", warnings, extra, logs.String())
	}
	if !strings.Contains(logs.String(), "sink=kafka") {
		t.Fatalf("warning does not name the sink:\n%s", logs.String())
	}

	close(sink.release)
	shutdown(t, q)
	equalIDs(t, sink.rec.delivered(), recs("r", 5))
	if got := value(t, reg, "scimtrail_records_exported_total", map[string]string{"sink": "kafka"}); got != 5 {
		t.Fatalf("exported_total = %v, want 5", got)
	}
}

var errUnavailable = errors.New("broker unavailable")

func TestQueue_RetriesFailingSinkThenSucceeds(t *testing.T) {
	reg, m := newMetrics(t)
	sink := &recordingSink{fail: func(call int, _ []schema.Record) error {
		if call <= 3 {
			return fmt.Errorf("kafka: produce: %w", errUnavailable)
		}
		return nil
	}}
	q := exporter.NewQueue(sink, exporter.QueueOptions{
		Metrics: m, Name: "kafka", RetryInitial: time.Millisecond, RetryMax: 4 * time.Millisecond,
	})
	want := recs("r", 3)
	for _, r := range want {
		q.Offer(r) // before Start: one batch
	}
	start(t, q)
	shutdown(t, q)

	equalIDs(t, sink.delivered(), want)
	if n := sink.callCount(); n != 4 {
		t.Fatalf("Export called %d times, want 4 (3 failures, 1 success)", n)
	}
	for name, want := range map[string]float64{
		"scimtrail_sink_export_errors_total": 3,
		"scimtrail_records_exported_total":   3,
	} {
		if got := value(t, reg, name, map[string]string{"sink": "kafka"}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, reason := range []string{exporter.ReasonQueueFull, exporter.ReasonPermanentError, exporter.ReasonShutdown} {
		if got := value(t, reg, "scimtrail_records_dropped_total", map[string]string{"sink": "kafka", "reason": reason}); got != 0 {
			t.Errorf("dropped_total{reason=%s} = %v, want 0", reason, got)
		}
	}
}

func TestQueue_DropsBatchOnPermanentError(t *testing.T) {
	reg, m := newMetrics(t)
	var logs bytes.Buffer
	firstCall := make(chan struct{})
	sink := &recordingSink{fail: func(call int, _ []schema.Record) error {
		if call == 1 {
			close(firstCall) // the first batch is fixed by now
			return exporter.Permanent(errors.New("record too large"))
		}
		return nil
	}}
	q := exporter.NewQueue(sink, exporter.QueueOptions{
		Metrics: m, Name: "otlp", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		RetryInitial: time.Hour, // a retry would hang the test: there must be none
	})
	for _, r := range recs("bad", 3) {
		q.Offer(r) // before Start: one batch, the one that fails
	}
	start(t, q)
	select {
	case <-firstCall:
	case <-time.After(wait):
		t.Fatal("sink was never called")
	}
	good := rec("good")
	q.Offer(good)
	shutdown(t, q)

	equalIDs(t, sink.delivered(), []schema.Record{good})
	if n := sink.callCount(); n != 2 {
		t.Fatalf("Export called %d times, want 2 (no retry of the permanent failure)", n)
	}
	if got := value(t, reg, "scimtrail_records_dropped_total", map[string]string{"sink": "otlp", "reason": "permanent_error"}); got != 3 {
		t.Fatalf("dropped_total{permanent_error} = %v, want 3", got)
	}
	if got := value(t, reg, "scimtrail_sink_export_errors_total", map[string]string{"sink": "otlp"}); got != 1 {
		t.Fatalf("export_errors_total = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "record too large") || !strings.Contains(logs.String(), "reason=permanent_error") {
		t.Fatalf("drop not logged with its cause:\n%s", logs.String())
	}
}

func TestQueue_ShutdownDrainsAndRefusesNewRecords(t *testing.T) {
	reg, m := newMetrics(t)
	sink := &recordingSink{}
	q := exporter.NewQueue(sink, exporter.QueueOptions{MaxBatch: 3, Metrics: m, Name: "file"})
	want := recs("r", 10)
	for _, r := range want {
		q.Offer(r)
	}
	start(t, q)
	shutdown(t, q)

	equalIDs(t, sink.delivered(), want)
	if got := fmt.Sprint(sink.batchSizes()); got != "[3 3 3 1]" {
		t.Fatalf("batch sizes %s, want [3 3 3 1]", got)
	}
	if q.Offer(rec("late")) {
		t.Fatal("Offer after Shutdown = true")
	}
	if got := value(t, reg, "scimtrail_records_dropped_total", map[string]string{"sink": "file", "reason": "shutdown"}); got != 1 {
		t.Fatalf("dropped_total{shutdown} = %v, want 1", got)
	}
	shutdown(t, q) // a second Shutdown is harmless
	if err := q.Start(t.Context()); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}

func TestQueue_ShutdownWithoutStartStillDelivers(t *testing.T) {
	sink := &recordingSink{}
	q := exporter.NewQueue(sink, exporter.QueueOptions{})
	want := recs("r", 5)
	for _, r := range want {
		q.Offer(r)
	}
	shutdown(t, q)
	equalIDs(t, sink.delivered(), want)
}

func TestQueue_ShutdownHonoursDeadline(t *testing.T) {
	reg, m := newMetrics(t)
	sink := newGateSink() // never released: the sink hangs until ctx ends
	q := exporter.NewQueue(sink, exporter.QueueOptions{MaxBatch: 2, Metrics: m, Name: "kafka"})
	for _, r := range recs("r", 5) {
		q.Offer(r)
	}
	start(t, q)
	sink.awaitEntered(t)

	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	err := q.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline = %v, want context.DeadlineExceeded", err)
	}
	// A later Shutdown waits for the worker to finish dropping.
	shutdown(t, q)

	if got := value(t, reg, "scimtrail_records_dropped_total", map[string]string{"sink": "kafka", "reason": "shutdown"}); got != 5 {
		t.Fatalf("dropped_total{shutdown} = %v, want 5", got)
	}
	if got := value(t, reg, "scimtrail_records_exported_total", map[string]string{"sink": "kafka"}); got != 0 {
		t.Fatalf("exported_total = %v, want 0", got)
	}
	if n := len(sink.entered); n != 0 {
		t.Fatalf("%d Export calls after the deadline, want none", n)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len = %d after the worker finished, want 0", n)
	}
}

func TestQueue_StartTwiceFails(t *testing.T) {
	q := exporter.NewQueue(&recordingSink{}, exporter.QueueOptions{})
	start(t, q)
	if err := q.Start(t.Context()); err == nil {
		t.Fatal("second Start succeeded")
	}
	shutdown(t, q)
}

func TestQueue_NilMetricsAndLogger(t *testing.T) {
	sink := newGateSink()
	q := exporter.NewQueue(sink, exporter.QueueOptions{Capacity: 1})
	start(t, q)
	q.Offer(rec("a"))
	sink.awaitEntered(t)
	q.Offer(rec("b"))
	if q.Offer(rec("c")) {
		t.Fatal("Offer to a full queue = true")
	}
	close(sink.release)
	shutdown(t, q)
	equalIDs(t, sink.rec.delivered(), []schema.Record{rec("a"), rec("b")})
}

func TestQueueMetrics_SharedBetweenQueues(t *testing.T) {
	reg, m := newMetrics(t)
	a, b := &recordingSink{}, &recordingSink{}
	qa := exporter.NewQueue(a, exporter.QueueOptions{Metrics: m, Name: "a"})
	qb := exporter.NewQueue(b, exporter.QueueOptions{Metrics: m, Name: "b"})
	qa.Offer(rec("1"))
	qb.Offer(rec("1"))
	qb.Offer(rec("2"))
	for name, want := range map[string]float64{"a": 1, "b": 2} {
		if got := value(t, reg, "scimtrail_sink_queue_depth", map[string]string{"sink": name}); got != want {
			t.Errorf("queue_depth{sink=%s} = %v, want %v", name, got, want)
		}
	}
	shutdown(t, qa)
	shutdown(t, qb)
	for name, want := range map[string]float64{"a": 1, "b": 2} {
		if got := value(t, reg, "scimtrail_records_exported_total", map[string]string{"sink": name}); got != want {
			t.Errorf("exported_total{sink=%s} = %v, want %v", name, got, want)
		}
	}
}

func TestQueueMetrics_NamesTypesAndLint(t *testing.T) {
	reg, m := newMetrics(t)
	sink := &recordingSink{fail: func(call int, _ []schema.Record) error {
		if call == 1 {
			return exporter.Permanent(errors.New("no"))
		}
		return nil
	}}
	q := exporter.NewQueue(sink, exporter.QueueOptions{Metrics: m, Name: "s", MaxBatch: 1})
	q.Offer(rec("1")) // dropped: permanent error
	q.Offer(rec("2")) // exported
	// Depth is reported while the queue lives; gather it before Shutdown.
	live, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	start(t, q)
	shutdown(t, q)
	q.Offer(rec("late")) // dropped: shutdown
	after, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	all := append(live, after...)

	got := map[string]dto.MetricType{}
	for _, mf := range all {
		got[mf.GetName()] = mf.GetType()
	}
	for name, typ := range map[string]dto.MetricType{
		"scimtrail_sink_queue_depth":         dto.MetricType_GAUGE,
		"scimtrail_records_exported_total":   dto.MetricType_COUNTER,
		"scimtrail_records_dropped_total":    dto.MetricType_COUNTER,
		"scimtrail_sink_export_errors_total": dto.MetricType_COUNTER,
	} {
		if g, ok := got[name]; !ok || g != typ {
			t.Errorf("metric %s: type %v (present %v), want %v", name, g, ok, typ)
		}
	}
	if problems, err := promlint.NewWithMetricFamilies(all).Lint(); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
}

func ExampleQueue() {
	sink := &recordingSink{}
	q := exporter.NewQueue(sink, exporter.QueueOptions{Name: "file"})
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		panic(err)
	}
	q.Offer(schema.Record{ID: "0190b1a0-0000-7000-8000-000000000001"})
	if err := q.Shutdown(ctx); err != nil {
		panic(err)
	}
	fmt.Println(len(sink.delivered()))
	// Output: 1
}
