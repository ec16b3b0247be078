package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// noter is what the error handler uses to explain, in the Exchange, an
// answer the proxy made up itself.
type noter interface{ addNote(string) }

// serveCaptured forwards r while teeing both bodies into an Exchange, and
// calls the Recorder before and after. Nothing is held back, unless
// WithRecordBeforeResponse is set: bytes reach the upstream and the client
// as they arrive.
func (p *Reverse) serveCaptured(w http.ResponseWriter, r *http.Request, idp string) {
	ex := &scim.Exchange{
		Start:     p.now(),
		IdPName:   idp,
		Direction: schema.DirectionIngress,
		Method:    r.Method,
		Path:      r.URL.EscapedPath(), // as sent: decoded once, by whoever reads it
		RawQuery:  r.URL.RawQuery,
		UserAgent: r.UserAgent(),
		ClientIP:  p.trusted.clientIP(r),
	}
	if sc := p.tracing.exchangeSpanContext(r); sc.IsValid() {
		ex.TraceID, ex.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	if !canonicalPath(ex.Path) {
		ex.Notes = append(ex.Notes, "request path has dot segments or encoded separators: the IdP was matched on its cleaned form")
	}
	authorization := r.Header.Values("Authorization")
	fetch := p.fetchFunc(authorization)
	// The record is owed even when the client has gone: the upstream may
	// have acted on the request.
	base := context.WithoutCancel(r.Context())
	func() {
		ctx, cancel := context.WithTimeout(base, recordTimeout)
		defer cancel()
		p.rec.Prepare(ctx, ex, fetch)
	}()

	out := r
	var body *teeBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &teeBody{rc: r.Body, kept: prefix{limit: p.maxBody}}
		out = r.WithContext(r.Context()) // a handler must not modify r itself
		out.Body = body                  // ContentLength is kept, so is the framing
	}
	var hold *holdWriter
	if p.opts.holdResponse {
		hold = &holdWriter{rw: w, limit: p.maxBody}
		w = hold
	}
	cw := &captureWriter{rw: w, kept: prefix{limit: p.maxBody}}

	completed := false
	defer func() {
		if completed {
			return
		}
		// ReverseProxy panics with http.ErrAbortHandler when a response
		// breaks off mid-body; the exchange is recorded before the panic
		// goes on to the server.
		v := recover()
		_ = p.finish(base, ex, r, w, body, cw, fetch, true) // the answer is already broken
		hold.release()
		if v != nil {
			panic(v)
		}
	}()
	p.rp.ServeHTTP(cw, out)
	completed = true
	if hold != nil {
		err := p.finish(base, ex, r, w, body, cw, fetch, false)
		if err != nil && p.opts.strict && changesState(r.Method) && hold.discard() {
			// The service has acted, but the change would go unrecorded:
			// the IdP is told to retry, and the retry is recorded.
			p.warnUnrecorded.log(p.logger, p.now(), "proxy: record not kept; answered 503 instead of the upstream's answer",
				"method", r.Method, "path", r.URL.Path, "status", ex.StatusCode, "error", err)
			w.Header().Set("Retry-After", strconv.Itoa(int(p.opts.retryAfter/time.Second)))
			writeSCIMError(w, http.StatusServiceUnavailable, "audit trail could not record this request; retry later")
		}
		hold.release()
		return
	}
	// Send what is buffered before the Recorder runs, so the client does not
	// wait for the record. A gone client or a writer that cannot flush
	// changes nothing here.
	_ = http.NewResponseController(w).Flush()
	p.finish(base, ex, r, w, body, cw, fetch, false)
}

