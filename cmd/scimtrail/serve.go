package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/file"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/proxy/ca"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/telemetry"
)

// sinksHelp is the part of both modes' usage about where records go.
const sinksHelp = "audit record per exchange, through the on-disk spool to the sinks: JSON lines to\n" +
	"--log-file, Kafka with --kafka-brokers and/or OTLP logs with --otlp-endpoint\n" +
	"(stdout when none is set). The OTEL_EXPORTER_OTLP_* variables fill unset --otlp-* flags.\n" +
	"Every flag is also a key of the YAML file given with --config.\n\nFlags:\n"

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := proxyFlags(&c)
	return serveCommand(ctx, "proxy", "Usage: scimtrail proxy --upstream URL [flags]\n\n"+
		"Forward every request to the SCIM service at --upstream, unchanged, and write one\n"+sinksHelp,
		fs, &c, args, stdout, stderr)
}

func runForward(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := forwardFlags(&c)
	return serveCommand(ctx, "forward", "Usage: scimtrail forward --allow-host HOST --ca-cert F --ca-key F [flags]\n\n"+
		"An HTTPS_PROXY for an in-house SCIM client: intercept TLS to the --allow-host\n"+
		"destinations with certificates of the CA (scimtrail ca create), which the client\n"+
		"trusts, forward each request to its destination unchanged (its certificate verified),\n"+
		"refuse every other destination, and write one\n"+sinksHelp,
		fs, &c, args, stdout, stderr)
}

// serveCommand parses a serving command's flags and runs it until ctx ends
// or its listener fails.
func serveCommand(ctx context.Context, name, usage string, fs *flag.FlagSet, c *config, args []string, stdout, stderr io.Writer) int {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := parseProxyConfig(args, fs, c); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "scimtrail %s: invalid configuration: %s\n", name, oneLine(err))
		return 2
	}
	return runStack(ctx, *c, stdout, stderr)
}

// runStack runs the configured stack until ctx ends or a listener fails.
func runStack(ctx context.Context, c config, stdout, stderr io.Writer) int {
	logger := newLogger(stderr, c.LogLevel, c.LogFormat)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := start(ctx, c, stdout, reg, logger, nil)
	if err != nil {
		logger.Error("scimtrail: start", "error", err)
		return 1
	}
	where := []any{"upstream", upstreamForLog(c.Proxy.Upstream)}
	if c.Egress {
		where = []any{"mode", "egress", "allow_hosts", c.Forward.AllowHosts}
	}
	logger.Info("scimtrail: proxying", append([]any{"listen", st.proxyAddr, "admin", st.adminAddr}, append(where,
		"records", c.logFile(), "state_dir", c.stateDir(), "version", buildVersion())...)...)
	code := 0
	select {
	case <-ctx.Done():
		logger.Info("scimtrail: shutting down")
	case err := <-st.served:
		logger.Error("scimtrail: listener failed", "error", err)
		code = 1
	}
	if err := st.shutdown(c.shutdownTimeout()); err != nil {
		logger.Error("scimtrail: shutdown", "error", err)
		return 1
	}
	return code
}

