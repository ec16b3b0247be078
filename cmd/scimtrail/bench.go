//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scimtrail/scimtrail/internal/loadgen"
)

// benchTargetNames are the bench's targets, in the order they run and are
// shown.
func benchTargetNames() []string {
	return []string{
		"direct", "httputil", "nginx",
		"scimtrail-off", "scimtrail-file", "scimtrail-kafka", "scimtrail-otlp", "scimtrail-all",
	}
}

const benchUsage = `Usage: scimtrail bench [flags]

Measure, side by side on this machine, what a proxy in front of a SCIM
service costs: the service directly, a plain tuned httputil.ReverseProxy,
nginx with a JSON access log (when nginx is on PATH) and scimtrail with each
sink, each proxy a process of its own pinned to one CPU (taskset) while the
load generator, the upstream, a Kafka broker (kfake) and an OTLP receiver run
in this process on the others. Prints a Markdown table: req/s, latency
percentiles, latency added over direct, CPU per request and allocations per
request of the proxy process, its peak RSS, and the ratios to httputil.
All traffic stays on 127.0.0.1; every process started is stopped at the end.

Two stress runs of scimtrail alone, each with a verdict (exit 1 when it
fails), have commands of their own; run them with -h for their flags:
  scimtrail bench soak    a long open loop with the Kafka broker stopped for
                          a while: memory, the spool's backlog, its drain,
                          and every record read back from Kafka
  scimtrail bench burst   an initial sync, N distinct POST /Users sent once:
                          the time to answer and to deliver them all, and
                          every record counted in the file, Kafka and OTLP

Targets: direct, httputil, nginx, scimtrail-off (records to stdout, which is
/dev/null: capture, derivation, identity cache and spool with the cheapest
sink), scimtrail-file, scimtrail-kafka, scimtrail-otlp, scimtrail-all (file,
Kafka and OTLP at once).
Steps: cN is a closed loop on N keep-alive connections; openR an open loop at
R requests/s, each latency counted from its scheduled send time.

Flags:
`

// benchOptions are the flags of "scimtrail bench".
type benchOptions struct {
	targets   []string
	steps     []benchStep
	duration  time.Duration
	warmup    time.Duration
	openConns int
	pin       bool
	jsonPath  string
	// profileDir receives a CPU profile of each scimtrail target per
	// step, and its allocations; "" for none.
	profileDir string
	// proxyFlags are added to every scimtrail target's command line.
	proxyFlags []string
	nginx      string // nginx's path, "" when not on PATH
	skipped    []string
	args       []string
}

// benchStep is one load shape: a closed loop of conns connections, or an
// open loop at rate requests/s.
type benchStep struct {
	name  string
	conns int
	rate  float64
}

func parseBenchStep(s string) (benchStep, error) {
	bad := fmt.Errorf(`"steps": %q is not cN (closed loop, N connections, 1 to 4096) or openR (open loop, R req/s, up to 1000000)`, s)
	if v, ok := strings.CutPrefix(s, "open"); ok {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0) || r > 1e6 {
			return benchStep{}, bad
		}
		return benchStep{name: s, rate: r}, nil
	}
	if v, ok := strings.CutPrefix(s, "c"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 4096 {
			return benchStep{}, bad
		}
		return benchStep{name: s, conns: n}, nil
	}
	return benchStep{}, bad
}

