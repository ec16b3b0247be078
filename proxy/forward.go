package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// CertMinter gives the forward proxy a certificate for each host it
// intercepts; *ca.Authority is one.
type CertMinter interface {
	Certificate(host string) (*tls.Certificate, error)
}

// Forward is the egress proxy: an HTTP forward proxy (HTTPS_PROXY) built on
// goproxy that intercepts TLS to the allowlisted destinations only, with
// certificates from a CertMinter the clients trust, forwards each request
// to the destination it was meant for (verifying the destination's
// certificate), and hands each exchange to the same Recorder as the
// reverse proxy. Every other CONNECT is refused, and every plain-HTTP
// request to a host that is not allowlisted is answered 403. It is safe
// for concurrent use. Build it with NewForward.
type Forward struct {
	gp        *goproxy.ProxyHttpServer
	allow     allowList
	certs     CertMinter
	transport *http.Transport
	rec       Recorder
	clients   IdPs
	maxBody   int64
	now       func() time.Time
	logger    *slog.Logger
	opts      options
	tracing   tracing
	// firstRead and idle bound the waits on a tunnel's client connection,
	// which the listener's timeouts no longer cover once it is hijacked.
	firstRead, idle time.Duration
	// closing is set when the listener shuts down: the tunnels, which
	// its Shutdown does not see, take no more requests.
	closing atomic.Bool
	// pending links a CONNECT being handled to its connection's bounds.
	pending sync.Map // *http.Request → *tunnelWriter
	// inflight counts requests forwarded and not yet recorded; Shutdown
	// waits for them.
	mu       sync.Mutex
	inflight int
	drained  chan struct{}

	warnUnrecorded rateLimitedLog
}

// tunnel is what a CONNECT decided, carried to the requests inside it.
type tunnel struct {
	target string
	w      *tunnelWriter // nil when the connection could not be bounded
}

// conn is the tunnel's client connection once hijacked, else nil.
func (t *tunnel) conn() *tunnelConn {
	if t.w == nil {
		return nil
	}
	return t.w.conn
}

// NewForward builds the egress proxy for cfg, which it validates. certs
// mints the certificates presented to clients; rec receives every
// exchange (nil: forward without recording). Options WithAdmission,
// WithStrictRecording, WithClock and WithTracerProvider apply as to the
// reverse proxy;
// responses are always held until recorded (WithRecordBeforeResponse).
func NewForward(cfg ForwardConfig, certs CertMinter, rec Recorder, logger *slog.Logger, opts ...Option) (*Forward, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: invalid config: %w", err)
	}
	if certs == nil {
		return nil, errors.New("proxy: the forward proxy needs a CA to intercept TLS")
	}
	allow, _ := parseAllowHosts(cfg.AllowHosts) // Validate accepted them
	clients, _ := parseMatchers("client", cfg.Clients)
	o, logger := newOptions(logger, opts)
	tr, err := newForwardTransport(cfg, allow)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	f := &Forward{
		allow: allow, certs: certs, transport: tr, rec: rec, clients: clients,
		maxBody: cfg.maxBodyBytes(), now: o.now, logger: logger, opts: o,
		tracing:   newTracing(o.tracerProvider, "", 0),
		firstRead: cfg.listener().readHeaderTimeout(), idle: cfg.listener().idleTimeout(),
	}
	gp := goproxy.NewProxyHttpServer()
	// goproxy's defaults skip TLS verification and follow HTTP(S)_PROXY;
	// both are replaced, and a plain tunnel (ConnectAccept) can never dial.
	gp.Tr = tr
	gp.ConnectDial = func(network, addr string) (net.Conn, error) {
		return nil, fmt.Errorf("refusing a plain tunnel to %s", addr)
	}
	gp.ConnectDialWithReq = nil
	gp.Logger = goproxyLog{logger}
	gp.Verbose = false
	// The destination gets the request as the client sent it.
	gp.KeepAcceptEncoding = true
	gp.KeepDestinationHeaders = true
	gp.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeSCIMError(w, http.StatusBadRequest, "this is a forward proxy: set HTTPS_PROXY to its address")
	})
	gp.OnRequest().HandleConnectFunc(f.handleConnect)
	gp.OnRequest().DoFunc(f.handleRequest)
	f.gp = gp
	return f, nil
}

