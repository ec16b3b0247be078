//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/internal/loadgen"
)

const soakUsage = `Usage: scimtrail bench soak [flags]

Run scimtrail with the Kafka sink alone under an open loop of the bench's
Okta-shaped PATCHes for --duration, and stop the Kafka broker for --outage
in the middle of it: the records wait in the spool on disk, not in the
proxy's memory, and drain once the broker is back. After the load, wait
for the spool to empty, then read the whole topic back (with franz-go, not
with kafka-go, which wrote it) and hold the distinct record ids up against
the PATCHes the upstream received: every forwarded request has its record.

Prints a Markdown table, a row per --interval, while loaded and while the
backlog drains: the load's rate, latency and errors; the proxy's resident
memory split into RssAnon (its own: heap, stacks) and RssFile (file-backed
pages: the binary and any file it maps into memory, page cache the kernel
takes back under pressure); the spool's backlog from its /metrics. Then the
totals and a verdict. Exit status 1 when a record is missing or the backlog
did not drain within --drain-timeout.

The broker (kfake in this process, its log on disk, so that stopping it and
starting it again on the same port is an outage that loses nothing it had)
is stopped and started between two slices of load, so that each row is
wholly up or down: --duration, --outage-at and --outage are whole numbers of
--interval. The proxy runs pinned as in "scimtrail bench"; all traffic stays
on 127.0.0.1.

Flags:
`

// soakConns is how many connections the open loop may use: far more than
// 1,000 req/s of sub-millisecond answers need, so a slow moment of the
// proxy shows in the latency, not as requests left unsent.
const soakConns = 32

// soakReadTimeout bounds the read of the whole topic after the soak.
const soakReadTimeout = 5 * time.Minute

// soakOptions are the flags of "scimtrail bench soak".
type soakOptions struct {
	duration     time.Duration
	rate         float64
	interval     time.Duration
	outageAt     time.Duration
	outage       time.Duration
	drainTimeout time.Duration
	pin          bool
	jsonPath     string
	args         []string
}

// parseSoakFlags returns the options, or an exit code ≥ 0 to return.
func parseSoakFlags(args []string, stderr io.Writer) (soakOptions, int) {
	o := soakOptions{args: args}
	fs := flag.NewFlagSet("scimtrail bench soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "`time` under load")
	fs.Float64Var(&o.rate, "rate", 1000, "requests per second of the open loop")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "`time` of each slice of load, a row of the table")
	fs.DurationVar(&o.outageAt, "outage-at", 150*time.Second, "when the broker stops, from the start of the load")
	fs.DurationVar(&o.outage, "outage", 5*time.Minute, "how long the broker stays down; 0 for no outage")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Minute, "after the load, the longest wait for the spool to empty")
	if code := parseCommandFlags(fs, soakUsage, args, &o.pin, &o.jsonPath); code >= 0 {
		return o, code
	}
	if err := o.validate(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "scimtrail bench soak: %s\n", oneLine(err))
		return o, 2
	}
	return o, -1
}

