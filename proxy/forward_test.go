package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/proxy/ca"
	"github.com/scimtrail/scimtrail/proxy/ca/catest"
	"github.com/scimtrail/scimtrail/schema"
)

// vendor is a SaaS application's SCIM API on 127.0.0.1 over TLS, with a
// certificate of its own CA (httptest's), which no system root trusts.
type vendor struct {
	srv    *httptest.Server
	caFile string // its CA, for ForwardConfig.UpstreamCAFile

	mu   sync.Mutex
	got  []vendorRequest
	resp func(w http.ResponseWriter, r *http.Request, body []byte)
}

type vendorRequest struct {
	method, uri, host string
	header            http.Header
	body              []byte
	contentLength     int64
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	v := &vendor{}
	v.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.got = append(v.got, vendorRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body, r.ContentLength})
		resp := v.resp
		v.mu.Unlock()
		if resp != nil {
			resp(w, r, body)
			return
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.Header().Set("Location", "https://"+r.Host+"/scim/v2/Users/2819c223")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"2819c223","userName":"bjensen@example.com","emails":[{"value":"bjensen@example.com","primary":true}],"externalId":"hr-1001"}`)
	}))
	v.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake errors of the untrusting cases
	v.srv.StartTLS()
	t.Cleanup(v.srv.Close)
	v.caFile = filepath.Join(t.TempDir(), "vendor-ca.pem")
	if err := os.WriteFile(v.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *vendor) host() string { return strings.TrimPrefix(v.srv.URL, "https://") }

func (v *vendor) requests() []vendorRequest {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]vendorRequest(nil), v.got...)
}

// egress is a running forward proxy with its CA.
type egress struct {
	url    *url.URL
	caPool *x509.CertPool
	fwd    *proxy.Forward
}

const hrToken = "hr-sync-token-0123456789"

func startForward(t *testing.T, cfg proxy.ForwardConfig, rec proxy.Recorder, opts ...proxy.Option) *egress {
	t.Helper()
	authority, pool, _ := catest.New(t, ca.CreateOptions{}, nil)
	if cfg.Clients == nil {
		sum := sha256.Sum256([]byte(hrToken))
		cfg.Clients = []string{"hr-sync=token-sha256:" + hex.EncodeToString(sum[:])}
	}
	fwd, err := proxy.NewForward(cfg, authority, rec, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fwd)
	t.Cleanup(func() {
		srv.Close()
		fwd.Transport().CloseIdleConnections()
	})
	u, _ := url.Parse(srv.URL)
	return &egress{url: u, caPool: pool, fwd: fwd}
}

// client is an in-house SCIM client configured with HTTPS_PROXY and
// trusting roots (the proxy's CA, or nil for the system's).
func (e *egress) client(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: http.ProxyURL(e.url), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: hangGuard}
}

func TestForward_RecordsEveryFieldAndForwardsByteIdentical(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec)
	const body = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com","password":"Pa55word!","externalId":"hr-1001"}`
	req, _ := http.NewRequest(http.MethodPost, "https://"+v.host()+"/scim/v2/Users?x=1", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+hrToken)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("User-Agent", "hr-sync/2.1")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := e.client(t, e.caPool).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(got), `"id":"2819c223"`) {
		t.Fatalf("client got %d %s", resp.StatusCode, got)
	}
	if resp.ContentLength != int64(len(got)) || len(resp.TransferEncoding) > 0 {
		t.Errorf("framing changed: Content-Length %d for %d bytes, Transfer-Encoding %v", resp.ContentLength, len(got), resp.TransferEncoding)
	}
	if loc := resp.Header.Get("Location"); loc != "https://"+v.host()+"/scim/v2/Users/2819c223" {
		t.Errorf("Location %q", loc)
	}

	reqs := v.requests()
	if len(reqs) != 1 {
		t.Fatalf("vendor got %d requests", len(reqs))
	}
	vr := reqs[0]
	if vr.method != http.MethodPost || vr.uri != "/scim/v2/Users?x=1" || vr.host != v.host() || string(vr.body) != body || vr.contentLength != int64(len(body)) {
		t.Errorf("vendor got %s %s host %s length %d body %s", vr.method, vr.uri, vr.host, vr.contentLength, vr.body)
	}
	for _, k := range []string{"Authorization", "Content-Type", "User-Agent", "Traceparent", "Accept-Encoding"} {
		if vr.header.Get(k) != req.Header.Get(k) && !(k == "Accept-Encoding" && vr.header.Get(k) == "gzip") {
			t.Errorf("header %s: vendor got %q, client sent %q", k, vr.header.Get(k), req.Header.Get(k))
		}
	}
	for k := range vr.header {
		if strings.HasPrefix(k, "X-Forwarded") || strings.HasPrefix(k, "Proxy-") || k == "Via" {
			t.Errorf("the proxy added %s: %v", k, vr.header[k])
		}
	}

	ex := rec.next(t)
	if ex.Direction != schema.DirectionEgress || ex.Destination != v.host() || ex.IdPName != "hr-sync" ||
		ex.Method != http.MethodPost || ex.Path != "/scim/v2/Users" || ex.RawQuery != "x=1" ||
		ex.StatusCode != http.StatusCreated || ex.UserAgent != "hr-sync/2.1" || ex.ClientIP != "127.0.0.1" ||
		ex.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || ex.SpanID != "00f067aa0ba902b7" {
		t.Errorf("exchange %+v", ex)
	}
	if string(ex.RequestBody) != body || string(ex.ResponseBody) != string(got) || ex.RequestTruncated || ex.ResponseTruncated {
		t.Errorf("captured request %s response %s", ex.RequestBody, ex.ResponseBody)
	}
}