// begin counts a request in flight; false once Shutdown has begun.
func (f *Forward) begin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drained != nil || f.closing.Load() {
		return false
	}
	f.inflight++
	return true
}

// end marks a request begun as recorded.
func (f *Forward) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight--
	if f.inflight == 0 && f.drained != nil {
		select {
		case <-f.drained:
		default:
			close(f.drained)
		}
	}
}

// Shutdown stops taking requests in tunnels (they are answered 503 with
// Connection: close) and waits until every request in flight has been
// recorded, or ctx ends. Call it after the listener's Shutdown, before the
// records' way out is shut: the listener's Shutdown does not see the
// tunnels, which are hijacked connections.
func (f *Forward) Shutdown(ctx context.Context) error {
	f.closing.Store(true)
	f.mu.Lock()
	if f.drained == nil {
		f.drained = make(chan struct{})
		if f.inflight == 0 {
			close(f.drained)
		}
	}
	done := f.drained
	f.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proxy: egress requests still in flight: %w", ctx.Err())
	}
}

// NewForwardServer is NewServer for the forward proxy's listener. When h
// is the *Forward, the server's Shutdown also ends its tunnels: they are
// hijacked connections, which Shutdown neither waits for nor closes, so
// from then on a request in a tunnel is answered 503 (Connection: close)
// instead of being forwarded while the records' way out shuts down.
func NewForwardServer(cfg ForwardConfig, h http.Handler, logger *slog.Logger) *http.Server {
	srv := NewServer(cfg.listener(), h, logger)
	if f, ok := h.(*Forward); ok {
		// net/http runs the hook on a goroutine of its own, so it may
		// land after Shutdown returns: Forward.Shutdown, which the
		// command calls next, sets the flag before it returns.
		srv.RegisterOnShutdown(func() { f.closing.Store(true) })
	}
	return srv
}

// Transport returns the transport to the destinations. Use it to close idle
// connections at shutdown; do not modify it.
func (f *Forward) Transport() *http.Transport { return f.transport }

// ServeHTTP serves the proxy protocol: CONNECT and absolute-form requests.
func (f *Forward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hj, ok := w.(http.Hijacker); ok && r.Method == http.MethodConnect {
		tw := &tunnelWriter{ResponseWriter: w, hj: hj, firstRead: f.firstRead, idle: f.idle}
		f.pending.Store(r, tw)
		defer f.pending.Delete(r)
		w = tw
	}
	f.gp.ServeHTTP(w, r)
}

// tunnelWriter hands goproxy a CONNECT's connection with waits bounded:
// once hijacked, the connection is outside the listener's timeouts, and
// goproxy sets none, so a client that went silent (before its TLS
// handshake, or between requests) or stopped reading would hold a
// goroutine and a socket for ever.
type tunnelWriter struct {
	http.ResponseWriter
	hj              http.Hijacker
	firstRead, idle time.Duration
	conn            *tunnelConn // set by Hijack
}

func (w *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &tunnelConn{Conn: c, wait: w.firstRead, idle: w.idle, headerTimeout: w.firstRead, inHeaders: true}
	return w.conn, rw, nil
}

// tunnelHeaderSlack is what a tunnel may read beyond MaxHeaderBytes while
// it waits for a request's headers: the TLS handshake, record framing and
// the parser's read-ahead.
const tunnelHeaderSlack = 32 << 10

// tunnelConn bounds a tunnel's client connection as the listener bounds
// its own: goproxy reads the requests inside a tunnel with a parser of its
// own, which has no header size limit and no deadline. While a request's
// headers (or, first, the TLS handshake) are awaited, the first byte may
// take the idle timeout (the header timeout for the very first), all of
// them together the header timeout from the first byte, and at most
// MaxHeaderBytes plus tunnelHeaderSlack bytes may come; past that the
// connection fails. Bodies and writes wait the idle timeout per read or
// write. It is used by one reader and one writer at a time, as a net.Conn
// is; the request handler moves it between phases.
type tunnelConn struct {
	net.Conn
	wait, idle, headerTimeout time.Duration

	mu        sync.Mutex
	inHeaders bool
	got       int64
	headerBy  time.Time
}