// parseBenchFlags returns the options, or an exit code ≥ 0 to return.
func parseBenchFlags(args []string, stderr io.Writer) (benchOptions, int) {
	o := benchOptions{args: args}
	fs := flag.NewFlagSet("scimtrail bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", strings.Join(benchTargetNames(), ","), "comma-separated `list` of targets to run (nginx only when on PATH)")
	steps := fs.String("steps", "c4,c32,c128,open1000", "comma-separated `list` of load steps: cN, openR")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured `time` of each step")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each step, same shape")
	fs.IntVar(&o.openConns, "open-conns", 32, "connections an open-loop step may use")
	fs.StringVar(&o.profileDir, "profile", "", "write a CPU profile of each scimtrail target over each measured step, and its allocations since start, to `dir` (go tool pprof reads them)")
	fs.Func("proxy-flag", "add `flag` to every scimtrail target's command line, e.g. --proxy-flag=--otlp-compression=none (repeatable)", func(v string) error {
		if !strings.HasPrefix(v, "-") {
			return fmt.Errorf("%q is not a flag", v)
		}
		o.proxyFlags = append(o.proxyFlags, v)
		return nil
	})
	if code := parseCommandFlags(fs, benchUsage, args, &o.pin, &o.jsonPath); code >= 0 {
		return o, code
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "targets" })
	o.nginx, _ = exec.LookPath("nginx")
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
		case !slices.Contains(benchTargetNames(), t):
			errs = append(errs, fmt.Errorf(`"targets": unknown target %q; known: %s`, t, strings.Join(benchTargetNames(), ", ")))
		case slices.Contains(o.targets, t):
		case t == "nginx" && o.nginx == "":
			if explicit {
				o.skipped = append(o.skipped, "nginx: not on PATH, skipped")
			} else {
				o.skipped = append(o.skipped, "nginx: not on PATH, not run")
			}
		default:
			o.targets = append(o.targets, t)
		}
	}
	for _, s := range strings.Split(*steps, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st, err := parseBenchStep(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.ContainsFunc(o.steps, func(x benchStep) bool { return x.name == st.name }) {
			o.steps = append(o.steps, st)
		}
	}
	if len(o.targets) == 0 || len(o.steps) == 0 {
		errs = append(errs, errors.New(`requires at least one of "targets" and of "steps"`))
	}
	if o.duration <= 0 || o.warmup < 0 {
		errs = append(errs, errors.New(`"duration" must be positive and "warmup" not negative`))
	}
	if o.openConns < 1 || o.openConns > 4096 {
		errs = append(errs, errors.New(`"open-conns" must be 1 to 4096`))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "scimtrail bench: %s\n", oneLine(err))
		return o, 2
	}
	// Keep the targets in their canonical order: direct first, the
	// baselines before scimtrail.
	names := benchTargetNames()
	slices.SortStableFunc(o.targets, func(a, b string) int {
		return slices.Index(names, a) - slices.Index(names, b)
	})
	return o, -1
}

// parseCommandFlags parses args with fs, whose usage is the text given and
// then the flags, and returns an exit code ≥ 0 when the command is done
// (0 after -h, 2 for a bad flag) or -1 to go on. Every bench command adds
// --pin and --json (to pin and jsonPath).
func parseCommandFlags(fs *flag.FlagSet, usage string, args []string, pin *bool, jsonPath *string) int {
	fs.BoolVar(pin, "pin", true, "pin the proxy to one CPU and the bench to the others, when taskset exists and there are 2 CPUs or more")
	fs.StringVar(jsonPath, "json", "", "also write the results as JSON to `file`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case serveHTTPUtilFlag:
			return serveHTTPUtil(ctx, args[1:], stderr)
		case "soak":
			return runSoak(ctx, args[1:], stdout, stderr)
		case "burst":
			return runBurst(ctx, args[1:], stdout, stderr)
		}
	}
	opts, code := parseBenchFlags(args, stderr)
	if code >= 0 {
		return code
	}
	b := &bench{opts: opts, log: stderr}
	defer b.close()
	rep, err := b.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "scimtrail bench: %v\n", err)
		return 1
	}
	rep.writeMarkdown(stdout)
	if opts.jsonPath != "" {
		if err := rep.writeJSON(opts.jsonPath); err != nil {
			fmt.Fprintf(stderr, "scimtrail bench: %v\n", err)
			return 1
		}
	}
	return 0
}