func (o soakOptions) validate(rest []string) error {
	var errs []error
	if len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", rest[0]))
	}
	whole := func(d time.Duration) bool { return o.interval > 0 && d%o.interval == 0 }
	switch {
	case o.duration <= 0 || o.interval <= 0:
		errs = append(errs, errors.New(`"duration" and "interval" must be positive`))
	case !whole(o.duration):
		errs = append(errs, fmt.Errorf(`"duration" (%s) must be a whole number of "interval" (%s)`, o.duration, o.interval))
	}
	if !(o.rate > 0) || o.rate > 1e6 {
		errs = append(errs, errors.New(`"rate" must be above 0 and at most 1000000`))
	}
	switch {
	case o.outage < 0:
		errs = append(errs, errors.New(`"outage" must not be negative`))
	case o.outage == 0: // no outage: outage-at does not matter
	case o.outageAt <= 0:
		errs = append(errs, errors.New(`"outage-at" must be positive: the proxy starts with the broker up`))
	case !whole(o.outageAt) || !whole(o.outage):
		errs = append(errs, fmt.Errorf(`"outage-at" (%s) and "outage" (%s) must be whole numbers of "interval" (%s)`, o.outageAt, o.outage, o.interval))
	case o.outageAt+o.outage > o.duration:
		errs = append(errs, fmt.Errorf(`the outage (%s from %s) must end by the end of the load ("duration" %s)`, o.outage, o.outageAt, o.duration))
	}
	if o.drainTimeout <= 0 {
		errs = append(errs, errors.New(`"drain-timeout" must be positive`))
	}
	return errors.Join(errs...)
}

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code := parseSoakFlags(args, stderr)
	if code >= 0 {
		return code
	}
	s := &soak{opts: opts, b: &bench{log: stderr}}
	defer s.b.close()
	rep, err := s.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "scimtrail bench soak: %v\n", err)
		return 1
	}
	rep.writeMarkdown(stdout)
	if opts.jsonPath != "" {
		if err := writeJSONFile(opts.jsonPath, rep); err != nil {
			fmt.Fprintf(stderr, "scimtrail bench soak: %v\n", err)
			return 1
		}
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

// soak is one run of "scimtrail bench soak".
type soak struct {
	opts     soakOptions
	b        *bench
	upstream *countingHandler
	broker   *soakBroker
	proxy    *benchChild
	metrics  string
	began    time.Time // of the load
	// catchUp times the sink's catching up after the outage; nil without
	// one.
	catchUp *catchUpWatch
}

// soakBroker is a kfake broker on a fixed port with its log on disk:
// stopped and started again, it is an outage that keeps what it had.
type soakBroker struct {
	port int
	dir  string
	c    *kfake.Cluster // nil while stopped
}

func (k *soakBroker) addr() string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(k.port)) }

func (k *soakBroker) start() error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(k.port), kfake.DataDir(k.dir),
		kfake.SeedTopics(4, kafka.DefaultTopic))
	if err != nil {
		return fmt.Errorf("kafka broker on %s: %w", k.addr(), err)
	}
	k.c = c
	return nil
}

func (k *soakBroker) stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

func (k *soakBroker) state() string {
	if k.c == nil {
		return "down"
	}
	return "up"
}

// freeLoopbackPort is a port on 127.0.0.1 nothing listened on a moment
// ago, for a server that must keep its port across restarts.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// soakRow is one slice of load, or one sample while the backlog drains.
// The load's figures are nil on the drain's rows.
type soakRow struct {
	// AtS is when the row was taken, in seconds since the load began.
	AtS       float64  `json:"at_s"`
	Phase     string   `json:"phase"`  // load, drain, drained, not drained
	Broker    string   `json:"broker"` // up, down
	Requests  *int64   `json:"requests,omitempty"`
	ReqPerSec *float64 `json:"req_per_s,omitempty"`
	P50Ms     *float64 `json:"p50_ms,omitempty"`
	P99Ms     *float64 `json:"p99_ms,omitempty"`
	Errors    *int64   `json:"errors,omitempty"`
	// RssAnonMiB and RssFileMiB split the proxy's resident set: its own
	// memory, and file-backed pages (page cache).
	RssAnonMiB   float64 `json:"rss_anon_mib"`
	RssFileMiB   float64 `json:"rss_file_mib"`
	SpoolRecords int64   `json:"spool_records"`
	SpoolMiB     float64 `json:"spool_mib"`
}