// upstreamForLog is the upstream without user info or query, which may
// carry secrets (a function key in ?code=).
func upstreamForLog(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// oneLine joins a multi-line error (errors.Join) into one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(orString(level, "info")))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// stack is a running proxy with everything behind it, in start order.
type stack struct {
	proxyAddr, adminAddr string
	server               *http.Server
	admin                *http.Server
	transport            *http.Transport // to the upstream or the destinations
	forward              *proxy.Forward  // the egress proxy, nil in reverse mode
	spool                *spool.Spool
	sinks                []io.Closer // closed after the spool stops using them
	cache                *identity.Store
	ready                *atomic.Bool
	served               chan error
	log                  *slog.Logger
	spoolDir             string
	spoolClosed          bool
	resource             schema.Resource
	tracer               *sdktrace.TracerProvider // nil without --otlp-traces
	tracerClosed         bool
	registry             *registryRuntime // nil without --registry
}

// start wires identity cache → spool (with its sinks) → audit pipeline →
// reverse proxy, binds the listeners and serves. sink, when not nil,
// replaces the configured sinks (the demo collects records in memory).
func start(ctx context.Context, c config, stdout io.Writer, reg *prometheus.Registry, logger *slog.Logger, sink exporter.Sink) (*stack, error) {
	st := &stack{ready: new(atomic.Bool), served: make(chan error, 2), log: logger, spoolDir: c.spool().Dir, resource: c.resource()}
	ok := false
	defer func() {
		if !ok {
			st.abort()
		}
	}()
	dir := c.stateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var err error
	if st.cache, err = identity.Open(filepath.Join(dir, "identity.db"), identity.Options{}); err != nil {
		return nil, err
	}
	if st.spool, err = spool.Open(c.spool(), spool.Options{Logger: logger, Registerer: reg}); err != nil {
		return nil, err
	}
	sinks, err := st.openSinks(c, stdout, logger, reg, sink)
	if err != nil {
		return nil, err
	}
	if c.Registry != "" {
		// One more consumer of the spool: the registry gets every record
		// at its own pace, and the console reads it.
		if st.registry, err = openRegistry(c.Registry, c.RegistryRetention, c.Console, logger); err != nil {
			return nil, err
		}
		sinks = append(sinks, spool.SinkConfig{Name: "registry", Sink: st.registry.reg})
		switch {
		case c.adminListen() == adminOff:
		case st.registry.console == nil:
			warnConsoleOff(logger, c.Registry)
		default:
			warnClearText(logger, c.adminListen())
		}
	}
	for _, s := range sinks {
		if err := st.spool.AddSink(s); err != nil {
			return nil, err
		}
	}
	if err := st.spool.Start(ctx); err != nil {
		return nil, err
	}
	if c.OTLPTraces {
		if st.tracer, err = newTracerProvider(ctx, c, st.resource, logger); err != nil {
			return nil, err
		}
	}
	idps, err := proxy.ParseIdPs(c.Proxy.IdPs)
	if err != nil {
		return nil, err
	}
	pipeline := audit.New(c.Audit, st.cache, st.spool, audit.Options{Logger: logger, Registerer: reg, IdPs: idps.Names()})
	handler, err := st.newHandler(c, pipeline, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.listen())
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", c.listen(), err)
	}
	st.proxyAddr = ln.Addr().String()
	if c.Egress {
		st.server = proxy.NewForwardServer(c.Forward, handler, logger)
	} else {
		st.server = proxy.NewServer(c.Proxy, handler, logger)
	}
	if c.TLSCert != "" {
		// Loaded here, not in ServeTLS, so a bad pair fails start-up
		// instead of leaving a listener that never answers.
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		st.server.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	if a := c.adminListen(); a != adminOff {
		aln, err := net.Listen("tcp", a)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin listen %s: %w", a, err)
		}
		st.adminAddr = aln.Addr().String()
		var ui http.Handler
		if st.registry != nil {
			ui = st.registry.console
		}
		report := func() string { return spoolReport(st.spool) }
		st.admin = &http.Server{Handler: adminHandler(reg, st.ready, report, ui, c.Pprof), ReadHeaderTimeout: 10 * time.Second}
		go func() { st.served <- serve(st.admin.Serve(aln)) }()
	}
	go func() {
		if c.TLSCert != "" {
			st.served <- serve(st.server.ServeTLS(ln, "", ""))
			return
		}
		st.served <- serve(st.server.Serve(ln))
	}()
	st.ready.Store(true)
	ok = true
	return st, nil
}

