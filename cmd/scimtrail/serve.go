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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/file"
	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/proxy"
)

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := proxyFlags(&c)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: scimtrail proxy --upstream URL [flags]\n\n"+
			"Forward every request to the SCIM service at --upstream, unchanged, and write one\n"+
			"audit record per exchange (JSON lines to --log-file, stdout by default).\n"+
			"Every flag is also a key of the YAML file given with --config.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseProxyConfig(args, fs, &c); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "scimtrail proxy: invalid configuration: %s\n", oneLine(err))
		return 2
	}
	logger := newLogger(stderr, c.LogLevel, c.LogFormat)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := start(ctx, c, stdout, reg, logger, nil)
	if err != nil {
		logger.Error("scimtrail: start", "error", err)
		return 1
	}
	logger.Info("scimtrail: proxying", "listen", st.proxyAddr, "admin", st.adminAddr, "upstream", upstreamForLog(c.Proxy.Upstream), "records", c.logFile(), "state_dir", c.stateDir(), "version", buildVersion())
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
	reverse              *proxy.Reverse
	queue                *exporter.Queue
	sink                 *file.Sink
	cache                *identity.Store
	ready                *atomic.Bool
	served               chan error
}

// start wires identity cache → sink queue → audit pipeline → reverse proxy,
// binds the listeners and serves. sink, when not nil, replaces the file sink
// (the demo collects records in memory).
func start(ctx context.Context, c config, stdout io.Writer, reg *prometheus.Registry, logger *slog.Logger, sink exporter.Sink) (*stack, error) {
	st := &stack{ready: new(atomic.Bool), served: make(chan error, 2)}
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
	if sink == nil {
		if c.logFile() == file.Stdout {
			st.sink = file.New(stdout)
		} else if st.sink, err = file.Open(c.logFile()); err != nil {
			return nil, err
		}
		sink = st.sink
	}
	st.queue = exporter.NewQueue(sink, exporter.QueueOptions{Name: "file", Logger: logger, Metrics: exporter.NewQueueMetrics(reg)})
	if err := st.queue.Start(ctx); err != nil {
		return nil, err
	}
	idps, err := proxy.ParseIdPs(c.Proxy.IdPs)
	if err != nil {
		return nil, err
	}
	pipeline := audit.New(c.Audit, st.cache, st.queue, audit.Options{Logger: logger, Registerer: reg, IdPs: idps.Names()})
	if st.reverse, err = proxy.NewReverse(c.Proxy, pipeline, logger); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.listen())
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", c.listen(), err)
	}
	st.proxyAddr = ln.Addr().String()
	st.server = proxy.NewServer(c.Proxy, st.reverse, logger)
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
		st.admin = &http.Server{Handler: adminHandler(reg, st.ready), ReadHeaderTimeout: 10 * time.Second}
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

func serve(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown drains in order: stop taking requests and finish those in
// flight (each records before its handler returns), then the record queue,
// then the sink and the cache. Each phase has its own timeout, so slow
// requests cannot use up the time the queue needs to drain.
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
	errs := []error{phase("proxy listener", st.server.Shutdown)}
	st.reverse.Transport().CloseIdleConnections()
	errs = append(errs, phase("record queue", st.queue.Shutdown))
	if st.admin != nil {
		errs = append(errs, phase("admin listener", st.admin.Shutdown))
	}
	st.abort()
	return errors.Join(errs...)
}

// abort closes what start opened; safe on a partly started stack.
func (st *stack) abort() {
	if st.sink != nil {
		st.sink.Close()
	}
	if st.cache != nil {
		st.cache.Close()
	}
}

// adminHandler serves the operator endpoints.
func adminHandler(reg *prometheus.Registry, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