// soakReport is a whole soak, as printed and as written with --json.
type soakReport struct {
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Machine string    `json:"machine"`
	Layout  string    `json:"layout"`
	Load    string    `json:"load"`
	Proxy   string    `json:"proxy"`
	Broker  string    `json:"broker"`
	Notes   []string  `json:"notes,omitempty"`
	Rows    []soakRow `json:"rows"`
	// Forwarded is the PATCHes the upstream received: each must have a
	// record.
	Forwarded int64 `json:"forwarded"`
	// KafkaRecords is what the topic holds, duplicates included.
	KafkaRecords int64 `json:"kafka_records"`
	DistinctIDs  int64 `json:"distinct_ids"`
	Duplicates   int64 `json:"duplicates"`
	// Missing is Forwarded less DistinctIDs; Unexpected the opposite:
	// records without a forwarded request.
	Missing    int64 `json:"missing"`
	Unexpected int64 `json:"unexpected"`
	// DroppedBySpool is scimtrail_spool_dropped_records_total, all reasons.
	DroppedBySpool     int64   `json:"dropped_by_spool"`
	PeakBacklogRecords int64   `json:"peak_backlog_records"`
	PeakBacklogMiB     float64 `json:"peak_backlog_mib"`
	Drained            bool    `json:"drained"`
	// DrainS is from the end of the load to the spool's emptying, or to
	// the drain timeout.
	DrainS float64 `json:"drain_s"`
	// CaughtUpS is from the broker's return to the first moment the
	// backlog was at most one second of load; nil without an outage.
	CaughtUpS *float64 `json:"caught_up_s,omitempty"`
	// PeakRSSMiB is the proxy's VmHWM over the whole soak, start-up
	// included; PeakRssAnonMiB the highest RssAnon of the rows.
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	PeakRssAnonMiB float64 `json:"peak_rss_anon_mib"`
	Verdict        string  `json:"verdict"`
	Passed         bool    `json:"passed"`
}

const (
	spoolBytesMetric   = "scimtrail_spool_bytes"
	spoolDroppedMetric = "scimtrail_spool_dropped_records_total"
)

func (s *soak) run(ctx context.Context) (*soakReport, error) {
	started := time.Now()
	b := s.b
	if err := b.setup(s.opts.pin); err != nil {
		return nil, err
	}
	s.upstream = &countingHandler{h: newFixedUpstream(), method: http.MethodPatch}
	up, err := startBenchServer(s.upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	b.closers = append(b.closers, up.close)
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	s.broker = &soakBroker{port: port, dir: filepath.Join(b.tmp, "kafka")}
	if err := s.broker.start(); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, s.broker.stop)
	argv, _, err := b.scimtrailCommand("scimtrail-soak", "http://"+up.addr)
	if err != nil {
		return nil, err
	}
	argv = append(argv, "--kafka-brokers", s.broker.addr())
	if s.proxy, err = b.startScimtrail(ctx, "scimtrail", argv); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, s.proxy.stop)
	s.metrics = "http://" + s.proxy.admin + "/metrics"

	rows, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if s.broker.c == nil { // the outage lasted to the end of the load
		if err := s.startBroker(ctx); err != nil {
			return nil, err
		}
	}
	// The proxy answers a request once its record is in the spool, so with
	// the last answer every record is there: an empty spool is every record
	// in Kafka.
	drainRows, drained, drainTook, err := s.drain(ctx)
	if err != nil {
		return nil, err
	}
	rows = append(rows, drainRows...)
	var caughtUp *float64
	if s.catchUp != nil {
		if took, ok := s.catchUp.result(); ok {
			v := took.Seconds()
			caughtUp = &v
		}
	}
	st, err := procStatus(s.proxy.pid(), "VmHWM")
	if err != nil {
		return nil, err
	}
	m, err := scrapeMetrics(ctx, b.metrics, s.metrics, spoolDroppedMetric)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "scimtrail bench soak: reading the topic back from the broker\n")
	got, err := readTopic(ctx, s.broker.addr(), kafka.DefaultTopic, soakReadTimeout)
	if err != nil {
		return nil, err
	}
	rep := s.report(started, rows)
	rep.Forwarded = s.upstream.n.Load()
	rep.KafkaRecords, rep.DistinctIDs, rep.Duplicates = got.records, int64(len(got.ids)), got.duplicates()
	rep.Missing, rep.Unexpected = max(rep.Forwarded-rep.DistinctIDs, 0), max(rep.DistinctIDs-rep.Forwarded, 0)
	rep.DroppedBySpool = int64(m[spoolDroppedMetric])
	rep.Drained, rep.DrainS, rep.CaughtUpS = drained, drainTook.Seconds(), caughtUp
	rep.PeakRSSMiB = mib(st["VmHWM"])
	for _, r := range rows {
		rep.PeakRssAnonMiB = max(rep.PeakRssAnonMiB, r.RssAnonMiB)
		if r.SpoolRecords > rep.PeakBacklogRecords {
			rep.PeakBacklogRecords, rep.PeakBacklogMiB = r.SpoolRecords, r.SpoolMiB
		}
	}
	rep.judge(s.opts.drainTimeout)
	return rep, nil
}

