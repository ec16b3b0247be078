package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/proxy/ca"
	"github.com/scimtrail/scimtrail/proxy/ca/catest"
	"github.com/scimtrail/scimtrail/scim"
)

// startForwardServer is startForward behind the listener the command uses
// (NewForwardServer: its timeouts and header limit), logging at debug
// level into logs (nil discards).
func startForwardServer(t *testing.T, cfg proxy.ForwardConfig, rec proxy.Recorder, logs io.Writer) *egress {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authority, pool, _ := catest.New(t, ca.CreateOptions{}, nil)
	fwd, err := proxy.NewForward(cfg, authority, rec, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = proxy.NewForwardServer(cfg, fwd, logger)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		fwd.Transport().CloseIdleConnections()
	})
	e := &egress{fwd: fwd, caPool: pool}
	e.url, _ = url.Parse(srv.URL)
	return e
}

// connectTo sends CONNECT target on a new connection to the proxy and
// returns the connection and the proxy's answer.
func connectTo(t *testing.T, e *egress, target string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", e.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	return conn, br, resp
}

// tunnel opens an intercepted tunnel to target (an allowed host:port)
// and returns its TLS client side, the proxy's CA trusted.
func tunnel(t *testing.T, e *egress, target string) *tls.Conn {
	t.Helper()
	conn, _, resp := connectTo(t, e, target)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %d", target, resp.StatusCode)
	}
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(conn, &tls.Config{RootCAs: e.caPool, ServerName: host})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// exchange writes raw on c and reads one response (nil and the error when
// the proxy closed the connection instead).
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (*http.Response, error) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestProxy_CONNECTHostFormsNeverReachAnotherHost: no spelling of a
// CONNECT target that is not allowlisted opens a tunnel, and the host
// behind it never sees a connection.
func TestProxy_CONNECTHostFormsNeverReachAnotherHost(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	_, vport, _ := net.SplitHostPort(v.host())
	_, cport, _ := net.SplitHostPort(c.addr())
	for _, target := range []string{
		c.addr(),
		"127.0.0.1",                        // port omitted: 443, not allowed
		"127.0.0.1:0",                      // no such entry
		"127.0.0.1:" + cport + ":" + vport, // two ports
		"127.0.0.1:" + vport + ":" + cport,
		"user@127.0.0.1:" + cport,
		"127.0.0.1:" + vport + "@127.0.0.1:" + cport,
		"LOCALHOST:" + cport,
		"localhost.:" + cport,
		"[::ffff:127.0.0.1]:" + vport, // the allowed address spelled another way: refused, not reinterpreted
		"[::1]:" + cport,
		"127.1:" + vport,
		"2130706433:" + vport,
		"127.0.0.1:0" + vport,
		"127.0.0.1:+" + vport,
		"127.0.0.1%2f:" + cport,
	} {
		_, _, resp := connectTo(t, e, target)
		if resp.StatusCode == http.StatusOK {
			t.Errorf("CONNECT %s: 200, want it refused", target)
		}
	}
	c.assertUntouched(t)
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got %d requests", n)
	}
	rec.none(t)
}

// TestProxy_PlainTextInsideATunnelIsNotForwarded: a client that CONNECTs
// to an allowlisted TLS destination and then speaks plain HTTP would have
// its Authorization sent in clear text to the destination's TLS port; only
// a host:80 entry allows plain HTTP.
func TestProxy_PlainTextInsideATunnelIsNotForwarded(t *testing.T) {
	c := newCanary(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{c.addr()}, UpstreamTimeout: time.Second}, rec, nil)
	for _, line := range []string{
		"GET /scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n",
		"GET https://" + c.addr() + "/scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n",
		"GET http://" + c.addr() + "/scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n",
	} {
		conn, br, resp := connectTo(t, e, c.addr())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT to the allowed host: %d", resp.StatusCode)
		}
		resp, err := exchange(t, conn, br, line+"Authorization: Bearer "+hrToken+"\r\n\r\n")
		if err == nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%q in clear text inside a tunnel: %d, want 403", strings.SplitN(line, "\r\n", 2)[0], resp.StatusCode)
		}
	}
	c.assertUntouched(t)
	rec.none(t)
}