// TestProxy_RefusesCONNECTToAHostNotAllowed: no tunnel, and the host
// never sees a connection.
func TestProxy_RefusesCONNECTToAHostNotAllowed(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec)
	_, err := e.client(t, e.caPool).Get("https://" + c.addr() + "/scim/v2/Users")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("CONNECT to a host not allowed: %v, want 403 Forbidden", err)
	}
	c.assertUntouched(t)
	rec.none(t)
}

func TestProxy_PlainHTTPToAnotherHostIs403(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec)
	resp, err := e.client(t, e.caPool).Get("http://" + c.addr() + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("plain HTTP to another host: %d, want 403", resp.StatusCode)
	}
	// Plain HTTP to the allowed host's TLS port is not a way around either.
	resp, err = e.client(t, e.caPool).Get("http://" + v.host() + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("plain HTTP to the allowed host's TLS port: %d, want 403", resp.StatusCode)
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got %d requests", n)
	}
	c.assertUntouched(t)
}

// A client that does not trust scimtrail's CA fails the handshake: the
// interception is never silent.
func TestProxy_ClientNotTrustingTheCAFailsTheHandshake(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec)
	_, err := e.client(t, nil).Get("https://" + v.host() + "/scim/v2/Users")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("client without the CA: %v, want an unknown authority error", err)
	}
	if n := len(v.requests()); n != 0 {
		t.Fatalf("the vendor got %d requests", n)
	}
	rec.none(t)
}

// The destination's certificate is verified: an untrusted one gets 502,
// no request, and an ERROR record saying why.
func TestProxy_UntrustedDestinationCertificateIs502AndRecorded(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}}, rec) // system roots only
	req, _ := http.NewRequest(http.MethodDelete, "https://"+v.host()+"/scim/v2/Users/2819c223", nil)
	req.Header.Set("Authorization", "Bearer "+hrToken)
	resp, err := e.client(t, e.caPool).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || string(body) != scimErrorBody502 {
		t.Fatalf("got %d %s, want 502 and a SCIM error", resp.StatusCode, body)
	}
	if n := len(v.requests()); n != 0 {
		t.Fatalf("the vendor got %d requests over an unverified connection", n)
	}
	ex := rec.next(t)
	if ex.StatusCode != http.StatusBadGateway || !strings.Contains(strings.Join(ex.Notes, ";"), "certificate is not trusted") {
		t.Errorf("exchange status %d notes %v", ex.StatusCode, ex.Notes)
	}
}

// TestProxy_TunnelCannotReachAnotherHost: inside a tunnel to an allowed
// host, a request naming another host (Host header or absolute form) is
// refused, not forwarded there.
func TestProxy_TunnelCannotReachAnotherHost(t *testing.T) {
	v := newVendor(t)
	c := newCanary(t)
	rec := newRecorder()
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host(), c.addr()}, UpstreamCAFile: v.caFile}, rec)
	for _, line := range []string{
		"GET /scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n",
		"GET https://" + c.addr() + "/scim/v2/Users HTTP/1.1\r\nHost: " + c.addr() + "\r\n",
	} {
		conn, err := net.Dial("tcp", e.url.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", v.host(), v.host())
		br := bufio.NewReader(conn)
		cr, err := http.ReadResponse(br, nil)
		if err != nil || cr.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT to the allowed host: %v %v", cr, err)
		}
		host, _, _ := net.SplitHostPort(v.host())
		tc := tls.Client(conn, &tls.Config{RootCAs: e.caPool, ServerName: host})
		if _, err := io.WriteString(tc, line+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tc.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%q inside a tunnel to %s: %d, want 403", strings.SplitN(line, "\r\n", 2)[0], v.host(), resp.StatusCode)
		}
	}
	c.assertUntouched(t)
	if n := len(v.requests()); n != 0 {
		t.Errorf("the vendor got %d requests", n)
	}
	rec.none(t)
}