// errTunnelHeaders ends a tunnel whose request headers are too large.
var errTunnelHeaders = errors.New("request headers inside the tunnel exceed the limit")

func (c *tunnelConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	deadline := time.Now().Add(c.idle)
	if c.inHeaders {
		switch {
		case c.got > MaxHeaderBytes+tunnelHeaderSlack:
			c.mu.Unlock()
			return 0, errTunnelHeaders
		case c.got == 0:
			deadline = time.Now().Add(c.wait)
		default:
			deadline = c.headerBy
		}
	}
	c.mu.Unlock()
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.inHeaders {
		if c.got == 0 && n > 0 {
			c.headerBy = time.Now().Add(c.headerTimeout)
		}
		c.got += int64(n)
	}
	c.mu.Unlock()
	return n, err
}

// requestRead: the headers are in; the body follows.
func (c *tunnelConn) requestRead() {
	c.mu.Lock()
	c.inHeaders = false
	c.mu.Unlock()
}

// awaitNext: the answer is out; the next request's headers are awaited.
func (c *tunnelConn) awaitNext() {
	c.mu.Lock()
	c.inHeaders, c.got, c.wait = true, 0, c.idle
	c.mu.Unlock()
}

// afterClose runs fn once the body is closed (goproxy closes it after
// writing the answer).
type afterClose struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (a *afterClose) Close() error {
	err := a.ReadCloser.Close()
	a.once.Do(a.fn)
	return err
}

// answered marks resp as the answer of a request in tunnel t: once it is
// written, the tunnel waits for the next request's headers.
func (t *tunnel) answered(resp *http.Response) *http.Response {
	if c := t.conn(); c != nil && resp.Body != nil {
		resp.Body = &afterClose{ReadCloser: resp.Body, fn: c.awaitNext}
	}
	return resp
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// handleConnect intercepts a CONNECT to an allowlisted destination with a
// certificate from the CA, and refuses any other with 403: no tunnel is
// ever opened to anywhere without interception.
func (f *Forward) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	hostport := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		hostport = net.JoinHostPort(host, "443")
	}
	target, ok := f.allow.allowed(hostport)
	if !ok {
		f.logger.Info("proxy: refused CONNECT to a destination not allowed", "destination", host, "remote", ctx.Req.RemoteAddr)
		ctx.Resp = refusal(ctx.Req, http.StatusForbidden, "destination not allowed by this proxy")
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host
	}
	t := &tunnel{target: target}
	if tw, ok := f.pending.Load(ctx.Req); ok {
		t.w = tw.(*tunnelWriter)
	}
	ctx.UserData = t
	return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: f.tlsConfig}, host
}

// tlsConfig is the server side of an intercepted tunnel: a certificate for
// the CONNECT's host from the CA.
func (f *Forward) tlsConfig(host string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
	cert, err := f.certs.Certificate(host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}, nil
}

// handleRequest applies the safety rules to a request, in a tunnel or
// plain, and sets the capturing round trip for those that pass.
func (f *Forward) handleRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	t, inTunnel := ctx.UserData.(*tunnel)
	if !inTunnel {
		return f.checkRequest(r, ctx, nil)
	}
	if c := t.conn(); c != nil {
		c.requestRead()
	}
	r, resp := f.checkRequest(r, ctx, t)
	if resp != nil {
		resp = t.answered(resp)
	}
	return r, resp
}