// TestProxy_EveryRequestOnAKeepAliveTunnelIsChecked: the second request on
// a tunnel is held to the tunnel's destination like the first.
func TestProxy_EveryRequestOnAKeepAliveTunnelIsChecked(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host(), c.addr()}, UpstreamCAFile: v.caFile}, rec, nil)
	tc := tunnel(t, e, v.host())
	br := bufio.NewReader(tc)
	first, err := exchange(t, tc, br, "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\n\r\n")
	if err != nil || first.StatusCode != http.StatusCreated {
		t.Fatalf("first request: %v %v", first, err)
	}
	for _, raw := range []string{
		"GET /scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n\r\n",
		"GET https://" + c.addr() + "/scim/v2/Users HTTP/1.1\r\nHost: " + v.host() + "\r\n\r\n",
		"GET /scim/v2/Users HTTP/1.1\r\nHost: " + strings.ToUpper(c.addr()) + "\r\n\r\n",
		"GET /scim/v2/Users HTTP/1.1\r\nHost: user@" + c.addr() + "\r\n\r\n",
		"GET /scim/v2/Users HTTP/1.1\r\nHost: " + v.host() + "@" + c.addr() + "\r\n\r\n",
	} {
		resp, err := exchange(t, tc, br, raw)
		if err != nil {
			// Closing the tunnel is a refusal too; go on in a new one.
			tc = tunnel(t, e, v.host())
			br = bufio.NewReader(tc)
			continue
		}
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q on a tunnel to %s: %d, want it refused", strings.SplitN(raw, "\r\n", 2)[0], v.host(), resp.StatusCode)
		}
	}
	c.assertUntouched(t)
	if n := len(v.requests()); n != 1 {
		t.Errorf("the vendor got %d requests, want the first only", n)
	}
}

// TestProxy_UpgradesAreRefusedInsideAndOutsideTunnels: no websocket (or
// h2c) upgrade turns a checked exchange into an unchecked byte stream.
func TestProxy_UpgradesAreRefusedInsideAndOutsideTunnels(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	for _, up := range []string{"websocket", "h2c"} {
		tc := tunnel(t, e, v.host())
		resp, err := exchange(t, tc, bufio.NewReader(tc), "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+
			"\r\nConnection: Upgrade\r\nUpgrade: "+up+"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			t.Errorf("Upgrade: %s inside a tunnel was switched", up)
		}
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got %d requests", n)
	}
}

// TestProxy_NoHTTP2AnywhereInTheEgressProxy: goproxy's HTTP/2 paths are
// off (AllowHTTP2 false): a tunnel offers only http/1.1, and the listener
// does not speak HTTP/2 with prior knowledge.
func TestProxy_NoHTTP2AnywhereInTheEgressProxy(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	conn, _, resp := connectTo(t, e, v.host())
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: e.caPool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("a tunnel negotiated %q", p)
	}
	raw, err := net.Dial("tcp", e.url.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(hangGuard))
	io.WriteString(raw, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	buf := make([]byte, 9)
	if _, err := io.ReadFull(raw, buf); err == nil && buf[3] == 0x4 { // a SETTINGS frame
		t.Error("the listener speaks HTTP/2 with prior knowledge")
	}
}

// TestProxy_RedirectsAreNotFollowed: a destination's redirect to another
// host goes back to the client, which would need a CONNECT of its own.
func TestProxy_RedirectsAreNotFollowed(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	v.resp = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, "https://"+c.addr()+"/scim/v2/Users", http.StatusTemporaryRedirect)
	}
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	client := e.client(t, e.caPool)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get("https://" + v.host() + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the destination's 307", resp.StatusCode)
	}
	rec.next(t)
	c.assertUntouched(t)
}

