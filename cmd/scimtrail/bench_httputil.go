package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scimtrail/scimtrail/proxy"
)

// serveHTTPUtilFlag starts the bench's baseline proxy instead of a bench:
// "scimtrail bench --serve-httputil ADDR UPSTREAM". Not in the usage: the
// bench runs it as a child process, so that its CPU and memory can be read
// from /proc like scimtrail's.
const serveHTTPUtilFlag = "--serve-httputil"

// serveHTTPUtil runs a plain, tuned httputil.ReverseProxy on addr in front
// of upstream until ctx ends: what a Go developer would write without an
// audit trail. Its /metrics, on an admin listener of its own, has the Go
// runtime metrics scimtrail's has, so the bench reads allocations the same
// way. Like scimtrail's, the start-up line on stderr is JSON with "listen"
// and "admin".
func serveHTTPUtil(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(stderr, "usage: scimtrail bench %s ADDR UPSTREAM\n", serveHTTPUtilFlag)
		return 2
	}
	target, err := url.Parse(args[1])
	if err != nil || target.Scheme != "http" || !isLoopback(target.Hostname()) {
		fmt.Fprintf(stderr, "scimtrail bench: %s: the upstream must be an http:// URL on the loopback interface\n", serveHTTPUtilFlag)
		return 2
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: d.DialContext,
		// Sized for the load, as scimtrail's is: the bench's highest
		// concurrency keeps a connection each to the upstream.
		MaxIdleConns:        proxy.DefaultMaxIdleConns,
		MaxIdleConnsPerHost: proxy.DefaultMaxIdleConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  tr,
		BufferPool: newBufferPool(256, 32<<10),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	logger := newLogger(stderr, "", "json")
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		logger.Error("bench: httputil: listen", "error", err)
		return 1
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		logger.Error("bench: httputil: admin listen", "error", err)
		return 1
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	admin := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 2)
	go func() { served <- serve(srv.Serve(ln)) }()
	go func() { served <- serve(admin.Serve(aln)) }()
	logger.Info("bench: httputil proxying", "listen", ln.Addr().String(), "admin", aln.Addr().String(), "upstream", target.String())
	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Error("bench: httputil: listener failed", "error", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := errors.Join(srv.Shutdown(sctx), admin.Shutdown(sctx)); err != nil {
		logger.Error("bench: httputil: shutdown", "error", err)
		return 1
	}
	tr.CloseIdleConnections()
	return code
}

// bufferPool is httputil.ReverseProxy's copy buffers: a bounded free list.
// Unlike a sync.Pool of slices, Put does not allocate (a []byte put in an
// interface escapes), and without any pool the proxy allocates 32 KiB per
// response.
type bufferPool struct {
	free chan []byte
	size int
}

func newBufferPool(n, size int) *bufferPool {
	return &bufferPool{free: make(chan []byte, n), size: size}
}

func (p *bufferPool) Get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, p.size)
	}
}

func (p *bufferPool) Put(b []byte) {
	if cap(b) < p.size {
		return
	}
	select {
	case p.free <- b[:p.size]:
	default:
	}
}

// isLoopback says whether host is 127.0.0.0/8, ::1 or localhost: the bench
// sends traffic nowhere else.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