// checkRequest applies the safety rules to a request in tunnel t (nil:
// plain) and sets the capturing round trip for one that passes.
func (f *Forward) checkRequest(r *http.Request, ctx *goproxy.ProxyCtx, t *tunnel) (*http.Request, *http.Response) {
	target, ok := requestTarget(r)
	if t != nil {
		if f.closing.Load() {
			resp := refusal(r, http.StatusServiceUnavailable, "the proxy is shutting down; retry")
			resp.Header.Set("Connection", "close")
			resp.Close = true
			return r, resp
		}
		// goproxy takes a tunnelled request's host from its Host header or
		// an absolute-form target: it must be the CONNECT's destination,
		// or a client allowed one host could reach any other.
		if !ok || target != t.target {
			f.logger.Warn("proxy: refused a request inside a tunnel to another host",
				"tunnel", t.target, "request_host", r.URL.Host, "remote", r.RemoteAddr)
			return r, refusal(r, http.StatusForbidden, "request host differs from the tunnel's destination")
		}
		// goproxy forwards what a client says in clear text inside a tunnel
		// as http:// to the tunnel's port: the credential would cross the
		// network in clear text to a TLS destination. As outside a tunnel,
		// only a host:80 entry allows that.
		if r.URL.Scheme != "https" && !strings.HasSuffix(target, ":80") {
			f.logger.Warn("proxy: refused a clear-text request inside a tunnel to a TLS destination",
				"tunnel", t.target, "remote", r.RemoteAddr)
			return r, refusal(r, http.StatusForbidden, "this destination is reached over TLS only")
		}
	} else {
		// Plain HTTP (no CONNECT) only to a destination allowed on port
		// 80: a credential crosses the network in clear text only where the
		// allowlist says so in as many words.
		if ok && r.URL.Scheme == "http" && strings.HasSuffix(target, ":80") {
			target, ok = f.allow.allowed(target)
		} else {
			ok = false
		}
		if !ok {
			f.logger.Info("proxy: refused a request to a destination not allowed", "destination", r.URL.Host, "remote", r.RemoteAddr)
			return r, refusal(r, http.StatusForbidden, "destination not allowed by this proxy")
		}
	}
	switch {
	case !methodAllowed(r.Method):
		return r, refusal(r, http.StatusMethodNotAllowed, "method not allowed")
	case len(r.Header.Values("Upgrade")) > 0:
		return r, refusal(r, http.StatusNotImplemented, "protocol upgrades are not supported")
	case r.URL.User != nil:
		return r, refusal(r, http.StatusBadRequest, "request target not accepted")
	}
	ctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		resp := f.roundTrip(req, target)
		if t != nil {
			resp = t.answered(resp)
		}
		return resp, nil
	})
	return r, nil
}

// requestTarget is the host:port a proxied request names, port from its
// scheme when absent.
func requestTarget(r *http.Request) (string, bool) {
	if r.URL == nil || r.URL.Host == "" || (r.URL.Scheme != "http" && r.URL.Scheme != "https") {
		return "", false
	}
	host, port := r.URL.Hostname(), r.URL.Port()
	if port == "" {
		port = "443"
		if r.URL.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(host), "."), port), true
}

// goproxyLog passes goproxy's own messages (it writes its warnings even
// when not verbose) to the debug log, without what a client sent: the
// request parser's errors quote the line they could not parse, which may
// be an Authorization header, and a URL may carry a query. An error's text
// is kept only for network, TLS and end-of-stream errors; a string only
// when it looks like a host.
type goproxyLog struct{ logger *slog.Logger }

func (l goproxyLog) Printf(format string, args ...any) {
	if !l.logger.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = withheld
		switch v := a.(type) {
		case int, int64:
			safe[i] = v
		case string:
			if !strings.ContainsAny(v, "/?#@ \t\r\n\"'%\\") {
				safe[i] = v
			}
		case error:
			if safeError(v) {
				safe[i] = v
			}
		}
	}
	l.logger.Debug("proxy: goproxy: " + strings.TrimSpace(fmt.Sprintf(format, safe...)))
}

// withheld stands in the log for an argument that may hold client data.
const withheld = "(withheld)"

func safeError(err error) bool {
	var ne net.Error
	var alert tls.AlertError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var record tls.RecordHeaderError // its text is its message only
	return err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || errors.As(err, &alert) || errors.As(err, &record) ||
		errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &certInvalid)
}

// refusal is the proxy's own answer to a request it does not forward.
func refusal(r *http.Request, status int, detail string) *http.Response {
	rec := &responseRecorder{header: http.Header{}}
	writeSCIMError(rec, status, detail)
	return rec.response(r)
}