// openSinks opens the configured sinks (or only the given one) and returns
// their spool registrations. The stack closes them after the spool.
func (st *stack) openSinks(c config, stdout io.Writer, logger *slog.Logger, reg prometheus.Registerer, given exporter.Sink) ([]spool.SinkConfig, error) {
	if given != nil {
		return []spool.SinkConfig{{Name: "records", Sink: given}}, nil
	}
	var out []spool.SinkConfig
	if path := c.logFile(); path != "" {
		var fs *file.Sink
		var linger time.Duration
		if path == file.Stdout {
			fs = file.New(stdout)
		} else {
			// A file is fsynced after each Export; lingering makes that a
			// group commit, like the spool's own, not an fsync per record.
			linger = c.Spool.SyncInterval
			if linger <= 0 {
				linger = spool.DefaultSyncInterval
			}
			var err error
			if fs, err = file.Open(path); err != nil {
				return nil, err
			}
		}
		st.sinks = append(st.sinks, fs)
		out = append(out, spool.SinkConfig{Name: "file", Sink: fs, Linger: linger})
	}
	if len(c.Kafka.Brokers) > 0 {
		ks, err := kafka.New(c.Kafka, kafka.Options{Logger: logger, Resource: st.resource})
		if err != nil {
			return nil, err
		}
		st.sinks = append(st.sinks, ks)
		out = append(out, spool.SinkConfig{Name: "kafka", Sink: ks})
	}
	if c.OTLP.Enabled() {
		ox, err := otlp.New(c.OTLP, otlp.Options{Logger: logger.With("sink", "otlp"), Resource: st.resource, Registerer: reg})
		if err != nil {
			return nil, err
		}
		st.sinks = append(st.sinks, ox)
		out = append(out, spool.SinkConfig{
			Name: "otlp", Sink: ox,
			BatchSize:  c.OTLP.BatchSizeOrDefault(),
			BatchBytes: c.OTLP.MaxBatchBytesOrDefault(),
			Linger:     c.OTLP.BatchTimeoutOrDefault(),
			// One Export may be several requests when a batch is split.
			Timeout: max(spool.DefaultTimeout, 4*c.OTLP.TimeoutOrDefault()),
		})
		logger.Info("scimtrail: OTLP logs sink", "otlp", c.OTLP)
	}
	return out, nil
}

// newHandler builds the proxy of the mode: the reverse proxy in front of
// the upstream, or the egress proxy with its CA.
func (st *stack) newHandler(c config, rec proxy.Recorder, logger *slog.Logger) (http.Handler, error) {
	if !c.Egress {
		rp, err := proxy.NewReverse(c.Proxy, rec, logger, st.proxyOptions(c)...)
		if err != nil {
			return nil, err
		}
		st.transport = rp.Transport()
		return rp, nil
	}
	authority, err := ca.Load(c.CACert, c.CAKey)
	if err != nil {
		return nil, err
	}
	fp, err := proxy.NewForward(c.Forward, authority, rec, logger, st.proxyOptions(c)...)
	if err != nil {
		return nil, err
	}
	st.transport, st.forward = fp.Transport(), fp
	return fp, nil
}

// proxyOptions turns the spool's policies into the proxy's behaviour. Each
// answer is held until its record is in the spool (handed to the OS, and
// fsynced under --spool-sync always), so a kill -9 cannot lose the record
// of a request the IdP saw answered. Block refuses changes while the spool
// is full, and answers 503 to a change whose record could not be kept (a
// full disk), so nothing the IdP saw succeed goes unrecorded.
func (st *stack) proxyOptions(c config) []proxy.Option {
	opts := []proxy.Option{proxy.WithRecordBeforeResponse()}
	if st.tracer != nil {
		opts = append(opts, proxy.WithTracerProvider(st.tracer))
	}
	sp := st.spool
	if c.spool().FullPolicy == spool.Block {
		opts = append(opts, proxy.WithAdmission(func(r *http.Request) bool { return sp.Admit(r.Method) }, 0),
			proxy.WithStrictRecording())
	}
	return opts
}

