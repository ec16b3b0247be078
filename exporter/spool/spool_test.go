package spool_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/schema"
)

// memSink keeps what it is given; it fails while failing is set, and
// refuses for good the records whose ids are in refuse.
type memSink struct {
	mu      sync.Mutex
	recs    []schema.Record
	calls   int
	failing bool
	refuse  map[string]bool
	got     chan struct{} // signalled after each successful Export
}

func newMemSink() *memSink {
	return &memSink{refuse: map[string]bool{}, got: make(chan struct{}, 1)}
}

func (m *memSink) Export(ctx context.Context, recs []schema.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.failing {
		return errors.New("memsink: down")
	}
	for _, r := range recs {
		if m.refuse[r.ID] {
			return exporter.Permanent(fmt.Errorf("memsink: refuses %s", r.ID))
		}
	}
	m.recs = append(m.recs, recs...)
	select {
	case m.got <- struct{}{}:
	default:
	}
	return nil
}

func (m *memSink) setFailing(v bool) {
	m.mu.Lock()
	m.failing = v
	m.mu.Unlock()
}

func (m *memSink) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.recs))
	for i, r := range m.recs {
		out[i] = r.ID
	}
	return out
}

// waitFor polls cond until it holds, failing after a generous bound; the
// bound is a hang guard, not a speed claim.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func record(i int, method string) schema.Record {
	return schema.Record{
		ID:           fmt.Sprintf("rec-%05d", i),
		Timestamp:    time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		IdPName:      "okta",
		Action:       method,
		ResourceType: schema.ResourceUser,
		ResourceID:   fmt.Sprintf("u%d", i%7),
		Outcome:      schema.OutcomeSuccess,
		StatusCode:   200,
		Path:         "/scim/v2/Users",
		RequestBody:  `{"userName":"user` + strconv.Itoa(i) + `@example.com"}`,
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("rec-%05d", i))
	}
	return out
}

type harness struct {
	t   *testing.T
	dir string
	reg *prometheus.Registry
	sp  *spool.Spool
}

func open(t *testing.T, dir string, cfg spool.Config, sinks ...spool.SinkConfig) *harness {
	t.Helper()
	cfg.Dir = dir
	reg := prometheus.NewRegistry()
	sp, err := spool.Open(cfg, spool.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sinks {
		if s.RetryInitial == 0 {
			s.RetryInitial, s.RetryMax = time.Millisecond, 5*time.Millisecond
		}
		if err := sp.AddSink(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, reg: reg, sp: sp}
	t.Cleanup(func() { h.shutdown(time.Second) })
	return h
}

func (h *harness) take(from, to int, method string) {
	h.t.Helper()
	for i := from; i < to; i++ {
		if err := h.sp.Take(context.Background(), record(i, method)); err != nil {
			h.t.Fatalf("Take(%d): %v", i, err)
		}
	}
}

func (h *harness) shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return h.sp.Shutdown(ctx)
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s:\n got %d %v\nwant %d %v", what, len(got), got, len(want), want)
	}
}

func TestSpool_DeliversInOrderAndReclaims(t *testing.T) {
	sink := newMemSink()
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "mem", Sink: sink, BatchSize: 7})
	h.take(0, 100, http.MethodPost)
	waitFor(t, "100 records delivered", func() bool { return len(sink.ids()) == 100 })
	equal(t, "delivered", sink.ids(), ids(0, 100))
	waitFor(t, "spool reclaimed", func() bool { return h.sp.Len() == 0 && h.sp.Bytes() == 0 })
	if got := h.counter("scimtrail_sink_records_delivered_total", "sink", "mem"); got != 100 {
		t.Fatalf("delivered_total = %v, want 100", got)
	}
}

func TestSpool_ConcurrentTakesAllDelivered(t *testing.T) {
	sink := newMemSink()
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "mem", Sink: sink})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.take(g*100, g*100+100, http.MethodPatch)
		}()
	}
	wg.Wait()
	waitFor(t, "1600 records delivered", func() bool { return len(sink.ids()) >= 1600 })
	seen := map[string]int{}
	for _, id := range sink.ids() {
		seen[id]++
	}
	for _, id := range ids(0, 1600) {
		if seen[id] != 1 {
			t.Fatalf("record %s delivered %d times, want 1", id, seen[id])
		}
	}
}