// roundTrip forwards one request to target, capturing the exchange. It
// never returns an error: a failure to reach the destination is answered
// 502 (504 on timeout) with a SCIM error, and recorded as such.
func (f *Forward) roundTrip(r *http.Request, target string) *http.Response {
	if !f.begin() {
		resp := refusal(r, http.StatusServiceUnavailable, "the proxy is shutting down; retry")
		resp.Header.Set("Connection", "close")
		resp.Close = true
		return resp
	}
	if f.rec == nil {
		defer f.end()
		resp, err := f.transport.RoundTrip(r)
		if err != nil {
			return f.failure(r, nil, err)
		}
		return resp
	}
	if f.opts.admit != nil && !f.opts.admit(r) {
		f.end()
		rec := &responseRecorder{header: http.Header{}}
		rec.header.Set("Retry-After", strconv.Itoa(int(f.opts.retryAfter.Round(time.Second)/time.Second)))
		writeSCIMError(rec, http.StatusServiceUnavailable, "audit trail cannot record this request now; retry later")
		return rec.response(r)
	}
	var span trace.Span
	if f.tracing.tracer != nil {
		r, span = f.startSpan(r, target)
	}
	ex := &scim.Exchange{
		Start:       f.now(),
		IdPName:     f.clients.Identify(r),
		Direction:   schema.DirectionEgress,
		Destination: displayHost(target, r.URL.Scheme),
		Method:      r.Method,
		Path:        r.URL.EscapedPath(),
		RawQuery:    r.URL.RawQuery,
		UserAgent:   r.UserAgent(),
	}
	if a := peerAddr(r); a.IsValid() {
		ex.ClientIP = a.String()
	}
	if sc := f.tracing.exchangeSpanContext(r); sc.IsValid() {
		ex.TraceID, ex.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	authorization := r.Header.Values("Authorization")
	fetch := f.fetchFunc(r.URL.Scheme, target, authorization)
	base := context.WithoutCancel(r.Context())
	func() {
		ctx, cancel := context.WithTimeout(base, recordTimeout)
		defer cancel()
		f.rec.Prepare(ctx, ex, fetch)
	}()

	var body *teeBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &teeBody{rc: r.Body, kept: prefix{limit: f.maxBody}}
		r.Body = body // ContentLength is kept, so is the framing
	}
	resp, err := f.transport.RoundTrip(r)
	if err != nil {
		resp = f.failure(r, ex, err)
	}
	c := &exchangeCapture{f: f, ex: ex, r: r, body: body, fetch: fetch, base: base, authorization: authorization, span: span}
	return c.hold(resp)
}

// failure answers a round trip that failed, noting why in ex (when set).
func (f *Forward) failure(r *http.Request, ex *scim.Exchange, err error) *http.Response {
	status := statusForError(errors.Join(err, context.Cause(r.Context())))
	detail := http.StatusText(status)
	var note string
	var unknownAuthority x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &certInvalid), errors.As(err, &hostname):
		note = "destination's TLS certificate is not trusted; the proxy answered 502 and sent nothing"
	case status == http.StatusGatewayTimeout:
		note = "destination did not answer in time; the proxy answered 504"
	case status == StatusClientClosedRequest:
		note = "client went away before the destination answered"
	default:
		note = "destination unreachable or failed; the proxy answered 502"
	}
	if ex != nil {
		ex.Notes = append(ex.Notes, note)
	}
	f.logger.Warn("proxy: destination request failed", "method", r.Method, "destination", r.URL.Host,
		"path", r.URL.Path, "status", status, "error", err)
	rec := &responseRecorder{header: http.Header{}}
	writeSCIMError(rec, status, detail)
	return rec.response(r)
}

// displayHost is target without the scheme's default port.
func displayHost(target, scheme string) string {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return target
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return target
}

// exchangeCapture completes one exchange from the destination's answer.
type exchangeCapture struct {
	span          trace.Span // nil without tracing; ended with the record
	f             *Forward
	ex            *scim.Exchange
	r             *http.Request
	body          *teeBody
	fetch         scim.FetchFunc
	base          context.Context
	authorization []string
}