// TestProxy_LookUpStaysOnTheExchangesDestination: the recorder's fetch
// cannot be pointed at another host, whatever path it is given.
func TestProxy_LookUpStaysOnTheExchangesDestination(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	errs := make(chan error, 16)
	rec.onPrepare = func(ctx context.Context, _ *scim.Exchange, fetch scim.FetchFunc) {
		for _, p := range []string{"//" + c.addr() + "/x", "https://" + c.addr() + "/x", "/\\" + c.addr() + "/x",
			"@" + c.addr() + "/x", "x", "/%2F%2F" + c.addr()} {
			_, _, err := fetch(ctx, p)
			errs <- err
		}
	}
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	resp, err := e.client(t, e.caPool).Get("https://" + v.host() + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec.next(t)
	c.assertUntouched(t)
	for _, r := range v.requests() {
		if !strings.HasPrefix(r.uri, "/") || r.host != v.host() {
			t.Errorf("a look-up reached the vendor as %s (host %s)", r.uri, r.host)
		}
	}
}

// TestProxy_DebugLogsNeverHoldHeaderValues: goproxy logs a request it
// cannot parse with the parser's error, which quotes the offending line;
// the proxy's logs must not carry a credential from it.
func TestProxy_DebugLogsNeverHoldHeaderValues(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	logs := &syncBuffer{}
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, logs)
	for _, header := range []string{
		"Authorization Bearer " + hrToken,           // no colon
		"Authorization: Bearer " + hrToken + "\x00", // a byte not allowed in a value
	} {
		tc := tunnel(t, e, v.host())
		br := bufio.NewReader(tc)
		// The proxy drops the tunnel; what it answers, if anything, is not the point.
		exchange(t, tc, br, "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\n"+header+"\r\n\r\n")
		tc.Close()
	}
	// The logs are written by the tunnel's goroutine: a request after the
	// bad ones, on a new tunnel, is served only after they were handled.
	tc := tunnel(t, e, v.host())
	exchange(t, tc, bufio.NewReader(tc), "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\nConnection: close\r\n\r\n")
	deadline := time.Now().Add(hangGuard)
	for strings.Count(logs.String(), "mitm") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), hrToken) || strings.Contains(logs.String(), hrToken[:12]) {
		t.Fatalf("a credential reached the logs:\n%s", logs.String())
	}
}

// TestProxy_SilentTunnelIsClosed: a tunnel whose client sends nothing (no
// TLS handshake, no request) is closed after the idle timeout, as an idle
// connection to the listener is; it does not hold a goroutine forever.
func TestProxy_SilentTunnelIsClosed(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile,
		ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}, rec, nil)
	t.Run("before the handshake", func(t *testing.T) {
		conn, br, resp := connectTo(t, e, v.host())
		if resp.StatusCode != http.StatusOK {
			t.Fatal(resp.Status)
		}
		if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the proxy kept a silent tunnel open")
		}
		conn.Close()
	})
	t.Run("between requests", func(t *testing.T) {
		tc := tunnel(t, e, v.host())
		br := bufio.NewReader(tc)
		if resp, err := exchange(t, tc, br, "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\n\r\n"); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("%v %v", resp, err)
		}
		if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the proxy kept an idle tunnel open")
		}
	})
}

// TestProxy_TunnelRequestHeadersAreBounded: inside a tunnel, requests are
// read by goproxy's own parser, not by the listener's http.Server, so the
// listener's MaxHeaderBytes does not apply; a client can make the proxy
// hold headers of any size in memory.
func TestProxy_TunnelRequestHeadersAreBounded(t *testing.T) {
	v := newVendor(t)
	v.srv.Config.MaxHeaderBytes = 64 << 20
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, nil)
	tc := tunnel(t, e, v.host())
	br := bufio.NewReader(tc)
	big := strings.Repeat("a", 4*proxy.MaxHeaderBytes)
	resp, err := exchange(t, tc, br, "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\nX-Big: "+big+"\r\n\r\n")
	if err == nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header inside a tunnel: %d, want 431 or the tunnel closed", len(big), resp.StatusCode)
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got a request with headers %d times the limit", len(big)/proxy.MaxHeaderBytes)
	}
}

