package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/proxy"
)

func TestProxy_IsTransparent(t *testing.T) {
	reqBody := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`)
	respBody := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223","userName":"ada@example.com"}`)

	var upstreamHost string
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		switch {
		case err != nil:
			t.Errorf("upstream: reading body: %v", err)
		case r.Method != http.MethodPost || r.URL.Path != "/scim/v2/Users" || r.URL.RawQuery != "attributes=userName":
			t.Errorf("upstream got %s %s?%s, want POST /scim/v2/Users?attributes=userName", r.Method, r.URL.Path, r.URL.RawQuery)
		case r.Host != upstreamHost:
			t.Errorf("upstream got Host %q, want %q", r.Host, upstreamHost)
		case r.ContentLength != int64(len(reqBody)) || len(r.TransferEncoding) != 0:
			t.Errorf("upstream got Content-Length %d, Transfer-Encoding %v; want %d and none", r.ContentLength, r.TransferEncoding, len(reqBody))
		case !bytes.Equal(got, reqBody):
			t.Errorf("upstream got body %q, want %q", got, reqBody)
		case r.Header.Get("Content-Type") != "application/scim+json" || r.Header.Get("X-Request-Id") != "req-1":
			t.Errorf("upstream got headers %v", r.Header)
		}
		h := w.Header()
		h.Set("Content-Type", "application/scim+json")
		h.Set("Location", "https://scim.example/scim/v2/Users/2819c223")
		h.Set("ETag", `W/"a330bc54f0671c9"`)
		h.Set("Content-Length", strconv.Itoa(len(respBody)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(respBody)
	})
	upstreamHost = upstreamHostOf(upstream)

	rec := newRecorder()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL + "/scim/v2"}, rec, nil,
		proxy.WithClock(stepClock(start, 250*time.Millisecond)))

	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/Users?attributes=userName", bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("X-Request-Id", "req-1")
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status %d, want 201", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":   "application/scim+json",
		"Location":       "https://scim.example/scim/v2/Users/2819c223",
		"Etag":           `W/"a330bc54f0671c9"`,
		"Content-Length": strconv.Itoa(len(respBody)),
	} {
		if v := resp.Header.Get(k); v != want {
			t.Errorf("response %s = %q, want %q", k, v, want)
		}
	}
	if resp.ContentLength != int64(len(respBody)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("response Content-Length %d, Transfer-Encoding %v; want %d and none", resp.ContentLength, resp.TransferEncoding, len(respBody))
	}
	if !bytes.Equal(got, respBody) {
		t.Errorf("response body %q, want %q", got, respBody)
	}

	ex := rec.next(t)
	if !ex.Start.Equal(start) || ex.Duration != 250*time.Millisecond {
		t.Errorf("Start %v Duration %v, want %v and 250ms", ex.Start, ex.Duration, start)
	}
	if ex.Method != "POST" || ex.Path != "/Users" || ex.RawQuery != "attributes=userName" ||
		ex.StatusCode != 201 || ex.IdPName != proxy.UnknownIdP || ex.UserAgent != "Okta SCIM Client 1.0.0" || ex.ClientIP != "127.0.0.1" {
		t.Errorf("exchange facts: %+v", ex)
	}
	if !bytes.Equal(ex.RequestBody, reqBody) || ex.RequestTruncated || !bytes.Equal(ex.ResponseBody, respBody) || ex.ResponseTruncated {
		t.Errorf("exchange bodies: request %q (truncated %v), response %q (truncated %v)",
			ex.RequestBody, ex.RequestTruncated, ex.ResponseBody, ex.ResponseTruncated)
	}
	if len(ex.Notes) != 0 {
		t.Errorf("notes: %q", ex.Notes)
	}
}

// TestProxy_StreamsResponse proves a chunked response is not held back: the
// upstream writes its second chunk only once the client has read the first.
func TestProxy_StreamsResponse(t *testing.T) {
	first, second := "first chunk;", "second chunk."
	clientGotFirst := make(chan struct{})
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, first)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("upstream flush: %v", err)
		}
		select {
		case <-clientGotFirst:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, second)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	resp, err := newClient(t).Get("http://" + addr + "/Users")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Content-Length %d, Transfer-Encoding %v; want a chunked response", resp.ContentLength, resp.TransferEncoding)
	}
	buf := make([]byte, len(first))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the first chunk: %v", err)
	}
	close(clientGotFirst)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf)+string(rest) != first+second {
		t.Errorf("body %q, want %q", string(buf)+string(rest), first+second)
	}
	if ex := rec.next(t); string(ex.ResponseBody) != first+second {
		t.Errorf("captured %q, want %q", ex.ResponseBody, first+second)
	}
}