func TestSpool_SinkOutageThenRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	down := newMemSink()
	down.setFailing(true)
	h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: down})
	h.take(0, 50, http.MethodPost)
	waitFor(t, "a retried export", func() bool { return h.counter("scimtrail_sink_retries_total", "sink", "kafka") >= 2 })
	if err := h.shutdown(50 * time.Millisecond); !errors.Is(err, spool.ErrNotDrained) {
		t.Fatalf("Shutdown with a failing sink = %v, want ErrNotDrained", err)
	}
	up := newMemSink()
	open(t, dir, spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: up})
	waitFor(t, "50 records after restart", func() bool { return len(up.ids()) == 50 })
	equal(t, "delivered after restart", up.ids(), ids(0, 50))
}

func TestSpool_EachSinkHasItsOwnCursor(t *testing.T) {
	fast, slow := newMemSink(), newMemSink()
	slow.setFailing(true)
	h := open(t, t.TempDir(), spool.Config{},
		spool.SinkConfig{Name: "file", Sink: fast},
		spool.SinkConfig{Name: "kafka", Sink: slow})
	h.take(0, 30, http.MethodPost)
	waitFor(t, "fast sink", func() bool { return len(fast.ids()) == 30 })
	if h.sp.Len() != 30 {
		t.Fatalf("spool holds %d records while one sink is down, want 30", h.sp.Len())
	}
	var kafka spool.SinkStatus
	for _, st := range h.sp.Status() {
		if st.Name == "kafka" {
			kafka = st
		}
	}
	if kafka.Lag != 30 || kafka.Failures == 0 || !strings.Contains(kafka.LastError, "memsink: down") || !kafka.Behind(time.Hour) {
		t.Fatalf("kafka status = %+v, want lag 30, failing, behind", kafka)
	}
	if got := h.counter("scimtrail_sink_lag_records", "sink", "kafka"); got != 30 {
		t.Fatalf("lag gauge = %v, want 30", got)
	}
	slow.setFailing(false)
	waitFor(t, "slow sink catches up", func() bool { return len(slow.ids()) == 30 })
	equal(t, "slow sink", slow.ids(), ids(0, 30))
	waitFor(t, "reclaim", func() bool { return h.sp.Len() == 0 })
}

func TestSpool_RemovedSinkNoLongerHoldsRecords(t *testing.T) {
	dir := t.TempDir()
	a, b := newMemSink(), newMemSink()
	b.setFailing(true)
	h := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "a", Sink: a}, spool.SinkConfig{Name: "b", Sink: b})
	h.take(0, 10, http.MethodPost)
	waitFor(t, "sink a", func() bool { return len(a.ids()) == 10 })
	h.shutdown(10 * time.Millisecond)

	h2 := open(t, dir, spool.Config{}, spool.SinkConfig{Name: "a", Sink: newMemSink()})
	if h2.sp.Len() != 0 {
		t.Fatalf("after removing sink b the spool holds %d records, want 0", h2.sp.Len())
	}
	if got := h2.counter("scimtrail_spool_dropped_records_total", "reason", "sink_removed"); got != 10 {
		t.Fatalf("dropped{sink_removed} = %v, want the 10 records sink b never had", got)
	}
}