func serve(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown drains in order: stop taking requests and finish those in
// flight (each is in the spool before its handler returns), then let the
// sinks deliver what the spool holds (and the spans go, meanwhile), then
// close the sinks and the cache.
// Each phase has its own timeout, so slow requests cannot use up the time
// the sinks need; what they could not deliver stays in the spool.
func (st *stack) shutdown(timeout time.Duration) error {
	st.ready.Store(false)
	phase := func(name string, stop func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := stop(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	errs := []error{phase("proxy listener", func(ctx context.Context) error {
		err := st.server.Shutdown(ctx)
		if st.forward != nil {
			// The tunnels are hijacked connections the listener's Shutdown
			// does not see: their requests in flight are waited for here,
			// within the same phase.
			err = errors.Join(err, st.forward.Shutdown(ctx))
		}
		return err
	})}
	st.transport.CloseIdleConnections()
	spans := make(chan error, 1)
	if st.tracer != nil {
		// Every span has ended with its request: send them while the sinks
		// drain, not before, so a receiver that does not answer costs one
		// phase, not two.
		st.tracerClosed = true
		go func() { spans <- phase("spans", st.tracer.Shutdown) }()
	} else {
		spans <- nil
	}
	st.spoolClosed = true
	sinks := phase("sinks", st.spool.Shutdown)
	errs = append(errs, <-spans)
	for _, err := range unjoin(sinks) {
		if errors.Is(err, spool.ErrNotDrained) {
			// Expected when a sink is down: the records wait in the spool.
			st.log.Warn("scimtrail: shutdown: "+err.Error(), "spool_dir", st.spoolDir)
			continue
		}
		errs = append(errs, err)
	}
	if st.admin != nil {
		errs = append(errs, phase("admin listener", st.admin.Shutdown))
	}
	errs = append(errs, st.abort())
	return errors.Join(errs...)
}

// unjoin splits an errors.Join result (through one %w wrap) into its parts.
func unjoin(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// abort closes what start opened; safe on a partly started stack.
func (st *stack) abort() error {
	var errs []error
	if st.spool != nil && !st.spoolClosed {
		// Not started or never drained: keep everything for the next start.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = st.spool.Shutdown(ctx)
	}
	if st.tracer != nil && !st.tracerClosed {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = st.tracer.Shutdown(ctx)
		cancel()
	}
	for _, s := range st.sinks {
		errs = append(errs, s.Close())
	}
	if st.cache != nil {
		errs = append(errs, st.cache.Close())
	}
	if st.registry != nil {
		errs = append(errs, st.registry.close())
	}
	return errors.Join(errs...)
}

// behindAfter is how long a record may wait for a sink before /readyz calls
// the sink behind.
const behindAfter = 30 * time.Second

// adminHandler serves the operator endpoints. /readyz answers 503 only
// while the proxy is not serving; its body adds report's lines: how each
// sink and the spool are doing, so an operator sees which sink is behind.
// The console, when not nil, serves /ui/ and /api/v1/ (it checks
// credentials itself).
func adminHandler(reg *prometheus.Registry, ready *atomic.Bool, report func() string, ui http.Handler, profiles bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ready\n")
		io.WriteString(w, report())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if profiles {
		// Registered on this mux only: net/http/pprof's init also
		// registers on http.DefaultServeMux, which nothing here serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if ui != nil {
		mux.Handle("/ui/", ui)
		mux.Handle("/api/v1/", ui)
		mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	}
	return mux
}

// spoolReport is the sinks' and the spool's part of /readyz.
func spoolReport(sp *spool.Spool) string {
	var b strings.Builder
	for _, s := range sp.Status() {
		switch {
		case s.Behind(behindAfter):
			fmt.Fprintf(&b, "sink %s: behind: %d records, oldest waiting %s", s.Name, s.Lag, s.OldestAge.Round(time.Second))
			if s.LastError != "" {
				fmt.Fprintf(&b, "; failing (%d attempts): %s", s.Failures, s.LastError)
			}
			b.WriteString("\n")
		default:
			fmt.Fprintf(&b, "sink %s: ok (%d records pending)\n", s.Name, s.Lag)
		}
	}
	fmt.Fprintf(&b, "spool: %d records, %d bytes", sp.Len(), sp.Bytes())
	if sp.Full() {
		b.WriteString(", full")
	}
	b.WriteString("\n")
	return b.String()
}

// newTracerProvider exports the proxy's own spans over the OTLP connection
// of the logs: c.OTLP's protocol, headers, TLS and compression, to its
// TracesTarget.
func newTracerProvider(ctx context.Context, c config, res schema.Resource, logger *slog.Logger) (*sdktrace.TracerProvider, error) {
	return telemetry.NewTracerProvider(ctx, c.OTLP, telemetry.Options{Resource: res, Logger: logger.With("telemetry", "traces")})
}

// resource names this process in OTLP payloads. service.instance.id is new
// at every start, as the OpenTelemetry semantic conventions suggest for a
// process without a stable identity of its own; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES add to it.
func (c config) resource() schema.Resource {
	host, _ := os.Hostname()
	return schema.Resource{
		ServiceName: c.ServiceName, ServiceVersion: buildVersion(), InstanceID: uuid.NewString(), HostName: host,
		Attributes: c.ResourceAttributes,
	}
}