// Bodies longer than the capture limit pass whole, framing kept; the
// capture stops at the limit and says so.
func TestForward_LargeBodiesPassWholeCaptureIsBounded(t *testing.T) {
	v := newVendor(t)
	big := bytes.Repeat([]byte("x"), 3<<20)
	v.resp = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/scim+json")
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	}
	rec := newRecorder()
	const limit = 64 << 10
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile, MaxBodyBytes: limit}, rec)
	reqBody := bytes.Repeat([]byte("y"), 200<<10)
	resp, err := e.client(t, e.caPool).Post("https://"+v.host()+"/scim/v2/Bulk", "application/scim+json", bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, big) || resp.ContentLength != int64(len(big)) {
		t.Fatalf("client got %d bytes (Content-Length %d), err %v; want %d", len(got), resp.ContentLength, err, len(big))
	}
	if vr := v.requests()[0]; !bytes.Equal(vr.body, reqBody) || vr.contentLength != int64(len(reqBody)) {
		t.Fatalf("vendor got %d bytes, Content-Length %d", len(vr.body), vr.contentLength)
	}
	ex := rec.next(t)
	if len(ex.ResponseBody) != limit || !ex.ResponseTruncated || len(ex.RequestBody) != limit || !ex.RequestTruncated {
		t.Errorf("captured %d/%v of the response, %d/%v of the request; want %d and truncated", len(ex.ResponseBody), ex.ResponseTruncated,
			len(ex.RequestBody), ex.RequestTruncated, limit)
	}
}

// The answer waits for its record: a recorder that fails under strict
// recording turns a change's answer into 503.
func TestForward_StrictRecordingAnswers503WhenTheRecordIsLost(t *testing.T) {
	v := newVendor(t)
	rec := newRecorder()
	rec.recordErr = errors.New("disk full")
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, proxy.WithStrictRecording())
	resp, err := e.client(t, e.caPool).Post("https://"+v.host()+"/scim/v2/Users", "application/scim+json", strings.NewReader(`{"userName":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	rec.next(t)
}

func TestForwardConfig_Validate(t *testing.T) {
	cases := []struct {
		hosts []string
		want  string
	}{
		{nil, `requires at least one "allow-host"`},
		{[]string{"https://api.vendor.example"}, `"allow-host": "https://api.vendor.example": want host or host:port, without scheme, path or credentials`},
		{[]string{"api.vendor.example:99999"}, `"allow-host": "api.vendor.example:99999": bad port "99999"`},
		{[]string{"*"}, `"allow-host": "*": want a host name, an IP address, or "*." and a domain`},
		{[]string{"2001:db8::1"}, `"allow-host": "2001:db8::1": write an IPv6 address in brackets: [2001:db8::1]:443`},
		{[]string{"*.10.0.0.1"}, `"allow-host": "*.10.0.0.1": "*." goes with a domain name, not an address`},
	}
	for _, tc := range cases {
		err := proxy.ForwardConfig{AllowHosts: tc.hosts}.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v\nwant %s", tc.hosts, err, tc.want)
		}
	}
	if err := (proxy.ForwardConfig{AllowHosts: []string{"api.vendor.example", "*.okta.example:8443", "[2001:db8::1]:443", "10.0.0.5:80"},
		Clients: []string{"midpoint=user-agent:midPoint"}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if err := (proxy.ForwardConfig{AllowHosts: []string{"a.example"}, Clients: []string{"x=bogus:1"}}).Validate(); err == nil || !strings.HasPrefix(err.Error(), `"client": `) {
		t.Errorf("bad client matcher: %v", err)
	}
}

// With a TracerProvider, an egress request gets a Server span continuing
// the client's trace, the destination gets that span as its parent, and
// the exchange names it.
func TestForward_SpansContinueTheClientsTrace(t *testing.T) {
	const traceID, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	v := newVendor(t)
	rec := newRecorder()
	tp, spans := newTracerProvider(t)
	e := startForward(t, proxy.ForwardConfig{AllowHosts: []string{v.host()}, UpstreamCAFile: v.caFile}, rec, proxy.WithTracerProvider(tp))
	req, _ := http.NewRequest(http.MethodPost, "https://"+v.host()+"/scim/v2/Users", strings.NewReader(`{"userName":"x"}`))
	req.Header.Set("Authorization", "Bearer "+hrToken)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+caller+"-01")
	resp, err := e.client(t, e.caPool).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sp := spans.next(t)
	ours := sp.SpanContext().SpanID().String()
	if sp.SpanContext().TraceID().String() != traceID || sp.Parent().SpanID().String() != caller || sp.Name() != "POST /Users" {
		t.Errorf("span %q trace %s parent %s", sp.Name(), sp.SpanContext().TraceID(), sp.Parent().SpanID())
	}
	if got := v.requests()[0].header.Get("Traceparent"); got != "00-"+traceID+"-"+ours+"-01" {
		t.Errorf("the destination got traceparent %q, want scimtrail's span %s as parent", got, ours)
	}
	if ex := rec.next(t); ex.TraceID != traceID || ex.SpanID != ours {
		t.Errorf("exchange trace %s span %s", ex.TraceID, ex.SpanID)
	}
	attrs := map[string]string{}
	for _, a := range sp.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	host, _, _ := net.SplitHostPort(v.host())
	if attrs["http.response.status_code"] != "201" || attrs["scim.idp_name"] != "hr-sync" || attrs["server.address"] != host {
		t.Errorf("span attributes %v", attrs)
	}
}