// TestProxy_StreamsRequestBody proves a request body is not buffered: the
// client sends its second part only once the upstream has read the first.
func TestProxy_StreamsRequestBody(t *testing.T) {
	first, second := `{"userName":`, `"ada@example.com"}`
	upstreamGotFirst := make(chan struct{})
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, len(first))
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("upstream reading first part: %v", err)
			return
		}
		close(upstreamGotFirst)
		rest, err := io.ReadAll(r.Body)
		if err != nil || string(buf)+string(rest) != first+second {
			t.Errorf("upstream got %q, %v", string(buf)+string(rest), err)
		}
		w.WriteHeader(http.StatusCreated)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, first)
		select {
		case <-upstreamGotFirst:
			_, _ = io.WriteString(pw, second)
			pw.Close()
		case <-time.After(hangGuard):
			pw.CloseWithError(errors.New("upstream never got the first part"))
		}
	}()
	resp, err := newClient(t).Post("http://"+addr+"/Users", "application/scim+json", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ex := rec.next(t); string(ex.RequestBody) != first+second || ex.RequestTruncated {
		t.Errorf("captured %q (truncated %v)", ex.RequestBody, ex.RequestTruncated)
	}
}

// countingUpstream answers 200 and counts the requests it got.
func countingUpstream(t *testing.T) (*atomic.Int64, string) {
	var n atomic.Int64
	srv := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"Resources":[]}`)
	})
	return &n, srv.URL
}

func TestProxy_RefusesCONNECT(t *testing.T) {
	hits, upstreamURL := countingUpstream(t)
	target := newCanary(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstreamURL}, rec, nil)

	resp := rawRequest(t, addr, "CONNECT "+target.addr()+" HTTP/1.1\r\nHost: "+target.addr()+"\r\n\r\n")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("status %d, want 405", resp.StatusCode)
	}
	if allow := resp.Header.Get("Allow"); allow == "" || strings.Contains(allow, "CONNECT") {
		t.Errorf("Allow %q, want the forwarded methods without CONNECT", allow)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q", ct)
	}
	target.assertUntouched(t)
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
	rec.none(t)
}

// TestProxy_RefusesTRACE: a TRACE echo would put the Authorization header
// into a captured response body.
func TestProxy_RefusesTRACE(t *testing.T) {
	hits, upstreamURL := countingUpstream(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstreamURL}, rec, nil)

	resp := rawRequest(t, addr, "TRACE /Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("status %d, Allow %q; want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if bytes.Contains(resp.body, []byte("secret")) {
		t.Errorf("body echoes the token: %q", resp.body)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
	rec.none(t)
}

// TestProxy_RefusesProtocolUpgrade: a tunnelled WebSocket or h2c stream
// would leave the audited path.
func TestProxy_RefusesProtocolUpgrade(t *testing.T) {
	hits, upstreamURL := countingUpstream(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstreamURL}, rec, nil)

	for _, upgrade := range []string{"websocket", "h2c"} {
		resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "+upgrade+
			"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("Upgrade: %s: status %d, want 501", upgrade, resp.StatusCode)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
	rec.none(t)
}

func TestProxy_AbsoluteFormNeverLeavesUpstream(t *testing.T) {
	elsewhere := newCanary(t)
	type seen struct{ host, path, query string }
	got := make(chan seen, 4)
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.URL.Path, r.URL.RawQuery}
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"Resources":[]}`)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL + "/scim"}, rec, nil)

	resp := rawRequest(t, addr, "GET http://"+elsewhere.addr()+"/Users?count=1 HTTP/1.1\r\nHost: "+elsewhere.addr()+"\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 from the upstream", resp.StatusCode)
	}
	if s := <-got; s.host != upstreamHostOf(upstream) || s.path != "/scim/Users" || s.query != "count=1" {
		t.Errorf("upstream got Host %q path %q query %q", s.host, s.path, s.query)
	}
	if ex := rec.next(t); ex.Path != "/Users" || ex.RawQuery != "count=1" {
		t.Errorf("exchange path %q query %q", ex.Path, ex.RawQuery)
	}

	// With user info the target is refused rather than guessed at.
	resp = rawRequest(t, addr, "GET http://user:pw@"+elsewhere.addr()+"/Users HTTP/1.1\r\nHost: "+elsewhere.addr()+"\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("user-info target: status %d, want 400", resp.StatusCode)
	}
	elsewhere.assertUntouched(t)
	if len(got) != 0 {
		t.Errorf("upstream got the refused request")
	}
}