// load runs the open loop slice by slice, stopping and starting the broker
// between slices, and returns a row per slice.
func (s *soak) load(ctx context.Context) ([]soakRow, error) {
	lt := loadgen.Target{Addr: s.proxy.listen, Requests: benchRequests(s.proxy.listen)}
	n := int(s.opts.duration / s.opts.interval)
	rows := make([]soakRow, 0, n)
	s.began = time.Now()
	for i := range n {
		if s.opts.outage > 0 {
			switch time.Duration(i) * s.opts.interval {
			case s.opts.outageAt:
				s.broker.stop()
				s.b.note(fmt.Sprintf("the broker was stopped at %s", clock(time.Since(s.began))))
			case s.opts.outageAt + s.opts.outage:
				if err := s.startBroker(ctx); err != nil {
					return nil, err
				}
			}
		}
		broker := s.broker.state()
		res, err := loadgen.Open(ctx, lt, s.opts.rate, soakConns, s.opts.interval)
		if err != nil {
			return nil, err
		}
		if err := s.proxy.exited(); err != nil {
			return nil, err
		}
		row, err := s.sample(ctx, "load", broker)
		if err != nil {
			return nil, err
		}
		answered, rate, errs := res.Answered(), res.Rate(), res.Errors()
		p50, p99 := ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.99))
		row.Requests, row.ReqPerSec, row.P50Ms, row.P99Ms, row.Errors = &answered, &rate, &p50, &p99, &errs
		if errs > 0 {
			// The proxy answers once the record is in the spool, so an
			// answered request's record is there; one the load generator
			// gave up on may reach the spool later.
			s.b.note(fmt.Sprintf("%s: %d non-2xx, %d transport errors (%d timeouts), %d not sent",
				clock(time.Duration(row.AtS*float64(time.Second))), res.NotOK, res.TransportErrors, res.Timeouts, res.Unsent))
		}
		s.progress(row)
		rows = append(rows, row)
	}
	return rows, nil
}

// startBroker ends the outage, and starts timing the sink's catching up.
// The time the broker takes to reload its log is the next slice's, which
// the note says.
func (s *soak) startBroker(ctx context.Context) error {
	at := time.Since(s.began)
	t0 := time.Now()
	if err := s.broker.start(); err != nil {
		return err
	}
	s.b.note(fmt.Sprintf("the broker was started again at %s, on the same port and log (it took %.0f ms)", clock(at), ms(time.Since(t0))))
	s.catchUp = s.watchCatchUp(ctx)
	s.b.closers = append(s.b.closers, s.catchUp.stop)
	return nil
}

// catchUpInterval is how often the catch-up watch reads the backlog: the
// precision of the time it reports.
const catchUpInterval = 100 * time.Millisecond

// catchUpWatch times the Kafka sink's catching up after the outage: from
// the broker's return to the first moment the backlog is at most one
// second of load. Under load the spool is never quite empty (the records
// of the last milliseconds are on their way), so empty is not the mark.
type catchUpWatch struct {
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	took     time.Duration
	caughtUp bool
}