// finish completes ex from what was captured and records it, returning
// the Recorder's error.
func (p *Reverse) finish(base context.Context, ex *scim.Exchange, r *http.Request, w http.ResponseWriter,
	body *teeBody, cw *captureWriter, fetch scim.FetchFunc, aborted bool,
) error {
	ex.Duration = p.now().Sub(ex.Start)
	switch {
	case cw.wroteHeader:
		ex.StatusCode = cw.status
	case aborted && r.Context().Err() != nil:
		ex.StatusCode = StatusClientClosedRequest
	case aborted:
		ex.StatusCode = http.StatusBadGateway
	default:
		ex.StatusCode = http.StatusOK // what net/http sends for a silent handler
	}

	if body != nil {
		data, more, eof := body.snapshot()
		truncated := more
		if !eof && !more && r.ContentLength != int64(len(data)) {
			truncated = true
			ex.Notes = append(ex.Notes, "request body was not read to its end")
		}
		var note string
		ex.RequestBody, ex.RequestTruncated, note = decodeCaptured("request", r.Header, data, truncated, p.maxBody)
		ex.Notes = appendNote(ex.Notes, note)
	}

	var note string
	ex.ResponseBody, ex.ResponseTruncated, note = decodeCaptured("response", w.Header(), cw.kept.buf, cw.kept.more || aborted, p.maxBody)
	ex.Notes = appendNote(ex.Notes, note)
	ex.Notes = append(ex.Notes, cw.notes...)
	ex.RequestBody = scrubCredentials(ex.RequestBody, r.Header.Values("Authorization"))
	ex.ResponseBody = scrubCredentials(ex.ResponseBody, r.Header.Values("Authorization"))
	if aborted {
		ex.Notes = append(ex.Notes, "exchange aborted: the response was cut off (upstream or client connection failed)")
	}
	ctx, cancel := context.WithTimeout(base, recordTimeout)
	defer cancel()
	return p.rec.Record(ctx, ex, fetch)
}

// changesState reports whether a method asks the service for a change.
func changesState(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// canonicalPath: no dot segments, no encoded slash, backslash or dot, so
// every reader of the path sees the same resource.
func canonicalPath(escaped string) bool {
	if cleanPath(escaped) != escaped {
		return false
	}
	lower := strings.ToLower(escaped)
	return !strings.Contains(lower, "%2f") && !strings.Contains(lower, "%2e") && !strings.Contains(lower, "%5c")
}

// scrubCredentials replaces the request's own credentials where a body
// echoes them (an upstream error message quoting the token): the captured
// copy only, never the forwarded bytes.
func scrubCredentials(body []byte, authorization []string) []byte {
	for _, a := range authorization {
		_, cred, ok := strings.Cut(a, " ")
		if cred = strings.TrimSpace(cred); !ok || len(cred) < 8 {
			continue
		}
		if bytes.Contains(body, []byte(cred)) {
			body = bytes.ReplaceAll(body, []byte(cred), []byte(scim.Redacted))
		}
	}
	return body
}

func appendNote(notes []string, note string) []string {
	if note == "" {
		return notes
	}
	return append(notes, note)
}

// decodeCaptured returns the captured body as the Exchange holds it:
// decoded when it was gzip encoded (the forwarded bytes are never touched),
// at most limit long. A gzip stream cut by the capture limit keeps what
// decoded and says so in the note.
func decodeCaptured(what string, h http.Header, data []byte, truncated bool, limit int64) ([]byte, bool, string) {
	enc := strings.ToLower(strings.TrimSpace(strings.Join(h.Values("Content-Encoding"), ",")))
	switch {
	case enc == "" || enc == "identity" || len(data) == 0:
		return data, truncated, ""
	case enc != "gzip" && enc != "x-gzip":
		return data, truncated, what + " body has a Content-Encoding other than gzip; captured as sent"
	}
	plain, over, err := gunzipPrefix(data, limit)
	truncated = truncated || over
	switch {
	case err == nil:
		return plain, truncated, ""
	case truncated && errors.Is(err, io.ErrUnexpectedEOF):
		return plain, truncated, fmt.Sprintf("%s body: gzip stream cut at the capture limit; kept the %d bytes that decoded", what, len(plain))
	default:
		return plain, truncated, fmt.Sprintf("%s body: gzip did not decode (%v); kept the %d bytes that decoded", what, err, len(plain))
	}
}

// gunzipPrefix decodes at most limit bytes of a gzip stream; over says the
// decoded stream was longer (a small body can inflate enormously).
func gunzipPrefix(data []byte, limit int64) (plain []byte, over bool, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, false, err
	}
	plain, err = io.ReadAll(io.LimitReader(zr, limit+1))
	if int64(len(plain)) > limit {
		return plain[:limit], true, nil
	}
	return plain, false, err
}

// teeBody passes a request body through unchanged and keeps a copy of its
// first kept.limit bytes. The transport may still be reading it on its own
// goroutine when the handler ends, hence the mutex; after snapshot nothing
// more is kept.
type teeBody struct {
	rc io.ReadCloser

	mu   sync.Mutex
	kept prefix
	eof  bool
	done bool
}

