package proxy_test

import (
	"bufio"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/logtest"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/scim"
)

// hangGuard bounds every wait in these tests. It is never an assertion on
// timing: reaching it means the test is broken (a deadlock), not slow.
const hangGuard = 10 * time.Second

// fakeRecorder collects exchanges. onPrepare/onRecord, when set, run inside
// the Recorder calls (e.g. to use fetch).
type fakeRecorder struct {
	onPrepare func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc)
	onRecord  func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc)

	prepared  chan scim.Exchange
	recorded  chan *scim.Exchange
	recordErr error // what Record returns
}

func newRecorder() *fakeRecorder {
	return &fakeRecorder{prepared: make(chan scim.Exchange, 64), recorded: make(chan *scim.Exchange, 64)}
}

func (f *fakeRecorder) Prepare(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
	if f.onPrepare != nil {
		f.onPrepare(ctx, ex, fetch)
	}
	f.prepared <- *ex // a copy: Prepare must not keep ex
}

func (f *fakeRecorder) Record(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) error {
	if f.onRecord != nil {
		f.onRecord(ctx, ex, fetch)
	}
	f.recorded <- ex
	return f.recordErr
}

// next waits for the next recorded exchange. Record runs after the response
// was flushed, so a client can finish before it is called.
func (f *fakeRecorder) next(t *testing.T) *scim.Exchange {
	t.Helper()
	select {
	case ex := <-f.recorded:
		return ex
	case <-time.After(hangGuard):
		t.Fatal("no exchange was recorded")
		return nil
	}
}

// none asserts nothing was recorded or prepared. Call it only once the
// request in question has been answered.
func (f *fakeRecorder) none(t *testing.T) {
	t.Helper()
	if n := len(f.recorded) + len(f.prepared); n != 0 {
		t.Fatalf("recorder saw %d calls, want none", n)
	}
}

// stepClock returns a clock that advances by step on every call, so Start
// and Duration are exact.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := now
		now = now.Add(step)
		return t
	}
}

// syncBuffer is a log sink safe for the logger's goroutines.
type syncBuffer = logtest.Buffer

// startUpstream runs h as the SCIM service.
func startUpstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// startProxy serves a Reverse for cfg on 127.0.0.1 through NewServer and
// returns its address and the Reverse.
func startProxy(t *testing.T, cfg proxy.Config, rec proxy.Recorder, logs io.Writer, opts ...proxy.Option) (string, *proxy.Reverse) {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := proxy.NewReverse(cfg, rec, logger, opts...)
	if err != nil {
		t.Fatalf("NewReverse: %v", err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = proxy.NewServer(cfg, p, logger)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		p.Transport().CloseIdleConnections()
	})
	return srv.Listener.Addr().String(), p
}

// newClient is a client of its own: no environment proxy, no transparent
// decompression, so the test sees the bytes on the wire.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   hangGuard,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// rawResponse is what a raw TCP client read back.
type rawResponse struct {
	*http.Response
	body []byte
}

// rawRequest writes raw on a new TCP connection to addr and reads one
// response, so the test controls the request line and every header.
func rawRequest(t *testing.T, addr, raw string) rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(hangGuard)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return rawResponse{Response: resp, body: body}
}

// canary is a listener that no request may reach.
type canary struct {
	ln    net.Listener
	conns chan net.Conn
}

func newCanary(t *testing.T) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{ln: ln, conns: make(chan net.Conn, 64)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(c.conns)
				return
			}
			c.conns <- conn
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for conn := range c.conns {
			conn.Close()
		}
	})
	return c
}

func (c *canary) addr() string { return c.ln.Addr().String() }

// assertUntouched proves, without waiting on a timer, that nothing
// connected: it connects itself and checks that its own connection is the
// first the listener accepts (the accept queue is first in, first out).
// Call it once the request under test has been answered.
func (c *canary) assertUntouched(t *testing.T) {
	t.Helper()
	probe, err := net.Dial("tcp", c.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	select {
	case first := <-c.conns:
		if first.RemoteAddr().String() != probe.LocalAddr().String() {
			t.Fatalf("the canary was contacted by %s", first.RemoteAddr())
		}
		first.Close()
	case <-time.After(hangGuard):
		t.Fatal("canary accepted nothing, not even the probe")
	}
}

// upstreamHostOf is the Host header the upstream must see.
func upstreamHostOf(srv *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
}

const scimErrorBody502 = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"502","detail":"Bad Gateway"}`

// newTLSUpstream is an https SCIM service with httptest's certificate,
// which no system root trusts.
func newTLSUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("upstream request without TLS")
		}
		_, _ = io.WriteString(w, `{"tls":true}`)
	}))
	// The untrusted case makes the server log a handshake error; keep it
	// out of the global logger.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