func TestProxy_StripsHopByHopHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		h := w.Header()
		h.Set("Connection", "X-Upstream-Secret")
		h.Set("X-Upstream-Secret", "internal")
		h.Set("Proxy-Authenticate", `Basic realm="internal"`)
		h.Set("X-Upstream-Kept", "yes")
		_, _ = io.WriteString(w, "{}")
	})
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, newRecorder(), nil)

	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n"+
		"Connection: keep-alive, X-Secret\r\n"+
		"X-Secret: hop-only\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"TE: gzip\r\n"+
		"Proxy-Authorization: Basic YWRtaW46aHVudGVyMg==\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"X-Kept: yes\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := <-got
	for _, k := range []string{"X-Secret", "Keep-Alive", "Te", "Proxy-Authorization", "Proxy-Connection", "Connection"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream got hop-by-hop %s: %q", k, v)
		}
	}
	if h.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end header X-Kept was dropped: %v", h)
	}
	for _, k := range []string{"X-Upstream-Secret", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client got hop-by-hop %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Upstream-Kept") != "yes" {
		t.Errorf("end-to-end response header was dropped: %v", resp.Header)
	}
}

// forwardedUpstream reports the forwarding headers it got.
func forwardedUpstream(t *testing.T) (chan http.Header, string) {
	got := make(chan http.Header, 1)
	srv := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		_, _ = io.WriteString(w, "{}")
	})
	return got, srv.URL
}

func TestProxy_UntrustedXForwardedForIgnored(t *testing.T) {
	got, upstreamURL := forwardedUpstream(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstreamURL}, rec, nil)

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/Users", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "for=203.0.113.7")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	h := <-got
	if v := h.Values("X-Forwarded-For"); !slices.Equal(v, []string{"127.0.0.1"}) {
		t.Errorf("upstream X-Forwarded-For %q, want only the peer", v)
	}
	if h.Get("X-Forwarded-Host") != addr || h.Get("X-Forwarded-Proto") != "http" || h.Get("Forwarded") != "" {
		t.Errorf("upstream forwarding headers: host %q proto %q forwarded %q",
			h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"), h.Get("Forwarded"))
	}
	if ex := rec.next(t); ex.ClientIP != "127.0.0.1" {
		t.Errorf("ClientIP %q, want the peer", ex.ClientIP)
	}
}

func TestProxy_TrustedProxyXForwardedForHonoured(t *testing.T) {
	got, upstreamURL := forwardedUpstream(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{
		Upstream:       upstreamURL,
		TrustedProxies: []string{"127.0.0.1", "10.0.0.0/8"},
	}, rec, nil)

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/Users", nil)
	// Only the rightmost untrusted hop is believed to be the client.
	req.Header.Set("X-Forwarded-For", "192.0.2.66, 198.51.100.9, 10.1.2.3")
	req.Header.Set("X-Forwarded-Host", "scim.example.com")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	h := <-got
	if v := h.Get("X-Forwarded-For"); v != "192.0.2.66, 198.51.100.9, 10.1.2.3, 127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For %q", v)
	}
	if h.Get("X-Forwarded-Host") != "scim.example.com" || h.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("upstream X-Forwarded-Host %q, -Proto %q", h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"))
	}
	if ex := rec.next(t); ex.ClientIP != "198.51.100.9" {
		t.Errorf("ClientIP %q, want 198.51.100.9", ex.ClientIP)
	}
}

func TestProxy_UpstreamErrorDoesNotLeakDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(closed)

	var logs syncBuffer
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: "http://" + closed}, rec, &logs)

	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if string(resp.body) != scimErrorBody502 {
		t.Errorf("body %s, want %s", resp.body, scimErrorBody502)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, leak := range []string{"dial", "refused", "127.0.0.1", port} {
		if bytes.Contains(resp.body, []byte(leak)) || strings.Contains(fmt.Sprint(resp.Header), leak) {
			t.Errorf("response reveals %q: %v %s", leak, resp.Header, resp.body)
		}
	}
	ex := rec.next(t)
	if ex.StatusCode != http.StatusBadGateway || string(ex.ResponseBody) != scimErrorBody502 || len(ex.Notes) != 1 {
		t.Errorf("exchange status %d body %s notes %q", ex.StatusCode, ex.ResponseBody, ex.Notes)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the real error was not logged: %s", logs.String())
	}
}