// hold reads the answer's body up to the capture limit and records the
// exchange before handing the answer back, so the record is kept before
// the client sees the answer. A longer body is handed back as it streams,
// and recorded when it ends. The body handed back is a new reader, but
// goproxy keeps Content-Length and the framing, as it does not see a
// response it filtered.
func (c *exchangeCapture) hold(resp *http.Response) *http.Response {
	f := c.f
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Upgrades are never asked for; a destination switching anyway
		// would get a raw tunnel nobody can record.
		resp.Body.Close()
		resp = f.failure(c.r, c.ex, errors.New("the destination switched protocols unasked"))
	}
	c.ex.StatusCode = resp.StatusCode
	if resp.Body == nil || resp.Body == http.NoBody {
		err := c.finish(resp, nil, false, false)
		f.end()
		return c.strict(resp, err)
	}
	held, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBody+1))
	if err != nil || int64(len(held)) <= f.maxBody {
		// A body cut off by the destination: what came is passed on, then
		// the same error, so the client sees the same cut.
		aborted := err != nil
		resp.Body.Close()
		rerr := c.finish(resp, held, false, aborted)
		f.end()
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(held), errReader{err}))
		return c.strict(resp, rerr)
	}
	resp.Body = &streamingBody{
		r:    io.MultiReader(bytes.NewReader(held), resp.Body),
		rc:   resp.Body,
		kept: held[:f.maxBody],
		done: func(aborted bool) {
			c.finish(resp, held[:f.maxBody], true, aborted)
			f.end()
		},
	}
	return resp
}

// strict replaces the held answer to a change whose record was not kept
// with 503, as the reverse proxy does under WithStrictRecording.
func (c *exchangeCapture) strict(resp *http.Response, recordErr error) *http.Response {
	f := c.f
	if recordErr == nil || !f.opts.strict || !changesState(c.r.Method) {
		return resp
	}
	f.warnUnrecorded.log(f.logger, f.now(), "proxy: record not kept; answered 503 instead of the destination's answer",
		"method", c.r.Method, "destination", c.ex.Destination, "status", c.ex.StatusCode, "error", recordErr)
	resp.Body.Close()
	rec := &responseRecorder{header: http.Header{}}
	rec.header.Set("Retry-After", strconv.Itoa(int(f.opts.retryAfter/time.Second)))
	writeSCIMError(rec, http.StatusServiceUnavailable, "audit trail could not record this request; retry later")
	return rec.response(c.r)
}

// finish completes the exchange from what was captured and records it.
func (c *exchangeCapture) finish(resp *http.Response, data []byte, truncated, aborted bool) error {
	f, ex, r := c.f, c.ex, c.r
	ex.Duration = f.now().Sub(ex.Start)
	if c.body != nil {
		got, more, eof := c.body.snapshot()
		trunc := more
		if !eof && !more && r.ContentLength != int64(len(got)) {
			trunc = true
			ex.Notes = append(ex.Notes, "request body was not read to its end")
		}
		var note string
		ex.RequestBody, ex.RequestTruncated, note = decodeCaptured("request", r.Header, got, trunc, f.maxBody)
		ex.Notes = appendNote(ex.Notes, note)
	}
	var note string
	ex.ResponseBody, ex.ResponseTruncated, note = decodeCaptured("response", resp.Header, data, truncated || aborted, f.maxBody)
	ex.Notes = appendNote(ex.Notes, note)
	ex.RequestBody = scrubCredentials(ex.RequestBody, c.authorization)
	ex.ResponseBody = scrubCredentials(ex.ResponseBody, c.authorization)
	if aborted {
		ex.Notes = append(ex.Notes, "exchange aborted: the response was cut off (destination or client connection failed)")
	}
	if c.span != nil {
		defer endEgressSpan(c.span, ex)
	}
	ctx, cancel := context.WithTimeout(c.base, recordTimeout)
	defer cancel()
	return f.rec.Record(ctx, ex, c.fetch)
}

// streamingBody passes a response longer than the capture limit through
// and records the exchange once, when the body ends or is closed.
type streamingBody struct {
	r    io.Reader
	rc   io.Closer
	kept []byte
	done func(aborted bool)
	once sync.Once
}

func (s *streamingBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.once.Do(func() { s.done(err != io.EOF) })
	}
	return n, err
}

func (s *streamingBody) Close() error {
	err := s.rc.Close()
	s.once.Do(func() { s.done(true) })
	return err
}

