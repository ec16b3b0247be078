package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scimtrail/scimtrail/internal/tlsfile"
)

// StatusClientClosedRequest is the status recorded in an Exchange when the
// client went away before the upstream answered (nginx's 499). It is never
// meant for a client: whatever is written then goes to a closed connection.
const StatusClientClosedRequest = 499

// recordTimeout bounds each call to the Recorder, look-ups included, so a
// stuck upstream cannot hold a request goroutine for ever.
const recordTimeout = 10 * time.Second

// allowedMethods are the methods forwarded: those SCIM uses (RFC 7644), plus
// HEAD and OPTIONS. Anything else, CONNECT and TRACE among them, is refused.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// Option adjusts a Reverse beyond its Config.
type Option func(*options)

type options struct {
	now          func() time.Time
	admit        func(*http.Request) bool
	retryAfter   time.Duration
	holdResponse bool
	strict       bool

	tracerProvider trace.TracerProvider
}

// DefaultRetryAfter is the Retry-After of a request WithAdmission refused.
const DefaultRetryAfter = 10 * time.Second

// WithAdmission makes the proxy ask admit before forwarding a request it
// would record; a refused request is answered 503 with Retry-After
// (retryAfter, or DefaultRetryAfter when zero or less), is not forwarded and
// is not recorded. Strict audit deployments use it to refuse changes they
// could not record rather than let them through unlogged; IdPs retry a 503.
// admit runs on the request path: it must be fast and safe for concurrent
// use.
func WithAdmission(admit func(*http.Request) bool, retryAfter time.Duration) Option {
	return func(o *options) {
		o.admit = admit
		o.retryAfter = retryAfter
		if o.retryAfter <= 0 {
			o.retryAfter = DefaultRetryAfter
		}
	}
}

// WithStrictRecording, with WithRecordBeforeResponse, answers a change
// (POST, PUT, PATCH, DELETE) whose Record failed with 503 and Retry-After
// (as WithAdmission sets it, else DefaultRetryAfter) instead of the
// upstream's answer, so no change the IdP saw succeed goes unrecorded. The
// service has acted by then: the IdP's retry meets the new state (a 409 for
// a POST) and is recorded. An answer already streaming past MaxBodyBytes
// cannot be taken back.
func WithStrictRecording() Option {
	return func(o *options) { o.strict = true }
}

// WithRecordBeforeResponse holds each response (status, headers and up to
// MaxBodyBytes of body) until the Recorder's Record has returned, so a
// record made durable there exists before the client sees the answer. A
// response longer than MaxBodyBytes is released when the limit is reached,
// before its record. Default off: the answer goes out first and the record
// follows on the same goroutine.
func WithRecordBeforeResponse() Option {
	return func(o *options) { o.holdResponse = true }
}

// WithClock sets the clock that stamps Exchange.Start and Duration.
// Default time.Now; nil keeps the default.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Reverse is the reverse (sidecar) proxy: an http.Handler that forwards
// every request to the one configured upstream, applying the safety rules
// of the package, and hands each exchange to a Recorder. It is safe for
// concurrent use. Build it with NewReverse; the zero value is not usable.
type Reverse struct {
	upstream  *url.URL
	transport *http.Transport
	rp        *httputil.ReverseProxy
	rec       Recorder
	idps      IdPs
	trusted   trustedProxies
	maxBody   int64
	now       func() time.Time
	logger    *slog.Logger
	opts      options
	tracing   tracing

	warnUnrecorded rateLimitedLog
}

// NewReverse builds the reverse proxy for cfg, which it validates. rec
// receives every forwarded exchange; a nil rec disables capture (requests are
// still forwarded, with the same safety rules). A nil logger discards logs.
// It reads cfg.UpstreamCAFile once, here. The Reverse owns an
// *http.Transport: call Transport().CloseIdleConnections at shutdown.
func NewReverse(cfg Config, rec Recorder, logger *slog.Logger, opts ...Option) (*Reverse, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: invalid config: %w", err)
	}
	// Validate has accepted these; parse errors cannot happen.
	upstream, _ := parseUpstream(cfg.Upstream)
	idps, _ := ParseIdPs(cfg.IdPs)
	trusted, _ := parseTrustedProxies(cfg.TrustedProxies)
	o, logger := newOptions(logger, opts)
	t, err := newTransport(cfg, upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	port, _ := strconv.Atoi(upstreamPort(upstream)) // Validate checked it
	p := &Reverse{
		upstream:  upstream,
		transport: t,
		rec:       rec,
		idps:      idps,
		trusted:   trusted,
		maxBody:   cfg.maxBodyBytes(),
		now:       o.now,
		logger:    logger,
		opts:      o,
		tracing:   newTracing(o.tracerProvider, upstream.Hostname(), port),
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    t,
		ErrorHandler: p.errorHandler,
		// Without it the ReverseProxy logs through the global log package.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Without it every answer's copy allocates a 32 KiB buffer.
		BufferPool: &bufferPool{},
	}
	return p, nil
}