// bench is one run of "scimtrail bench" (or of soak or burst): the
// fixtures in this process and the proxies it starts, all released by
// close.
type bench struct {
	opts     benchOptions
	log      io.Writer
	exe      string
	tmp      string
	layout   benchLayout
	upstream *benchServer
	otlp     *otlpReceiver
	metrics  *http.Client
	closers  []func() // in the order to run them
	notes    []string
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// setup readies what every run needs before its fixtures: the CPU
// layout, a temporary directory and the client that reads /metrics.
func (b *bench) setup(pin bool) error {
	var err error
	if b.exe, err = os.Executable(); err != nil {
		return err
	}
	// Pinned before anything else starts; put back last.
	if b.layout, err = pinBench(pin); err != nil {
		return err
	}
	b.closers = append(b.closers, b.layout.restore)
	if b.tmp, err = os.MkdirTemp("", "scimtrail-bench-"); err != nil {
		return err
	}
	b.closers = append(b.closers, func() { os.RemoveAll(b.tmp) })
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	b.metrics = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	b.closers = append(b.closers, tr.CloseIdleConnections)
	return nil
}

func (b *bench) run(ctx context.Context) (*benchReport, error) {
	began := time.Now()
	if err := b.setup(b.opts.pin); err != nil {
		return nil, err
	}
	var err error
	if b.upstream, err = startBenchServer(newFixedUpstream()); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	b.closers = append(b.closers, b.upstream.close)
	b.notes = append(b.notes, b.opts.skipped...)

	var rows []benchRow
	total, n := len(b.opts.targets)*len(b.opts.steps), 0
	for _, name := range b.opts.targets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tg, err := b.startTarget(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, st := range b.opts.steps {
			n++
			row, err := b.measure(ctx, tg, st)
			if err == nil {
				err = tg.exited()
			}
			if err != nil {
				tg.stop()
				return nil, fmt.Errorf("%s %s: %w", name, st.name, err)
			}
			fmt.Fprintf(b.log, "scimtrail bench: [%d/%d] %s %s: %s req/s, p99 %s ms, CPU %s µs/req, %d errors\n",
				n, total, name, st.name, fmtFloat(&row.ReqPerSec, 0), fmtFloat(&row.P99Ms, 3), fmtFloat(row.CPUMicrosPerReq, 1), row.errors())
			rows = append(rows, row)
		}
		tg.stop()
	}
	compare(rows)
	return b.report(began, rows), nil
}

// benchTarget is a running target: where to send the load and, for a
// proxy, its process and metrics.
type benchTarget struct {
	name    string
	addr    string
	child   *benchChild // nil for direct
	metrics string      // the /metrics URL, "" for none
	spool   bool        // scimtrail: wait for its spool to empty
	// profile: the target serves /debug/pprof on its admin listener.
	profile bool
	// scrapeAllocs is what one scrape of metrics allocates in the target;
	// the bench's scrapes are not the target's work.
	scrapeAllocs float64
	closers      []func()
}

func (t *benchTarget) stop() {
	if t.child != nil {
		t.child.stop()
	}
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
	t.closers = nil
}

func (t *benchTarget) exited() error {
	if t.child == nil {
		return nil
	}
	return t.child.exited()
}

func (b *bench) startTarget(ctx context.Context, name string) (tg *benchTarget, err error) {
	tg = &benchTarget{name: name}
	// Stopped with the bench, too, should a step fail or Ctrl-C come.
	b.closers = append(b.closers, tg.stop)
	defer func() {
		if err != nil {
			tg.stop()
		}
	}()
	upstreamURL := "http://" + b.upstream.addr
	env := childEnv()
	switch {
	case name == "direct":
		tg.addr = b.upstream.addr
		return tg, nil
	case name == "httputil":
		argv := b.layout.proxyCommand([]string{b.exe, "bench", serveHTTPUtilFlag, "127.0.0.1:0", upstreamURL})
		if tg.child, err = startChild(ctx, name, argv, env, nil); err != nil {
			return nil, err
		}
	case name == "nginx":
		argv, addr, err := b.nginxConfig()
		if err != nil {
			return nil, err
		}
		if tg.child, err = startChild(ctx, name, b.layout.proxyCommand(argv), env, waitDial(addr)); err != nil {
			return nil, err
		}
		tg.addr = addr
		return tg, nil
	default: // scimtrail-*
		argv, dir, err := b.scimtrailCommand(name, upstreamURL)
		if err != nil {
			return nil, err
		}
		sinks := strings.TrimPrefix(name, "scimtrail-")
		if sinks == "off" {
			argv = append(argv, "--log-file", "-")
		}
		if sinks == "file" || sinks == "all" {
			argv = append(argv, "--log-file", filepath.Join(dir, "records.jsonl"))
		}
		if sinks == "kafka" || sinks == "all" {
			// One broker per target: kfake keeps every record in memory.
			var cluster *kfake.Cluster
			var addr string
			if cluster, addr, err = startKafka(); err != nil {
				return nil, err
			}
			tg.closers = append(tg.closers, cluster.Close)
			argv = append(argv, "--kafka-brokers", addr)
		}
		if sinks == "otlp" || sinks == "all" {
			if b.otlp == nil {
				if b.otlp, err = startOTLPReceiver(""); err != nil {
					return nil, fmt.Errorf("otlp receiver: %w", err)
				}
				b.closers = append(b.closers, b.otlp.close)
			}
			argv = append(argv, "--otlp-endpoint", "http://"+b.otlp.addr, "--otlp-protocol", "grpc")
		}
		argv = append(argv, b.opts.proxyFlags...)
		if b.opts.profileDir != "" {
			argv = append(argv, "--pprof")
			tg.profile = true
		}
		if tg.child, err = b.startScimtrail(ctx, name, argv); err != nil {
			return nil, err
		}
		tg.spool = true
	}
	tg.addr = tg.child.listen
	if tg.child.admin != "" {
		tg.metrics = "http://" + tg.child.admin + "/metrics"
		if tg.scrapeAllocs, err = b.scrapeCost(ctx, tg.metrics); err != nil {
			return nil, fmt.Errorf("%s: metrics: %w", name, err)
		}
	}
	return tg, nil
}

// scimtrailCommand is the command line of scimtrail in front of upstream,
// without a sink, its state in a new directory under the bench's, which it
// returns too; the caller adds the sinks.
func (b *bench) scimtrailCommand(name, upstream string) (argv []string, dir string, err error) {
	if dir, err = os.MkdirTemp(b.tmp, name+"-"); err != nil {
		return nil, "", err
	}
	return []string{b.exe, "proxy", "--upstream", upstream, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--state-dir", dir, "--log-format", "json", "--shutdown-timeout", "2s", "--idp", benchIdP()}, dir, nil
}

// startScimtrail runs argv, from scimtrailCommand, pinned as every proxy
// the bench measures.
func (b *bench) startScimtrail(ctx context.Context, name string, argv []string) (*benchChild, error) {
	return startChild(ctx, name, b.layout.proxyCommand(argv), childEnv(), nil)
}

const mallocsMetric = "go_memstats_mallocs_total"

// scrapeCost is what one scrape of url allocates in the target: the
// difference between two scrapes back to back, after a first one warms
// the registry up.
func (b *bench) scrapeCost(ctx context.Context, url string) (float64, error) {
	var last []float64
	for range 3 {
		m, err := scrapeMetrics(ctx, b.metrics, url, mallocsMetric)
		if err != nil {
			return 0, err
		}
		v, ok := m[mallocsMetric]
		if !ok {
			return 0, fmt.Errorf("no %s", mallocsMetric)
		}
		last = append(last, v)
	}
	return max(last[2]-last[1], 0), nil
}

// nginxConfig writes a configuration for nginx in front of the upstream,
// logging each request as a JSON line with its body, and returns the
// command that runs it in the foreground, one process, and its address.
func (b *bench) nginxConfig() ([]string, string, error) {
	dir, err := os.MkdirTemp(b.tmp, "nginx-")
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close() // nginx takes the port; nothing else on this machine should meanwhile
	conf := fmt.Sprintf(nginxConf, dir, b.upstream.addr, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, "", err
	}
	return []string{b.opts.nginx, "-p", dir + "/", "-c", path, "-e", filepath.Join(dir, "error.log")}, addr, nil
}

// nginxConf: %[1]s the directory, %[2]s the upstream, %[3]s the listen
// address. One process (master_process off), so /proc shows all its work;
// the access log is written as each request ends, like a record.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    client_body_buffer_size 64k;
    log_format audit escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","method":"$request_method","uri":"$request_uri",'
        '"status":$status,"request_time":$request_time,"upstream_response_time":"$upstream_response_time",'
        '"user_agent":"$http_user_agent","request_body":"$request_body"}';
    access_log %[1]s/access.log audit;
    upstream scim {
        server %[2]s;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen %[3]s;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://scim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// drainTimeout bounds the wait for scimtrail's sinks after a step.
const drainTimeout = 30 * time.Second

// procSample is a target's counters at one moment.
type procSample struct {
	ticks    int64
	syscalls int64
	mallocs  float64
}

func (b *bench) sample(ctx context.Context, tg *benchTarget) (procSample, error) {
	var s procSample
	if tg.child == nil {
		return s, nil
	}
	var err error
	if s.ticks, err = procTicks(tg.child.pid()); err != nil {
		return s, err
	}
	if s.syscalls, err = procSyscalls(tg.child.pid()); err != nil {
		return s, err
	}
	if tg.metrics != "" {
		m, err := scrapeMetrics(ctx, b.metrics, tg.metrics, mallocsMetric)
		if err != nil {
			return s, err
		}
		s.mallocs = m[mallocsMetric]
	}
	return s, nil
}

// drain waits until scimtrail's spool is empty: every sink has every
// record of the step, so their delivery is part of the step's CPU. It
// returns the scrapes it made and whether the spool emptied.
func (b *bench) drain(ctx context.Context, tg *benchTarget) (scrapes int, drained bool, err error) {
	if !tg.spool {
		return 0, true, nil
	}
	return waitSpoolEmpty(ctx, b.metrics, tg.metrics, drainTimeout)
}

// spoolRecordsMetric is the records scimtrail's spool holds that some sink
// has not yet acknowledged: 0 once every sink has every record.
const spoolRecordsMetric = "scimtrail_spool_records"

// waitSpoolEmpty scrapes metrics every 20 ms until the spool is empty or
// timeout has passed. It returns the scrapes it made and whether the spool
// emptied.
func waitSpoolEmpty(ctx context.Context, client *http.Client, metrics string, timeout time.Duration) (scrapes int, drained bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := scrapeMetrics(ctx, client, metrics, spoolRecordsMetric)
		scrapes++
		if err != nil {
			return scrapes, false, err
		}
		if v, ok := m[spoolRecordsMetric]; !ok {
			return scrapes, false, errors.New("no " + spoolRecordsMetric + " in /metrics")
		} else if v == 0 {
			return scrapes, true, nil
		}
		if time.Now().After(deadline) {
			return scrapes, false, nil
		}
		select {
		case <-ctx.Done():
			return scrapes, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measure runs one step against a target: the warm-up, then (once the
// sinks have caught up) the measured load, then the wait for the sinks.
func (b *bench) measure(ctx context.Context, tg *benchTarget, st benchStep) (benchRow, error) {
	row := benchRow{Target: tg.name, Step: st.name}
	lt := loadgen.Target{Addr: tg.addr, Requests: benchRequests(tg.addr)}
	load := func(d time.Duration) (*loadgen.Result, error) {
		if st.rate > 0 {
			return loadgen.Open(ctx, lt, st.rate, b.opts.openConns, d)
		}
		return loadgen.Closed(ctx, lt, st.conns, d)
	}
	if b.opts.warmup > 0 {
		if _, err := load(b.opts.warmup); err != nil {
			return row, err
		}
	}
	if _, _, err := b.drain(ctx, tg); err != nil {
		return row, err
	}
	if tg.child != nil {
		if err := resetPeakRSS(tg.child.pid()); err != nil {
			b.note(fmt.Sprintf("peak RSS is over the process's life: clear_refs: %v", err))
		}
	}
	before, err := b.sample(ctx, tg)
	if err != nil {
		return row, err
	}
	selfBefore, err := procTicks(os.Getpid())
	if err != nil {
		return row, err
	}
	profiled := b.profile(ctx, tg, st)
	began := time.Now()
	res, err := load(b.opts.duration)
	if err != nil {
		return row, err
	}
	wall := time.Since(began)
	if err := profiled(); err != nil {
		return row, err
	}
	selfAfter, err := procTicks(os.Getpid())
	if err != nil {
		return row, err
	}
	drainBegan := time.Now()
	scrapes, drained, err := b.drain(ctx, tg)
	if err != nil {
		return row, err
	}
	if tg.spool {
		took := ms(time.Since(drainBegan))
		row.DrainMs = &took
		if !drained {
			b.note(fmt.Sprintf("%s %s: the sinks still had records %s after the step; CPU per request leaves out the rest of their work", tg.name, st.name, drainTimeout))
		}
	}
	after, err := b.sample(ctx, tg)
	if err != nil {
		return row, err
	}

	row.Requests = res.Answered()
	row.ReqPerSec = res.Rate()
	row.P50Ms, row.P99Ms, row.P999Ms = ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.99)), ms(res.Latency.Quantile(0.999))
	row.Non2xx, row.TransportErrors, row.Unsent = res.NotOK, res.TransportErrors, res.Unsent
	row.LoadCPUPercent = 100 * ticksToDuration(selfAfter-selfBefore).Seconds() / (wall.Seconds() * float64(b.layout.benchCPUCount))
	if tg.child != nil && row.Requests > 0 {
		cpu := float64(ticksToDuration(after.ticks-before.ticks).Microseconds()) / float64(row.Requests)
		row.CPUMicrosPerReq = &cpu
		sys := float64(after.syscalls-before.syscalls) / float64(row.Requests)
		row.SyscallsPerReq = &sys
		if peak, err := peakRSS(tg.child.pid()); err == nil {
			mib := float64(peak) / (1 << 20)
			row.PeakRSSMiB = &mib
		}
		if tg.metrics != "" {
			// The scrapes after the first sample are the bench's, not the
			// target's.
			allocs := max(after.mallocs-before.mallocs-float64(scrapes+1)*tg.scrapeAllocs, 0) / float64(row.Requests)
			row.AllocsPerReq = &allocs
		}
	}
	return row, nil
}

// profile starts a CPU profile of the target over the step when --profile
// asks for one, and returns the wait for it, which also saves the
// allocations profile (since the process started).
func (b *bench) profile(ctx context.Context, tg *benchTarget, st benchStep) (wait func() error) {
	if !tg.profile || tg.child == nil || tg.child.admin == "" {
		return func() error { return nil }
	}
	secs := max(int(math.Ceil(b.opts.duration.Seconds())), 1)
	base := "http://" + tg.child.admin + "/debug/pprof/"
	name := filepath.Join(b.opts.profileDir, tg.name+"-"+st.name)
	done := make(chan error, 1)
	go func() { done <- b.fetchProfile(ctx, base+"profile?seconds="+strconv.Itoa(secs), name+".cpu.pprof") }()
	return func() error {
		if err := <-done; err != nil {
			return err
		}
		return b.fetchProfile(ctx, base+"allocs", name+".allocs.pprof")
	}
}

func (b *bench) fetchProfile(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.duration+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The metrics client's transport; its 10-second timeout would cut the
	// profile short, ctx bounds it instead.
	resp, err := (&http.Client{Transport: b.metrics.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s answered %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile: save %s: %w", path, err)
	}
	return f.Close()
}

func (b *bench) note(s string) {
	if !slices.Contains(b.notes, s) {
		b.notes = append(b.notes, s)
	}
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// compare fills in each row's latency over direct and ratios to httputil,
// from the rows of the same step.
func compare(rows []benchRow) {
	find := func(target, step string) *benchRow {
		for i := range rows {
			if rows[i].Target == target && rows[i].Step == step {
				return &rows[i]
			}
		}
		return nil
	}
	for i := range rows {
		r := &rows[i]
		if d := find("direct", r.Step); d != nil && r.Target != "direct" {
			p50, p99 := r.P50Ms-d.P50Ms, r.P99Ms-d.P99Ms
			r.AddedP50Ms, r.AddedP99Ms = &p50, &p99
		}
		if h := find("httputil", r.Step); h != nil && r.Target != "direct" {
			if h.ReqPerSec > 0 {
				v := r.ReqPerSec / h.ReqPerSec
				r.ReqPerSecVsHTTPUtil = &v
			}
			if h.CPUMicrosPerReq != nil && r.CPUMicrosPerReq != nil && *h.CPUMicrosPerReq > 0 {
				v := *r.CPUMicrosPerReq / *h.CPUMicrosPerReq
				r.CPUVsHTTPUtil = &v
			}
		}
	}
}

// fmtFloat is v with prec decimals, "—" when unknown.
func fmtFloat(v *float64, prec int) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}