func TestSpool_PermanentRefusalGoesToDeadLetterFile(t *testing.T) {
	sink := newMemSink()
	sink.refuse["rec-00003"] = true
	sink.refuse["rec-00007"] = true
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "kafka", Sink: sink, BatchSize: 100})
	sink.setFailing(true) // hold the records so they go out as one batch
	h.take(0, 10, http.MethodPost)
	sink.setFailing(false)
	waitFor(t, "8 delivered", func() bool { return len(sink.ids()) == 8 })
	waitFor(t, "reclaim", func() bool { return h.sp.Len() == 0 })
	want := ids(0, 10)
	want = append(append(want[:3:3], want[4:7]...), want[8:]...)
	equal(t, "delivered", sink.ids(), want)

	f, err := os.Open(filepath.Join(h.dir, spool.DeadLetterFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dead []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Sink   string        `json:"sink"`
			Error  string        `json:"error"`
			Record schema.Record `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.Sink != "kafka" || !strings.Contains(line.Error, "refuses "+line.Record.ID) {
			t.Fatalf("dead letter line = %s", sc.Text())
		}
		dead = append(dead, line.Record.ID)
	}
	equal(t, "dead letters", dead, []string{"rec-00003", "rec-00007"})
	if got := h.counter("scimtrail_sink_records_dead_lettered_total", "sink", "kafka"); got != 2 {
		t.Fatalf("dead_lettered_total = %v, want 2", got)
	}
}

// recordSize is the encoded size the spool counts for record(i, m).
func recordSize(t *testing.T, i int, method string) int64 {
	b, err := json.Marshal(record(i, method))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b)) + 24 // the frame header
}

func TestSpool_DropOldestCountsExactlyWhatItDropped(t *testing.T) {
	sink := newMemSink()
	sink.setFailing(true)
	max := recordSize(t, 0, http.MethodPost) * 20 // room for about 20
	h := open(t, t.TempDir(), spool.Config{MaxBytes: max, FullPolicy: spool.DropOldest},
		spool.SinkConfig{Name: "kafka", Sink: sink})
	h.take(0, 100, http.MethodPost)
	if h.sp.Bytes() > max {
		t.Fatalf("spool holds %d bytes, over its bound %d", h.sp.Bytes(), max)
	}
	held := h.sp.Len()
	dropped := h.counter("scimtrail_spool_dropped_records_total", "reason", "full")
	if int64(dropped)+held != 100 || held == 0 || dropped == 0 {
		t.Fatalf("dropped %v + held %d != 100 taken", dropped, held)
	}
	// An attempt that passed deliver's check for dropped records before the
	// last takes can reach the sink after setFailing(false) and deliver
	// records dropped since (counted dropped, delivered all the same, as
	// deliver says). One more failed attempt after the takes means the
	// next one starts from the records held now.
	retries := h.counter("scimtrail_sink_retries_total", "sink", "kafka")
	waitFor(t, "an attempt after the takes", func() bool {
		return h.counter("scimtrail_sink_retries_total", "sink", "kafka") > retries
	})
	sink.setFailing(false)
	waitFor(t, "held records delivered", func() bool { return int64(len(sink.ids())) >= held })
	equal(t, "the newest records survive", sink.ids(), ids(100-int(held), 100))
}

func TestSpool_BlockKeepsMutatingAndRefusesWhenFull(t *testing.T) {
	sink := newMemSink()
	sink.setFailing(true)
	max := recordSize(t, 0, http.MethodPost) * 5
	h := open(t, t.TempDir(), spool.Config{MaxBytes: max, FullPolicy: spool.Block},
		spool.SinkConfig{Name: "kafka", Sink: sink})
	n := 0
	for ; h.sp.Admit(http.MethodPost) && n < 100; n++ {
		h.take(n, n+1, http.MethodPost)
	}
	if n != 5 || !h.sp.Full() {
		t.Fatalf("Admit(POST) let %d requests through, want 5 before full", n)
	}
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if h.sp.Admit(m) {
			t.Fatalf("Admit(%s) = true on a full spool under block", m)
		}
	}
	if !h.sp.Admit(http.MethodGet) {
		t.Fatal("Admit(GET) = false: reads are forwarded under block")
	}
	// The POST that ended the loop and the three changes above.
	if got := h.counter("scimtrail_requests_refused_total"); got != 4 {
		t.Fatalf("requests_refused_total = %v, want 4", got)
	}
	// A request admitted before the spool filled keeps its record.
	h.take(n, n+1, http.MethodPatch)
	if err := h.sp.Take(context.Background(), record(99, http.MethodGet)); !errors.Is(err, spool.ErrFull) {
		t.Fatalf("Take(GET) on a full spool = %v, want ErrFull", err)
	}
	if got := h.counter("scimtrail_spool_dropped_records_total", "reason", "full"); got != 1 {
		t.Fatalf("dropped{full} = %v, want 1 (the read)", got)
	}
	sink.setFailing(false)
	waitFor(t, "kept records delivered", func() bool { return len(sink.ids()) == 6 })
	equal(t, "delivered", sink.ids(), ids(0, 6))
	waitFor(t, "admits again", func() bool { return h.sp.Admit(http.MethodPost) })
}

func TestSpool_SyncAlwaysFsyncsBeforeTakeReturns(t *testing.T) {
	sink := newMemSink()
	h := open(t, t.TempDir(), spool.Config{Sync: spool.SyncAlways}, spool.SinkConfig{Name: "mem", Sink: sink})
	h.take(0, 20, http.MethodPost)
	mfs, _ := h.reg.Gather()
	var fsyncs uint64
	for _, mf := range mfs {
		if mf.GetName() == "scimtrail_spool_fsync_duration_seconds" {
			fsyncs = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if fsyncs == 0 || fsyncs > 20 {
		t.Fatalf("fsyncs = %d after 20 sequential Takes, want 1..20", fsyncs)
	}
	waitFor(t, "delivered", func() bool { return len(sink.ids()) == 20 })
}

func TestSpool_TakeAfterShutdownIsRefused(t *testing.T) {
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "mem", Sink: newMemSink()})
	if err := h.shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.sp.Take(context.Background(), record(0, http.MethodPost)); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Take after Shutdown = %v, want ErrClosed", err)
	}
}

func TestSpool_SecondProcessCannotOpenTheSameDir(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, spool.Config{}, spool.SinkConfig{Name: "mem", Sink: newMemSink()})
	_, err := spool.Open(spool.Config{Dir: dir}, spool.Options{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want an in-use error", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  spool.Config
		want string
	}{
		{"no dir", spool.Config{}, `requires a non-empty "spool-dir"`},
		{"sync", spool.Config{Dir: "d", Sync: "sometimes"}, `"spool-sync": "sometimes" is not interval or always`},
		{"policy", spool.Config{Dir: "d", FullPolicy: "drop-newest"}, `"spool-full-policy": "drop-newest" is not drop-oldest or block`},
		{"max", spool.Config{Dir: "d", MaxBytes: -1}, `"spool-max-bytes": -1 is negative`},
		{"interval", spool.Config{Dir: "d", SyncInterval: -time.Second}, `"spool-sync-interval": -1s is negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if err := (spool.Config{Dir: "d"}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

// The crash test runs this test binary again as a child that takes records
// and reports each one; the parent kills it with SIGKILL mid-stream and
// checks that every reported record is in the spool.
const childEnv = "SPOOL_TEST_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	os.Exit(m.Run())
}

func child(dir string) int {
	sp, err := spool.Open(spool.Config{Dir: dir}, spool.Options{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for i := range 100000 {
		if err := sp.Take(context.Background(), record(i, http.MethodPost)); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("taken", i)
	}
	return 0
}

func TestSpool_KillNineLosesNoTakenRecord(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	taken := -1
	for sc.Scan() && taken < 500 {
		if _, err := fmt.Sscanf(sc.Text(), "taken %d", &taken); err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	cmd.Wait()
	if taken < 500 {
		t.Fatalf("child took only %d records", taken)
	}

	sink := newMemSink()
	open(t, dir, spool.Config{}, spool.SinkConfig{Name: "mem", Sink: sink})
	waitFor(t, "every taken record", func() bool { return len(sink.ids()) > taken })
	got := sink.ids()
	equal(t, "records after kill -9", got[:taken+1], ids(0, taken+1))
}

// A Take whose context has just run out (a slow look-up used it up) still
// keeps the record when the writer has room: only a stalled writer refuses.
func TestSpool_TakeWithAnExpiredContextKeepsTheRecord(t *testing.T) {
	sink := newMemSink()
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "mem", Sink: sink})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		if err := h.sp.Take(ctx, record(i, http.MethodPatch)); err != nil {
			t.Fatalf("Take %d with an expired context: %v", i, err)
		}
	}
	waitFor(t, "200 delivered", func() bool { return len(sink.ids()) == 200 })
}

// throttleSink asks to be left alone for delay on its first Export and
// notes when each Export came.
type throttleSink struct {
	delay time.Duration
	mu    sync.Mutex
	at    []time.Time
}

func (s *throttleSink) Export(ctx context.Context, recs []schema.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, time.Now())
	if len(s.at) == 1 {
		return exporter.Throttle(errors.New("throttlesink: 503"), s.delay)
	}
	return nil
}

func (s *throttleSink) attempts() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

func TestSpool_ThrottledSinkIsNotRetriedBeforeItsDelay(t *testing.T) {
	sink := &throttleSink{delay: 400 * time.Millisecond}
	// Backoff of 1–5ms: without the throttle, the retry would come at once.
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "otlp", Sink: sink})
	h.take(0, 1, http.MethodPost)
	waitFor(t, "a second attempt", func() bool { return len(sink.attempts()) >= 2 })
	at := sink.attempts()
	if gap := at[1].Sub(at[0]); gap < sink.delay {
		t.Fatalf("retried %v after a throttle of %v", gap, sink.delay)
	}
	if d, ok := exporter.ThrottleDelay(fmt.Errorf("wrapped: %w", exporter.Throttle(errors.New("x"), time.Second))); !ok || d != time.Second {
		t.Fatalf("ThrottleDelay through a wrap = %v, %v", d, ok)
	}
}