// bufferPool lends the ReverseProxy its 32 KiB copy buffers (one per
// answer in flight) from a sync.Pool. The zero value is ready.
type bufferPool struct{ pool sync.Pool }

const copyBufferSize = 32 << 10

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		buf = buf[:copyBufferSize]
		b.pool.Put(&buf)
	}
}

// Transport returns the transport to the upstream, shared by forwarding and
// look-ups. Its dialer connects to the upstream's address only. Use it to
// close idle connections at shutdown; do not modify it.
func (p *Reverse) Transport() *http.Transport { return p.transport }

// ServeHTTP applies the safety rules, then forwards r to the upstream and,
// when a Recorder is set, captures the exchange. Refused requests are
// answered with a SCIM error body, never reach the upstream and are not
// recorded.
func (p *Reverse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case !methodAllowed(r.Method):
		// CONNECT would make the sidecar a tunnel to anywhere; TRACE would
		// reflect the Authorization header into a captured response.
		w.Header().Set("Allow", allowedMethods)
		p.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	case len(r.Header.Values("Upgrade")) > 0:
		// SCIM never switches protocols, and a tunnelled WebSocket or h2c
		// connection could not be captured. Refusing keeps every byte on
		// the audited path.
		p.refuse(w, r, http.StatusNotImplemented, "protocol upgrades are not supported")
		return
	case r.URL.Opaque != "" || r.URL.User != nil:
		// Request targets like "http:x" or "http://user:pass@host/" have no
		// sane mapping onto the upstream.
		p.refuse(w, r, http.StatusBadRequest, "request target not accepted")
		return
	}
	if p.rec == nil && p.tracing.tracer == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	idp := p.idps.Identify(r)
	if p.tracing.tracer != nil {
		p.serveTraced(w, r, idp)
		return
	}
	p.serve(w, r, idp)
}

// serve forwards a request the safety rules let through, recording it
// when a Recorder is set. idp is the IdP that sent it.
func (p *Reverse) serve(w http.ResponseWriter, r *http.Request, idp string) {
	if p.rec == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if p.opts.admit != nil && !p.opts.admit(r) {
		// No log line per refusal: a full spool refuses every change, and
		// the admission function reports it (rate-limited, and counted).
		w.Header().Set("Retry-After", strconv.Itoa(int(p.opts.retryAfter.Round(time.Second)/time.Second)))
		writeSCIMError(w, http.StatusServiceUnavailable, "audit trail cannot record this request now; retry later")
		return
	}
	p.serveCaptured(w, r, idp)
}

func methodAllowed(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func (p *Reverse) refuse(w http.ResponseWriter, r *http.Request, status int, detail string) {
	p.logger.InfoContext(r.Context(), "proxy: refused request",
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", status)
	writeSCIMError(w, status, detail)
}

// rewrite maps the inbound request onto the upstream. Whatever host an
// absolute-form target named, SetURL replaces it with the upstream's, and
// the Host header becomes the upstream's too.
func (p *Reverse) rewrite(pr *httputil.ProxyRequest) {
	trusted := p.trusted.peerTrusted(pr.In)
	if trusted {
		// SetXForwarded appends the peer to what is already on Out.
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = slices.Clone(v)
		}
	}
	// ReverseProxy drops query pairs it cannot parse (a ";" in a filter,
	// a bad escape) before Rewrite runs; the upstream gets the query the
	// IdP sent, as the record shows it.
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	pr.SetURL(p.upstream)
	pr.Out.URL.User = nil
	pr.SetXForwarded()
	if p.tracing.tracer != nil {
		// The upstream's spans are children of the proxy's span, not of the
		// IdP's: the incoming traceparent is replaced, never added to.
		p.tracing.inject(pr.Out.Context(), pr.Out.Header)
	}
	if trusted {
		// A TLS-terminating proxy in front knows the scheme and host the
		// IdP used; the upstream builds meta.location from them.
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Values(k); len(v) > 0 {
				pr.Out.Header[k] = slices.Clone(v)
			}
		}
	}
}