func TestProxy_UpstreamTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before upstream.Close
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL, UpstreamTimeout: 50 * time.Millisecond}, rec, nil)

	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
	want := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"504","detail":"Gateway Timeout"}`
	if resp.StatusCode != http.StatusGatewayTimeout || string(resp.body) != want {
		t.Errorf("got %d %s, want 504 %s", resp.StatusCode, resp.body, want)
	}
	if ex := rec.next(t); ex.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("exchange status %d", ex.StatusCode)
	}
}

func TestProxy_ClientGoneIsRecordedAs499(t *testing.T) {
	arrived := make(chan struct{})
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // the proxy cancels once its client is gone
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+addr+"/Users/1", nil)
		resp, err := newClient(t).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want canceled", err)
	}
	ex := rec.next(t)
	if ex.StatusCode != proxy.StatusClientClosedRequest || ex.Method != http.MethodDelete {
		t.Errorf("exchange %s status %d, want DELETE 499", ex.Method, ex.StatusCode)
	}
}

func TestProxy_AbortedResponseIsRecorded(t *testing.T) {
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{\"partial\":")
		_ = bw.Flush()
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	resp, err := newClient(t).Get("http://" + addr + "/Users/1")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("the client read a complete response from a cut-off upstream")
	}
	ex := rec.next(t)
	if ex.StatusCode != http.StatusOK || string(ex.ResponseBody) != `{"partial":` || !ex.ResponseTruncated {
		t.Errorf("exchange status %d body %q truncated %v", ex.StatusCode, ex.ResponseBody, ex.ResponseTruncated)
	}
	if !slices.ContainsFunc(ex.Notes, func(n string) bool { return strings.Contains(n, "aborted") }) {
		t.Errorf("notes %q do not say the exchange was aborted", ex.Notes)
	}
}

func TestProxy_WithoutRecorderStillForwards(t *testing.T) {
	hits, upstreamURL := countingUpstream(t)
	addr, _ := startProxy(t, proxy.Config{Upstream: upstreamURL}, nil, nil)
	resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusOK || string(resp.body) != `{"Resources":[]}` || hits.Load() != 1 {
		t.Errorf("status %d body %s hits %d", resp.StatusCode, resp.body, hits.Load())
	}
	resp = rawRequest(t, addr, "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("CONNECT without recorder: status %d", resp.StatusCode)
	}
}

func TestNewReverse_TransportDefaults(t *testing.T) {
	p, err := proxy.NewReverse(proxy.Config{Upstream: "http://127.0.0.1:9000"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Transport()
	if tr.Proxy != nil || tr.DialContext == nil || tr.DisableCompression != true {
		t.Errorf("Proxy set %v, DialContext set %v, DisableCompression %v", tr.Proxy != nil, tr.DialContext != nil, tr.DisableCompression)
	}
	if tr.ResponseHeaderTimeout != proxy.DefaultUpstreamTimeout || tr.TLSHandshakeTimeout != proxy.DefaultDialTimeout ||
		tr.MaxIdleConns != proxy.DefaultMaxIdleConns || tr.MaxIdleConnsPerHost != proxy.DefaultMaxIdleConns || tr.IdleConnTimeout != 90*time.Second {
		t.Errorf("transport timeouts/pool: %+v", tr)
	}
	if _, err := tr.DialContext(context.Background(), "tcp", "127.0.0.2:9000"); err == nil {
		t.Error("the transport dialled an address that is not the upstream")
	}

	srv := proxy.NewServer(proxy.Config{}, p, nil)
	if srv.ReadHeaderTimeout != proxy.DefaultReadHeaderTimeout || srv.IdleTimeout != proxy.DefaultIdleTimeout ||
		srv.MaxHeaderBytes != proxy.MaxHeaderBytes || srv.ErrorLog == nil {
		t.Errorf("server: %+v", srv)
	}
}

func TestNewReverse_RejectsInvalidConfig(t *testing.T) {
	if _, err := proxy.NewReverse(proxy.Config{}, nil, nil); err == nil || !strings.Contains(err.Error(), `requires a non-empty "upstream"`) {
		t.Errorf("err %v", err)
	}
	_, err := proxy.NewReverse(proxy.Config{Upstream: "https://127.0.0.1:9", UpstreamCAFile: t.TempDir() + "/missing.pem"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"upstream-ca-file"`) {
		t.Errorf("missing CA file: err %v", err)
	}
}