// TestSpool_SinksGetTheSameRecordsFromMemoryAndFromTheFile: a sink that
// keeps up gets the records taken just before (kept decoded in memory), a
// sink far behind reads them from the file: both get exactly the records
// taken, field for field.
func TestSpool_SinksGetTheSameRecordsFromMemoryAndFromTheFile(t *testing.T) {
	fast, slow := newMemSink(), newMemSink()
	slow.setFailing(true)
	h := open(t, t.TempDir(), spool.Config{},
		spool.SinkConfig{Name: "fast", Sink: fast}, spool.SinkConfig{Name: "slow", Sink: slow})
	const n = 3000 // more than the records kept in memory
	var want []schema.Record
	for i := range n {
		r := record(i, http.MethodPatch)
		active := i%2 == 0
		r.Active, r.Changes = &active, []schema.Change{{Op: "replace", Attribute: "active", New: json.RawMessage(strconv.FormatBool(active))}}
		r.Notes = []string{fmt.Sprintf("note %d", i)}
		if err := h.sp.Take(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	waitFor(t, "the fast sink", func() bool { return len(fast.ids()) == n })
	slow.setFailing(false)
	waitFor(t, "the slow sink", func() bool { return len(slow.ids()) == n })
	for name, m := range map[string]*memSink{"fast": fast, "slow": slow} {
		m.mu.Lock()
		got := m.recs
		m.mu.Unlock()
		for i := range want {
			a, _ := json.Marshal(got[i])
			b, _ := json.Marshal(want[i])
			if string(a) != string(b) {
				t.Fatalf("%s sink, record %d:\n got %s\nwant %s", name, i, a, b)
			}
		}
	}
}

// TestSpool_InvalidUTF8ReachesEverySinkAsTheFileHasIt: encoding replaces
// invalid UTF-8 (a client's User-Agent, say) with U+FFFD; a sink that
// keeps up must not get the raw bytes when one reading the file gets the
// replacement (an OTLP protobuf with invalid UTF-8 does not decode).
func TestSpool_InvalidUTF8ReachesEverySinkAsTheFileHasIt(t *testing.T) {
	fast := newMemSink()
	h := open(t, t.TempDir(), spool.Config{}, spool.SinkConfig{Name: "fast", Sink: fast})
	r := record(1, http.MethodPatch)
	r.UserAgent = "bad\xffua"
	if err := h.sp.Take(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sink", func() bool { return len(fast.ids()) == 1 })
	fast.mu.Lock()
	got := fast.recs[0].UserAgent
	fast.mu.Unlock()
	if got != "bad\uFFFDua" {
		t.Errorf("user agent %q, want it as encoded: %q", got, "bad\uFFFDua")
	}
}

// Records encoded into reused buffers reach the file whole, each its own
// bytes: Takes from many goroutines, some with expired contexts, some of
// them large (not reused), racing a Shutdown; after a restart a sink
// reads every record kept from the file and finds each body its own.
func TestSpool_ReusedBuffersKeepEachRecordItsOwn(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(spool.Config{Dir: dir}, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := func(i int) string {
		n := 10 + i%5*30
		if i%97 == 0 {
			n = 5000 // past the reused buffers' bound
		}
		return strings.Repeat(fmt.Sprintf("%05d", i), n)
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		kept = map[string]string{}
	)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 4000; i += 8 {
				r := record(i, http.MethodPatch)
				r.RequestBody = body(i)
				ctx := context.Background()
				if i%3 == 0 {
					ctx = expired
				}
				if sp.Take(ctx, r) == nil {
					mu.Lock()
					kept[r.ID] = r.RequestBody
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := sp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	sink := newMemSink()
	open(t, dir, spool.Config{}, spool.SinkConfig{Name: "mem", Sink: sink})
	waitFor(t, "every kept record", func() bool { return len(sink.ids()) >= len(kept) })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.recs) != len(kept) {
		t.Fatalf("%d records read back, %d kept", len(sink.recs), len(kept))
	}
	for _, r := range sink.recs {
		if want, ok := kept[r.ID]; !ok || r.RequestBody != want {
			t.Fatalf("record %s read back with a body not its own (kept: %v)", r.ID, ok)
		}
	}
}