// errReader returns err after the held bytes (nil: io.EOF).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// responseRecorder turns a writeSCIMError answer into an *http.Response.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) WriteHeader(code int)        { r.status = code }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func (r *responseRecorder) response(req *http.Request) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(r.status) + " " + http.StatusText(r.status),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()),
		Request:       req,
	}
}

// newForwardTransport builds the one transport to the destinations. It
// never consults the environment's proxy settings and never skips TLS
// verification; its dialer refuses any address not allowlisted.
func newForwardTransport(cfg ForwardConfig, allow allowList) (*http.Transport, error) {
	d := &net.Dialer{Timeout: cfg.dialTimeout(), KeepAlive: 30 * time.Second}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.UpstreamCAFile != "" {
		pool, err := loadCAPool(cfg.UpstreamCAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, ok := allow.allowed(addr); !ok {
				return nil, fmt.Errorf("refusing to dial %s: not an allowed destination", addr)
			}
			host, port, _ := net.SplitHostPort(addr)
			if port != "80" || net.ParseIP(host) != nil {
				// TLS destinations are held to their certificate, which a
				// name pointing elsewhere cannot present.
				return d.DialContext(ctx, network, addr)
			}
			// A clear-text destination is held to nothing but its name: the
			// name must not lead to this machine or the cloud's metadata
			// service (DNS rebinding).
			guarded := *d
			guarded.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("refusing to dial %s: %w", address, err)
				}
				if a := ap.Addr().Unmap(); a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
					return fmt.Errorf("refusing to dial %s for %s: a name allowed on port 80 must not lead to a loopback, link-local or unspecified address", a, host)
				}
				return nil
			}
			return guarded.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.dialTimeout(),
		ResponseHeaderTimeout: cfg.upstreamTimeout(),
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          cfg.maxIdleConns(),
		MaxIdleConnsPerHost:   cfg.maxIdleConns(),
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}, nil
}

// fetchFunc is the look-up of one egress exchange: a GET of a path on the
// same destination, with the request's Authorization and nothing else of it.
func (f *Forward) fetchFunc(scheme, target string, authorization []string) scim.FetchFunc {
	authorization = slices.Clone(authorization)
	return func(ctx context.Context, path string) (int, []byte, error) {
		u, err := url.Parse(path)
		if err != nil || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || u.Host != "" || u.Scheme != "" {
			return 0, nil, fmt.Errorf("proxy: fetch %q: want an absolute path without scheme or host", path)
		}
		u.Scheme, u.Host = scheme, target
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return 0, nil, fmt.Errorf("proxy: fetch: %w", err)
		}
		req.Header.Set("Accept", "application/scim+json")
		req.Header.Set("User-Agent", fetchUserAgent)
		if len(authorization) > 0 {
			req.Header["Authorization"] = authorization
		}
		return readFetched(f.transport, req, f.maxBody)
	}
}

// startSpan starts the Server span of an egress request, a child of the
// client's traceparent, and puts its context in the request's context and
// in the traceparent the destination gets.
func (f *Forward) startSpan(r *http.Request, target string) (*http.Request, trace.Span) {
	ctx := f.tracing.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	path := r.URL.EscapedPath()
	ep := scim.ParseEndpoint(path)
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(path),
		attrIdPName.String(f.clients.Identify(r)),
	}
	if ep.ResourceType != "" {
		attrs = append(attrs, attrResourceType.String(ep.ResourceType))
	}
	if host, port, err := net.SplitHostPort(target); err == nil {
		n, _ := strconv.Atoi(port)
		attrs = append(attrs, semconv.ServerAddress(host), semconv.ServerPort(n))
	}
	ctx, span := f.tracing.tracer.Start(ctx, spanName(r.Method, path, ep),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	r = r.WithContext(ctx)
	f.tracing.inject(ctx, r.Header)
	return r, span
}

// endEgressSpan ends an egress request's span with its status: an error
// for a 5xx (the proxy's own 502/504 included), as the reverse proxy's.
func endEgressSpan(span trace.Span, ex *scim.Exchange) {
	span.SetAttributes(semconv.HTTPResponseStatusCode(ex.StatusCode))
	if ex.StatusCode >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(ex.StatusCode)))
		span.SetStatus(otelcodes.Error, "")
	}
	span.End()
}