// TestProxy_ListenerShutdownEndsTunnels: http.Server.Shutdown neither
// waits for nor closes hijacked connections, so on SIGTERM a client's
// keep-alive tunnel would go on forwarding requests while the spool and
// the sinks shut down: changes reaching the destination after the drain,
// with no record kept.
func TestProxy_ListenerShutdownEndsTunnels(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	authority, pool, _ := catest.New(t, ca.CreateOptions{}, nil)
	cfg := proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}
	fwd, err := proxy.NewForward(cfg, authority, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := proxy.NewForwardServer(cfg, fwd, nil)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); fwd.Transport().CloseIdleConnections() })
	e := &egress{fwd: fwd, caPool: pool}
	e.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}

	tc := tunnel(t, e, v.host())
	br := bufio.NewReader(tc)
	if resp, err := exchange(t, tc, br, "POST /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\nContent-Length: 2\r\n\r\n{}"); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("before the shutdown: %v %v", resp, err)
	}
	rec.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	// As the command drains: the listener, then the tunnels' requests in
	// flight. (The hook NewForwardServer registers runs on its own
	// goroutine, so the listener's Shutdown alone can return before the
	// tunnels know; Forward.Shutdown tells them before it returns.)
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fwd.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The drain is over: the command now shuts the spool and the sinks.
	resp, err := exchange(t, tc, br, "POST /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\nContent-Length: 2\r\n\r\n{}")
	if err == nil && resp.StatusCode < 300 {
		t.Errorf("after the listener's shutdown, a tunnel still forwarded a change: %d", resp.StatusCode)
	}
	if n := len(v.requests()); n != 1 {
		t.Errorf("the vendor got %d requests, want only the one before the shutdown", n)
	}
}

// TestProxy_TunnelHeaderTrickleIsCutOff: a client sending a request's
// headers a byte at a time inside a tunnel is cut off once the header
// timeout has passed since their first byte, as the listener would.
func TestProxy_TunnelHeaderTrickleIsCutOff(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile,
		ReadHeaderTimeout: 200 * time.Millisecond}, rec, nil)
	tc := tunnel(t, e, v.host())
	if _, err := io.WriteString(tc, "GET /scim/v2/Users HTTP/1.1\r\nHost: "+v.host()+"\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// At most 100 bytes, 50ms apart: 5s, 25 times the header timeout.
	cut := false
	for i := 0; i < 100 && !cut; i++ {
		time.Sleep(50 * time.Millisecond)
		if _, err := io.WriteString(tc, "a"); err != nil {
			cut = true
		}
	}
	if !cut {
		// Still open after the trickle: the proxy must close it now, not
		// leave the client to time out.
		tc.SetReadDeadline(time.Now().Add(hangGuard))
		var ne net.Error
		if _, err := tc.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("a header trickle inside a tunnel was never cut off (%v)", err)
		}
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got %d requests", n)
	}
}

// TestForward_ShutdownWaitsForRequestsInFlight: a request forwarded before
// the shutdown is recorded before Shutdown returns; one after it is refused.
func TestForward_ShutdownWaitsForRequestsInFlight(t *testing.T) {
	v := newVendor(t)
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	v.resp = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	}
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec)
	client := e.client(t, e.caPool)
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodDelete, "https://"+v.host()+"/scim/v2/Users/1", nil)
		resp, err := client.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := e.fwd.Shutdown(ctx); err == nil {
		t.Error("Shutdown returned while a request was in flight")
	}
	cancel()
	close(release)
	if err := e.fwd.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case ex := <-rec.recorded:
		if ex.StatusCode != http.StatusNoContent {
			t.Errorf("recorded status %d", ex.StatusCode)
		}
	default:
		t.Fatal("Shutdown returned before the request in flight was recorded")
	}
	if code := <-done; code != http.StatusNoContent {
		t.Errorf("the request in flight got %d", code)
	}
	resp, err := client.Get("https://" + v.host() + "/scim/v2/Users")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a request after Shutdown got %d, want 503", resp.StatusCode)
		}
	}
}

// TestProxy_ClearTextNameCannotLeadToLoopback: a name allowed on port 80
// is held to nothing but its name, so the addresses it resolves to are:
// never this machine (DNS rebinding towards local services).
func TestProxy_ClearTextNameCannotLeadToLoopback(t *testing.T) {
	rec := newRecorder()
	logs := &syncBuffer{}
	e := startForwardServer(t, proxy.ForwardConfig{AllowHosts: []string{"localhost:80"}}, rec, logs)
	resp, err := e.client(t, e.caPool).Get("http://localhost/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("a name allowed on port 80 resolving to loopback: %d, want 502", resp.StatusCode)
	}
	if ex := rec.next(t); ex.StatusCode != http.StatusBadGateway {
		t.Errorf("recorded %d", ex.StatusCode)
	}
	// Refused by the guard, not merely because nothing listens there.
	if !strings.Contains(logs.String(), "must not lead to a loopback") {
		t.Errorf("the dial was not refused by the address guard; logs:\n%s", logs.String())
	}
}