// errorHandler answers a failed round trip. The client gets a fixed SCIM
// error; the real error goes to the log only.
func (p *Reverse) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	// The inbound context says whether the client left (Canceled) or our
	// deadline passed; statusForError weighs it with the transport's error.
	status := statusForError(errors.Join(err, context.Cause(r.Context())))
	markUpstreamFailure(r, status)
	n, _ := w.(noter)
	if status == StatusClientClosedRequest {
		if n != nil {
			n.addNote("client went away before the upstream answered")
		}
		p.logger.DebugContext(r.Context(), "proxy: client went away before the upstream answered",
			"method", r.Method, "path", r.URL.Path)
		w.WriteHeader(status)
		return
	}
	if n != nil {
		if status == http.StatusGatewayTimeout {
			n.addNote("upstream did not answer in time; the proxy answered 504")
		} else {
			n.addNote("upstream unreachable or failed; the proxy answered 502")
		}
	}
	p.logger.WarnContext(r.Context(), "proxy: upstream request failed",
		"method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	writeSCIMError(w, status, http.StatusText(status))
}

// statusForError is the one place that maps a forwarding error to a status:
// StatusClientClosedRequest when the client went away, 504 when the
// upstream (or our deadline) timed out, 502 for anything else.
func statusForError(err error) int {
	if errors.Is(err, context.Canceled) {
		return StatusClientClosedRequest
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// scimError is a SCIM error response body (RFC 7644, 3.12).
type scimError struct {
	Schemas []string `json:"schemas"`
	Status  string   `json:"status"`
	Detail  string   `json:"detail,omitempty"`
}

// writeSCIMError writes a SCIM error with a fixed detail; callers never pass
// error text, which could reveal internal addresses.
func writeSCIMError(w http.ResponseWriter, status int, detail string) {
	body, err := json.Marshal(scimError{
		Schemas: []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		Status:  strconv.Itoa(status),
		Detail:  detail,
	})
	if err != nil { // cannot happen for these field types
		w.WriteHeader(status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/scim+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// newTransport builds the one transport to the upstream. It never consults
// the environment's proxy settings and never skips TLS verification; its
// dialer refuses any address but the upstream's, so neither a rewritten
// request nor a look-up can be steered elsewhere.
func newTransport(cfg Config, upstream *url.URL) (*http.Transport, error) {
	want := upstreamAddr(upstream)
	d := &net.Dialer{Timeout: cfg.dialTimeout(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !strings.EqualFold(addr, want) {
				return nil, fmt.Errorf("refusing to dial %s: only the upstream %s is reachable", addr, want)
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   cfg.dialTimeout(),
		ResponseHeaderTimeout: cfg.upstreamTimeout(),
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          cfg.maxIdleConns(),
		MaxIdleConnsPerHost:   cfg.maxIdleConns(),
		IdleConnTimeout:       90 * time.Second,
		// Transparent decompression would drop Content-Length and
		// Content-Encoding from what the client receives.
		DisableCompression: true,
	}
	if upstream.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.UpstreamCAFile != "" {
			pool, err := loadCAPool(cfg.UpstreamCAFile)
			if err != nil {
				return nil, err
			}
			tc.RootCAs = pool
		}
		t.TLSClientConfig = tc
		t.ForceAttemptHTTP2 = true
	}
	return t, nil
}

// upstreamAddr is the host:port the transport dials for u, as
// http.Transport spells it.
func upstreamAddr(u *url.URL) string {
	return net.JoinHostPort(u.Hostname(), upstreamPort(u))
}

// upstreamPort is u's port, or its scheme's.
func upstreamPort(u *url.URL) string {
	if port := u.Port(); port != "" {
		return port
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// loadCAPool reads the upstream-ca-file bundle into a pool of its own, so
// that only these CAs are trusted.
func loadCAPool(path string) (*x509.CertPool, error) { return tlsfile.CAPool("upstream-ca-file", path) }

// rateLimitedLog writes at most one warning a second: a failing disk would
// otherwise log every request.
type rateLimitedLog struct{ last atomic.Int64 }

func (r *rateLimitedLog) log(l *slog.Logger, now time.Time, msg string, args ...any) {
	prev := r.last.Load()
	if now.UnixNano()-prev < int64(time.Second) || !r.last.CompareAndSwap(prev, now.UnixNano()) {
		return
	}
	l.Warn(msg, args...)
}