func (s *soak) watchCatchUp(ctx context.Context) *catchUpWatch {
	w := &catchUpWatch{quit: make(chan struct{}), done: make(chan struct{})}
	began := time.Now()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(catchUpInterval)
		defer tick.Stop()
		for {
			m, err := scrapeMetrics(ctx, s.b.metrics, s.metrics, spoolRecordsMetric)
			if v, ok := m[spoolRecordsMetric]; err == nil && ok && v <= s.opts.rate {
				w.took, w.caughtUp = time.Since(began), true
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *catchUpWatch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

// result is the time to catch up, once the spool is empty; false if it
// never caught up.
func (w *catchUpWatch) result() (time.Duration, bool) {
	select {
	case <-w.done:
	case <-time.After(2 * catchUpInterval): // the spool is empty: its next scrape sees it
	}
	w.stop()
	return w.took, w.caughtUp
}

// drain waits for the spool to empty, a row per interval meanwhile and one
// at the end. It returns how long it took from the end of the load.
func (s *soak) drain(ctx context.Context) (rows []soakRow, drained bool, took time.Duration, err error) {
	began := time.Now()
	deadline := began.Add(s.opts.drainTimeout)
	for {
		wait := min(s.opts.interval, time.Until(deadline))
		if _, drained, err = waitSpoolEmpty(ctx, s.b.metrics, s.metrics, max(wait, 0)); err != nil {
			return nil, false, 0, err
		}
		took = time.Since(began)
		if err := s.proxy.exited(); err != nil {
			return nil, false, 0, err
		}
		phase := "drain"
		switch {
		case drained:
			phase = "drained"
		case !time.Now().Before(deadline):
			phase = "not drained"
		}
		row, err := s.sample(ctx, phase, s.broker.state())
		if err != nil {
			return nil, false, 0, err
		}
		s.progress(row)
		rows = append(rows, row)
		if phase != "drain" {
			return rows, drained, took, nil
		}
	}
}

// sample reads the proxy's memory and its spool's backlog now.
func (s *soak) sample(ctx context.Context, phase, broker string) (soakRow, error) {
	row := soakRow{AtS: time.Since(s.began).Seconds(), Phase: phase, Broker: broker}
	st, err := procStatus(s.proxy.pid(), "RssAnon", "RssFile")
	if err != nil {
		return row, fmt.Errorf("proxy memory: %w", err)
	}
	row.RssAnonMiB, row.RssFileMiB = mib(st["RssAnon"]), mib(st["RssFile"])
	m, err := scrapeMetrics(ctx, s.b.metrics, s.metrics, spoolRecordsMetric, spoolBytesMetric)
	if err != nil {
		return row, fmt.Errorf("proxy metrics: %w", err)
	}
	row.SpoolRecords, row.SpoolMiB = int64(m[spoolRecordsMetric]), m[spoolBytesMetric]/(1<<20)
	return row, nil
}

func (s *soak) progress(r soakRow) {
	load := ""
	if r.ReqPerSec != nil {
		load = fmt.Sprintf(" %s req/s, p99 %s ms, %d errors,", fmtFloat(r.ReqPerSec, 0), fmtFloat(r.P99Ms, 3), *r.Errors)
	}
	fmt.Fprintf(s.b.log, "scimtrail bench soak: %s %s, broker %s:%s RssAnon %.1f MiB, RssFile %.1f MiB, spool %d records\n",
		clock(time.Duration(r.AtS*float64(time.Second))), r.Phase, r.Broker, load, r.RssAnonMiB, r.RssFileMiB, r.SpoolRecords)
}

func (s *soak) report(started time.Time, rows []soakRow) *soakReport {
	o := s.opts
	broker := fmt.Sprintf("kfake in the bench process on %s, its log on disk in %s; ", s.broker.addr(), fsName(s.b.tmp))
	if o.outage > 0 {
		broker += fmt.Sprintf("stopped at %s for %s, then started again on the same port and log", clock(o.outageAt), o.outage)
	} else {
		broker += "no outage"
	}
	return &soakReport{
		Command: "scimtrail bench soak" + shellArgs(o.args),
		Started: started.UTC().Truncate(time.Second),
		Machine: machine(),
		Layout:  s.b.layout.describe("upstream and Kafka broker"),
		Load: fmt.Sprintf("an open loop at %s req/s over up to %d keep-alive connections, latency from each request's scheduled send time: "+
			"the bench's Okta-shaped PATCH of %d bytes, %d users in turn, to a fixed-answer upstream in the bench process that counts them; "+
			"%s in slices of %s", fmtFloat(&o.rate, 0), soakConns, len(benchPatch(0)), benchUsers, o.duration, o.interval),
		Proxy:  "scimtrail with the Kafka sink alone (kafka-go, JSON values), its spool and state in " + fsName(s.b.tmp),
		Broker: broker,
		Notes:  s.b.notes,
		Rows:   rows,
	}
}

// judge sets the verdict: no record missing, none unexpected, and the
// backlog drained.
func (r *soakReport) judge(drainTimeout time.Duration) {
	var fails []string
	if r.Missing > 0 {
		fails = append(fails, fmt.Sprintf("%d records missing: %d requests forwarded, %d distinct records in Kafka", r.Missing, r.Forwarded, r.DistinctIDs))
	}
	if r.Unexpected > 0 {
		fails = append(fails, fmt.Sprintf("%d records more than requests forwarded (%d forwarded, %d distinct records in Kafka)", r.Unexpected, r.Forwarded, r.DistinctIDs))
	}
	if !r.Drained {
		fails = append(fails, fmt.Sprintf("the backlog did not drain within %s", drainTimeout))
	}
	if r.DroppedBySpool > 0 {
		fails = append(fails, fmt.Sprintf("the spool dropped %d records (scimtrail_spool_dropped_records_total)", r.DroppedBySpool))
	}
	r.Passed = len(fails) == 0
	if r.Passed {
		r.Verdict = fmt.Sprintf("no record lost: %d requests forwarded, %d distinct records in Kafka (%d duplicates); ",
			r.Forwarded, r.DistinctIDs, r.Duplicates)
		if r.CaughtUpS != nil {
			r.Verdict += fmt.Sprintf("the backlog, at most %d records, caught up %.1f s after the broker's return; ", r.PeakBacklogRecords, *r.CaughtUpS)
		}
		r.Verdict += fmt.Sprintf("the spool was empty %.1f s after the load", r.DrainS)
		return
	}
	r.Verdict = fails[0]
	for _, f := range fails[1:] {
		r.Verdict += "; " + f
	}
}

// writeMarkdown prints the soak as Markdown, ready for the README.
func (r *soakReport) writeMarkdown(w io.Writer) {
	writeReportHead(w, r.Command, r.Started, r.Notes, [][2]string{
		{"Machine", r.Machine}, {"Layout", r.Layout}, {"Load", r.Load}, {"Proxy", r.Proxy}, {"Broker", r.Broker},
		{"Columns", "t = since the load began, at the end of the slice; req/s, p50, p99 and errors of the slice; " +
			"RssAnon = the proxy's own resident memory (heap, stacks), RssFile = its resident file-backed pages (the binary and any file " +
			"it maps into memory: page cache the kernel takes back under pressure), from /proc/PID/status; spool = scimtrail_spool_records " +
			"and scimtrail_spool_bytes from the proxy's /metrics, the records some sink has not yet acknowledged. " +
			"Totals: forwarded = PATCHes the upstream received; in Kafka = the topic's records, read back with franz-go, duplicates included; " +
			"missing = forwarded − distinct ids; peak backlog = the highest spool row; caught up = from the broker's return to the first moment " +
			"the backlog was at most one second of load (read every 100 ms); drain = from the end of the load to an empty spool; " +
			"peak RSS = VmHWM over the whole soak, file-backed pages included"},
	})
	fmt.Fprint(w, "\n| t | phase | broker | req/s | p50 ms | p99 ms | errors | RssAnon MiB | RssFile MiB | spool records | spool MiB |\n")
	fmt.Fprint(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range r.Rows {
		errs := "—"
		if row.Errors != nil {
			errs = fmt.Sprint(*row.Errors)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %d | %.1f |\n",
			clock(time.Duration(row.AtS*float64(time.Second))), row.Phase, row.Broker, fmtFloat(row.ReqPerSec, 0),
			fmtFloat(row.P50Ms, 3), fmtFloat(row.P99Ms, 3), errs, row.RssAnonMiB, row.RssFileMiB, row.SpoolRecords, row.SpoolMiB)
	}
	fmt.Fprint(w, "\n| forwarded | in Kafka | distinct ids | duplicates | missing | dropped by the spool | peak backlog records | peak backlog MiB | "+
		"caught up s | drain s | peak RSS MiB | peak RssAnon MiB |\n")
	fmt.Fprint(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %d | %d | %.1f | %s | %.1f | %.1f | %.1f |\n",
		r.Forwarded, r.KafkaRecords, r.DistinctIDs, r.Duplicates, r.Missing, r.DroppedBySpool,
		r.PeakBacklogRecords, r.PeakBacklogMiB, fmtFloat(r.CaughtUpS, 1), r.DrainS, r.PeakRSSMiB, r.PeakRssAnonMiB)
	fmt.Fprintf(w, "\nVerdict: %s\n", r.Verdict)
}

// clock is d as m:ss, rounded to the second.
func clock(d time.Duration) string {
	sec := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