// prefix keeps the first limit bytes of what passes and whether more went by.
type prefix struct {
	limit int64
	buf   []byte
	more  bool
}

func (p *prefix) keep(b []byte) {
	if room := p.limit - int64(len(p.buf)); int64(len(b)) > room {
		b, p.more = b[:room], true
	}
	p.buf = append(p.buf, b...)
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.mu.Lock()
	if !t.done {
		t.kept.keep(p[:n])
		if err == io.EOF {
			t.eof = true
		}
	}
	t.mu.Unlock()
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }

// snapshot returns the captured prefix, whether more came, and whether the
// body was read to its end. Later reads are no longer copied.
func (t *teeBody) snapshot() (data []byte, more, eof bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	return t.kept.buf, t.kept.more, t.eof
}

// captureWriter passes a response through unchanged, noting its status and
// keeping a copy of the first limit bytes of its body. Unwrap lets
// http.ResponseController reach the real writer, so flushes of a streamed
// response go straight through. Only the handler's goroutine writes to it,
// except 1xx headers, which touch no field.
type captureWriter struct {
	rw   http.ResponseWriter
	kept prefix

	status      int
	wroteHeader bool
	notes       []string
}

func (c *captureWriter) Header() http.Header { return c.rw.Header() }

func (c *captureWriter) WriteHeader(code int) {
	// 1xx responses (103 Early Hints) come before the real status.
	if code >= 200 && !c.wroteHeader {
		c.status, c.wroteHeader = code, true
	}
	c.rw.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wroteHeader {
		c.status, c.wroteHeader = http.StatusOK, true
	}
	n, err := c.rw.Write(b)
	c.kept.keep(b[:max(n, 0)])
	return n, err
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.rw }

func (c *captureWriter) addNote(s string) { c.notes = append(c.notes, s) }

// holdWriter keeps a response from the client until release: the status,
// and the body up to limit bytes. Flushes are held too. When the body
// passes limit, what is held goes out and the rest streams, so a huge
// response costs no more than limit of memory. Headers live in the
// underlying writer's map, untouched until the status is written. Only the
// handler's goroutine uses it, except 1xx headers, which pass straight
// through.
type holdWriter struct {
	rw       http.ResponseWriter
	limit    int64
	status   int
	buf      []byte
	released bool
}

func (h *holdWriter) Header() http.Header { return h.rw.Header() }

func (h *holdWriter) WriteHeader(code int) {
	switch {
	case code < 200:
		h.rw.WriteHeader(code)
	case h.released:
		h.rw.WriteHeader(code)
	case len(h.rw.Header().Values("Trailer")) > 0:
		// Trailer values are set in the header map after the status; held,
		// they would go out as headers too. Such a response is not held.
		h.status = code
		_ = h.flushHeld()
	case h.status == 0:
		h.status = code
	}
}

func (h *holdWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if !h.released && int64(len(h.buf)+len(b)) <= h.limit {
		h.buf = append(h.buf, b...)
		return len(b), nil
	}
	if err := h.flushHeld(); err != nil {
		return 0, err
	}
	return h.rw.Write(b)
}

// discard drops what is held, headers included, so another answer can be
// written; false when part of the response has already gone out.
func (h *holdWriter) discard() bool {
	if h.released {
		return false
	}
	h.status, h.buf = 0, nil
	hdr := h.rw.Header()
	for k := range hdr {
		delete(hdr, k)
	}
	return true
}

// Flush is a no-op while the response is held.
func (h *holdWriter) Flush() {
	if h.released {
		_ = http.NewResponseController(h.rw).Flush()
	}
}

// flushHeld writes out what is held and stops holding.
func (h *holdWriter) flushHeld() error {
	if h.released {
		return nil
	}
	h.released = true
	if h.status != 0 {
		h.rw.WriteHeader(h.status)
	}
	if len(h.buf) > 0 {
		if _, err := h.rw.Write(h.buf); err != nil {
			return err
		}
	}
	h.buf = nil
	return nil
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController
// (deadlines); its Flush stops here while the response is held.
func (h *holdWriter) Unwrap() http.ResponseWriter { return h.rw }

// release sends what is held and flushes it. Safe on a nil holdWriter.
func (h *holdWriter) release() {
	if h == nil {
		return
	}
	_ = h.flushHeld()
	_ = http.NewResponseController(h.rw).Flush()
}
