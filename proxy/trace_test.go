package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/scim"
)

// The IdP's trace context in these tests.
const (
	idpTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	idpSpanID      = "00f067aa0ba902b7"
	idpTraceparent = "00-" + idpTraceID + "-" + idpSpanID + "-01"
	idpTracestate  = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
)

// malformedTraceparents are traceparent values the W3C Trace Context
// specification says to ignore.
var malformedTraceparents = map[string]string{
	"empty":            "",
	"garbage":          "not-a-traceparent",
	"version ff":       "ff-" + idpTraceID + "-" + idpSpanID + "-01",
	"zero trace id":    "00-00000000000000000000000000000000-" + idpSpanID + "-01",
	"zero span id":     "00-" + idpTraceID + "-0000000000000000-01",
	"upper case hex":   "00-" + strings.ToUpper(idpTraceID) + "-" + idpSpanID + "-01",
	"short trace id":   "00-" + idpTraceID[:30] + "-" + idpSpanID + "-01",
	"extra field v00":  idpTraceparent + "-00",
	"non-hex flags":    "00-" + idpTraceID + "-" + idpSpanID + "-zz",
	"very long header": "00-" + strings.Repeat("a", 4000),
}

// endedSpans receives every span as it ends, so a test waits for a span
// instead of polling for it.
type endedSpans chan sdktrace.ReadOnlySpan

func (endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endedSpans) OnEnd(s sdktrace.ReadOnlySpan)                 { e <- s }
func (endedSpans) Shutdown(context.Context) error                  { return nil }
func (endedSpans) ForceFlush(context.Context) error                { return nil }

// newTracerProvider is a real SDK provider (parent-based, always on)
// whose ended spans arrive on the returned channel.
func newTracerProvider(t *testing.T) (*sdktrace.TracerProvider, endedSpans) {
	t.Helper()
	spans := make(endedSpans, 64)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithSpanProcessor(spans),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, spans
}

// next waits for the next span that ends.
func (e endedSpans) next(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	select {
	case s := <-e:
		return s
	case <-time.After(hangGuard):
		t.Fatal("no span ended")
		return nil
	}
}

// none asserts no span has ended. Call it once everything that could have
// made one is done.
func (e endedSpans) none(t *testing.T) {
	t.Helper()
	if n := len(e); n != 0 {
		t.Fatalf("%d spans ended, want none", n)
	}
}

// headerUpstream answers 200 and hands over the headers of each request.
func headerUpstream(t *testing.T, status int) (chan http.Header, *httptest.Server) {
	t.Helper()
	got := make(chan http.Header, 8)
	srv := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"id":"2819c223","userName":"ada@example.com"}`)
	})
	return got, srv
}

func nextHeader(t *testing.T, ch chan http.Header) http.Header {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(hangGuard):
		t.Fatal("the upstream got no request")
		return nil
	}
}

// parseTraceparent reads a forwarded traceparent the way a W3C-compliant
// upstream would.
func parseTraceparent(t *testing.T, h http.Header) trace.SpanContext {
	t.Helper()
	if n := len(h.Values("Traceparent")); n != 1 {
		t.Fatalf("upstream got %d traceparent headers (%q), want 1", n, h.Values("Traceparent"))
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
	if !sc.IsValid() {
		t.Fatalf("upstream got an invalid traceparent %q", h.Get("Traceparent"))
	}
	return sc
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func upstreamPortOf(t *testing.T, srv *httptest.Server) int64 {
	t.Helper()
	_, port, err := net.SplitHostPort(upstreamHostOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProxy_IncomingTraceContextLandsOnRecord(t *testing.T) {
	got, upstream := headerUpstream(t, http.StatusOK)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	resp := rawRequest(t, addr, "GET /Users/2819c223 HTTP/1.1\r\nHost: idp.example\r\n"+
		"Traceparent: "+idpTraceparent+"\r\nTracestate: "+idpTracestate+"\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	nextHeader(t, got)
	ex := rec.next(t)
	if ex.TraceID != idpTraceID || ex.SpanID != idpSpanID {
		t.Errorf("exchange trace %q span %q, want the IdP's %q %q", ex.TraceID, ex.SpanID, idpTraceID, idpSpanID)
	}
	r := scim.Deriver{}.Derive(scim.Input{Exchange: ex}).Record
	if r.TraceID != idpTraceID || r.SpanID != idpSpanID {
		t.Errorf("record trace_id %q span_id %q, want %q %q", r.TraceID, r.SpanID, idpTraceID, idpSpanID)
	}
}

// Without a TracerProvider the proxy only reads the trace context: the
// upstream gets every header exactly as the IdP sent it (plus the
// X-Forwarded-* the proxy always adds), traceparent and tracestate
// included, valid or not.
func TestProxy_WithoutTracingForwardsTraceHeadersUntouched(t *testing.T) {
	cases := map[string]struct {
		traceparent          string
		wantTrace, wantSpan  string
		omitTraceparentValue bool
	}{
		"valid":           {traceparent: idpTraceparent, wantTrace: idpTraceID, wantSpan: idpSpanID},
		"no traceparent":  {omitTraceparentValue: true},
		"malformed":       {traceparent: malformedTraceparents["version ff"]},
		"zero trace id":   {traceparent: malformedTraceparents["zero trace id"]},
		"upper case":      {traceparent: malformedTraceparents["upper case hex"]},
		"very long value": {traceparent: malformedTraceparents["very long header"]},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, upstream := headerUpstream(t, http.StatusOK)
			rec := newRecorder()
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

			sent := http.Header{
				"Authorization": {"Bearer token-0123456789"},
				"Accept":        {"application/scim+json"},
				"User-Agent":    {"Okta SCIM Client 1.0.0"},
				"X-Request-Id":  {"req-7"},
			}
			if !tc.omitTraceparentValue {
				sent["Traceparent"] = []string{tc.traceparent}
				sent["Tracestate"] = []string{idpTracestate}
			}
			var raw strings.Builder
			raw.WriteString("GET /Users?filter=userName%20eq%20%22ada%22 HTTP/1.1\r\nHost: idp.example\r\nConnection: close\r\n")
			for _, k := range slices.Sorted(maps.Keys(sent)) {
				fmt.Fprintf(&raw, "%s: %s\r\n", k, sent[k][0])
			}
			raw.WriteString("\r\n")
			if resp := rawRequest(t, addr, raw.String()); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}

			h := nextHeader(t, got)
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				h.Del(k)
			}
			if fmt.Sprint(h) != fmt.Sprint(sent) {
				t.Errorf("upstream headers differ from the IdP's:\n got %v\nwant %v", h, sent)
			}
			ex := rec.next(t)
			if ex.TraceID != tc.wantTrace || ex.SpanID != tc.wantSpan {
				t.Errorf("exchange trace %q span %q, want %q %q", ex.TraceID, ex.SpanID, tc.wantTrace, tc.wantSpan)
			}
		})
	}
}

func TestProxy_MalformedTraceparentIsIgnored(t *testing.T) {
	for name, tp := range malformedTraceparents {
		t.Run(name, func(t *testing.T) {
			_, upstream := headerUpstream(t, http.StatusOK)
			rec := newRecorder()
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/Users", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Traceparent", tp)
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ex := rec.next(t); ex.TraceID != "" || ex.SpanID != "" {
				t.Errorf("exchange trace %q span %q from %q, want none", ex.TraceID, ex.SpanID, tp)
			}
		})
	}
}

// A request with a traceparent, through a proxy with a TracerProvider:
// scimtrail's span is the caller's child, the upstream's parent, and the
// span the record names.
func TestProxy_TracingMakesProxySpanTheUpstreamsParent(t *testing.T) {
	tp, spans := newTracerProvider(t)
	got, upstream := headerUpstream(t, http.StatusOK)
	rec := newRecorder()
	token := "s3cr3t-bearer-token-value"
	sum := sha256.Sum256([]byte(token))
	cfg := proxy.Config{Upstream: upstream.URL, IdPs: []string{"okta=token-sha256:" + hex.EncodeToString(sum[:])}}
	addr, _ := startProxy(t, cfg, rec, nil, proxy.WithTracerProvider(tp))

	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	req, err := http.NewRequest(http.MethodPatch, "http://"+addr+"/Users/2819c223?attributes=userName", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Traceparent", idpTraceparent)
	req.Header.Set("Tracestate", idpTracestate)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	h := nextHeader(t, got)
	ex := rec.next(t)
	span := spans.next(t)
	sc := span.SpanContext()

	if span.Name() != "PATCH /Users/{id}" || span.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want \"PATCH /Users/{id}\" server", span.Name(), span.SpanKind())
	}
	if p := span.Parent(); p.TraceID().String() != idpTraceID || p.SpanID().String() != idpSpanID || !p.IsRemote() {
		t.Errorf("span parent %v, want the IdP's remote span %s/%s", p, idpTraceID, idpSpanID)
	}
	if sc.TraceID().String() != idpTraceID || sc.SpanID().String() == idpSpanID {
		t.Errorf("span context %v: want the IdP's trace and a span id of its own", sc)
	}

	up := parseTraceparent(t, h)
	if up.TraceID() != sc.TraceID() || up.SpanID() != sc.SpanID() || !up.IsSampled() {
		t.Errorf("upstream traceparent %q, want trace %s parent %s sampled", h.Get("Traceparent"), sc.TraceID(), sc.SpanID())
	}
	if ts := h.Get("Tracestate"); ts != idpTracestate {
		t.Errorf("upstream tracestate %q, want the IdP's %q carried on", ts, idpTracestate)
	}
	if ex.TraceID != sc.TraceID().String() || ex.SpanID != sc.SpanID().String() {
		t.Errorf("exchange trace %q span %q, want scimtrail's span %s %s", ex.TraceID, ex.SpanID, sc.TraceID(), sc.SpanID())
	}

	want := map[string]any{
		"http.request.method":       "PATCH",
		"url.path":                  "/Users/2819c223",
		"http.response.status_code": int64(200),
		"scim.idp_name":             "okta",
		"scim.resource_type":        "USER",
		"server.address":            "127.0.0.1",
		"server.port":               upstreamPortOf(t, upstream),
	}
	if attrs := attrMap(span.Attributes()); fmt.Sprint(attrs) != fmt.Sprint(want) {
		t.Errorf("span attributes\n got %v\nwant %v", attrs, want)
	}
	if span.Status().Code != codes.Unset {
		t.Errorf("span status %v, want unset for a 200", span.Status())
	}
	if !span.EndTime().After(span.StartTime()) && !span.EndTime().Equal(span.StartTime()) {
		t.Errorf("span ends %v before it starts %v", span.EndTime(), span.StartTime())
	}
	spans.none(t)
}

// spanText is everything a span would show a trace backend.
func spanText(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%v|%s|", s.Name(), s.Attributes(), s.Status().Description)
	for _, e := range s.Events() {
		fmt.Fprintf(&b, "%s|%v|", e.Name, e.Attributes)
	}
	for _, l := range s.Links() {
		fmt.Fprintf(&b, "%v|", l.Attributes)
	}
	return b.String()
}

// A span goes to a trace backend with other retention and other readers
// than the audit trail: no credential, body, query or look-up secret may
// reach it, and no id or e-mail may reach a span name.
func TestTracing_SpansNeverCarryCredentialsBodiesOrQuery(t *testing.T) {
	tp, spans := newTracerProvider(t)
	got, upstream := headerUpstream(t, http.StatusOK)
	rec := newRecorder()
	rec.onRecord = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		_, _, _ = fetch(ctx, "/Users/2819c223?attributes=userName")
	}
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil, proxy.WithTracerProvider(tp))

	secrets := []string{"s3cr3t-bearer-token-value", "hunter2-pw", "ada@example.com", "attributes", "Bearer"}
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","password":"hunter2-pw"}`
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/Users/2819c223?attributes=userName", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer s3cr3t-bearer-token-value")
	req.Header.Set("Traceparent", idpTraceparent)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	nextHeader(t, got) // the PUT
	nextHeader(t, got) // the look-up
	rec.next(t)

	// The look-up ends first: it runs inside the request's span.
	for _, want := range []string{"GET /Users/{id}", "PUT /Users/{id}"} {
		s := spans.next(t)
		if s.Name() != want {
			t.Errorf("span %q, want %q", s.Name(), want)
		}
		text := spanText(s)
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("span %q shows %q: %s", s.Name(), secret, text)
			}
		}
		if strings.Contains(s.Name(), "2819c223") {
			t.Errorf("span name %q holds the resource id", s.Name())
		}
	}
}

func TestProxy_TracedUpstreamFailureIsSpanError(t *testing.T) {
	// An address nothing listens on: the round trip fails, the proxy
	// answers 502 itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	tp, spans := newTracerProvider(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: "http://" + dead}, rec, nil, proxy.WithTracerProvider(tp))
	resp := rawRequest(t, addr, "DELETE /Users/2819c223 HTTP/1.1\r\nHost: idp.example\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	ex := rec.next(t)
	span := spans.next(t)
	if span.Status().Code != codes.Error || span.Status().Description != "upstream unreachable or failed" {
		t.Errorf("span status %+v, want Error with the fixed description", span.Status())
	}
	attrs := attrMap(span.Attributes())
	if attrs["http.response.status_code"] != int64(502) || attrs["error.type"] != "upstream_unreachable" {
		t.Errorf("span attributes %v, want status 502 and error.type upstream_unreachable", attrs)
	}
	if text := spanText(span); strings.Contains(text, "refused") || strings.Contains(text, "dial") || strings.Contains(text, dead) {
		t.Errorf("span shows the transport's error: %s", text)
	}
	if ex.StatusCode != http.StatusBadGateway || ex.SpanID != span.SpanContext().SpanID().String() {
		t.Errorf("exchange status %d span %q, want 502 and %s", ex.StatusCode, ex.SpanID, span.SpanContext().SpanID())
	}
}

func TestProxy_TracedStatusSetsSpanStatus(t *testing.T) {
	cases := []struct {
		status    int
		want      codes.Code
		errorType string
	}{
		{http.StatusOK, codes.Unset, ""},
		{http.StatusNotFound, codes.Unset, ""}, // the IdP's error, not the server's
		{http.StatusConflict, codes.Unset, ""},
		{http.StatusInternalServerError, codes.Error, "500"},
		{http.StatusServiceUnavailable, codes.Error, "503"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			tp, spans := newTracerProvider(t)
			_, upstream := headerUpstream(t, tc.status)
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, newRecorder(), nil, proxy.WithTracerProvider(tp))
			if resp := rawRequest(t, addr, "GET /Groups HTTP/1.1\r\nHost: idp.example\r\nConnection: close\r\n\r\n"); resp.StatusCode != tc.status {
				t.Fatalf("status %d", resp.StatusCode)
			}
			span := spans.next(t)
			attrs := attrMap(span.Attributes())
			if span.Status().Code != tc.want || attrs["http.response.status_code"] != int64(tc.status) {
				t.Errorf("span status %+v code attribute %v, want %v and %d", span.Status(), attrs["http.response.status_code"], tc.want, tc.status)
			}
			if et, _ := attrs["error.type"].(string); et != tc.errorType {
				t.Errorf("error.type %q, want %q", et, tc.errorType)
			}
			if span.Name() != "GET /Groups" || attrs["scim.resource_type"] != "GROUP" {
				t.Errorf("span %q resource type %v, want GET /Groups, GROUP", span.Name(), attrs["scim.resource_type"])
			}
		})
	}
}

func TestProxy_TracingWithoutTraceparentStartsRootTrace(t *testing.T) {
	cases := map[string]string{"no traceparent": "", "malformed traceparent": malformedTraceparents["zero trace id"]}
	for name, incoming := range cases {
		t.Run(name, func(t *testing.T) {
			tp, spans := newTracerProvider(t)
			got, upstream := headerUpstream(t, http.StatusOK)
			rec := newRecorder()
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil, proxy.WithTracerProvider(tp))
			raw := "GET /Users HTTP/1.1\r\nHost: idp.example\r\nConnection: close\r\n"
			if incoming != "" {
				raw += "Traceparent: " + incoming + "\r\n"
			}
			if resp := rawRequest(t, addr, raw+"\r\n"); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			h := nextHeader(t, got)
			ex := rec.next(t)
			span := spans.next(t)
			sc := span.SpanContext()
			if span.Parent().IsValid() {
				t.Errorf("span has parent %v, want a new root", span.Parent())
			}
			if up := parseTraceparent(t, h); up.TraceID() != sc.TraceID() || up.SpanID() != sc.SpanID() {
				t.Errorf("upstream traceparent %q, want %s/%s", h.Get("Traceparent"), sc.TraceID(), sc.SpanID())
			}
			if ex.TraceID != sc.TraceID().String() || ex.SpanID != sc.SpanID().String() {
				t.Errorf("exchange trace %q span %q, want %s %s", ex.TraceID, ex.SpanID, sc.TraceID(), sc.SpanID())
			}
		})
	}
}

func TestProxy_WithoutTracingNoTraceparentNoTraceIDs(t *testing.T) {
	got, upstream := headerUpstream(t, http.StatusOK)
	rec := newRecorder()
	rec.onPrepare = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		_, _, _ = fetch(ctx, ex.Path)
	}
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)
	if resp := rawRequest(t, addr, "DELETE /Users/1 HTTP/1.1\r\nHost: idp.example\r\nConnection: close\r\n\r\n"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, what := range []string{"look-up", "DELETE"} {
		if h := nextHeader(t, got); h.Get("Traceparent") != "" || h.Get("Tracestate") != "" {
			t.Errorf("%s reached the upstream with trace context %v", what, h)
		}
	}
	if ex := rec.next(t); ex.TraceID != "" || ex.SpanID != "" {
		t.Errorf("exchange trace %q span %q, want none", ex.TraceID, ex.SpanID)
	}
}

// A look-up made for a record is the proxy's own request: a Client span,
// child of the request's span, with a traceparent naming it.
func TestProxy_TracedLookupIsClientSpan(t *testing.T) {
	tp, spans := newTracerProvider(t)
	upstream := newSCIMUpstream(t, "")
	rec := newRecorder()
	rec.onPrepare = func(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
		if status, _, err := fetch(ctx, ex.Path); err != nil || status != http.StatusOK {
			t.Errorf("look-up: %d %v", status, err)
		}
	}
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.url}, rec, nil, proxy.WithTracerProvider(tp))
	resp := rawRequest(t, addr, "DELETE /Users/42 HTTP/1.1\r\nHost: idp.example\r\nTraceparent: "+idpTraceparent+"\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec.next(t)
	lookup, server := spans.next(t), spans.next(t)
	if lookup.SpanKind() != trace.SpanKindClient || lookup.Name() != "GET /Users/{id}" {
		t.Fatalf("first span %q kind %v, want the look-up's client span", lookup.Name(), lookup.SpanKind())
	}
	if server.SpanKind() != trace.SpanKindServer || server.Name() != "DELETE /Users/{id}" {
		t.Fatalf("second span %q kind %v, want the request's server span", server.Name(), server.SpanKind())
	}
	if lookup.Parent().SpanID() != server.SpanContext().SpanID() || lookup.SpanContext().TraceID().String() != idpTraceID {
		t.Errorf("look-up span parent %v trace %v, want child of %v in the IdP's trace", lookup.Parent().SpanID(), lookup.SpanContext().TraceID(), server.SpanContext().SpanID())
	}
	attrs := attrMap(lookup.Attributes())
	if attrs["http.request.method"] != "GET" || attrs["http.response.status_code"] != int64(200) || attrs["url.path"] != "/Users/42" ||
		attrs["server.address"] != "127.0.0.1" || lookup.Status().Code != codes.Unset {
		t.Errorf("look-up span attributes %v status %v", attrs, lookup.Status())
	}

	seen := upstream.requests()
	if len(seen) != 2 || seen[0].method != http.MethodGet || seen[1].method != http.MethodDelete {
		t.Fatalf("upstream saw %v, want the look-up then the DELETE", seen)
	}
	if sc := parseTraceparent(t, seen[0].header); sc.SpanID() != lookup.SpanContext().SpanID() || sc.TraceID().String() != idpTraceID {
		t.Errorf("look-up traceparent %q, want the look-up span %s", seen[0].header.Get("Traceparent"), lookup.SpanContext().SpanID())
	}
	if sc := parseTraceparent(t, seen[1].header); sc.SpanID() != server.SpanContext().SpanID() {
		t.Errorf("DELETE traceparent %q, want the server span %s", seen[1].header.Get("Traceparent"), server.SpanContext().SpanID())
	}
}

func TestProxy_TracingWithoutRecorder(t *testing.T) {
	tp, spans := newTracerProvider(t)
	got, upstream := headerUpstream(t, http.StatusOK)
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, nil, nil, proxy.WithTracerProvider(tp))
	resp := rawRequest(t, addr, "POST /Groups HTTP/1.1\r\nHost: idp.example\r\nTraceparent: "+idpTraceparent+
		"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := nextHeader(t, got)
	span := spans.next(t)
	if up := parseTraceparent(t, h); up.SpanID() != span.SpanContext().SpanID() || up.TraceID().String() != idpTraceID {
		t.Errorf("upstream traceparent %q, want the proxy's span %v", h.Get("Traceparent"), span.SpanContext().SpanID())
	}
	if span.Name() != "POST /Groups" || attrMap(span.Attributes())["scim.idp_name"] != proxy.UnknownIdP {
		t.Errorf("span %q attributes %v", span.Name(), span.Attributes())
	}
}

// Refused requests are not forwarded, so they make no span.
func TestProxy_RefusedRequestMakesNoSpan(t *testing.T) {
	tp, spans := newTracerProvider(t)
	_, upstream := headerUpstream(t, http.StatusOK)
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, newRecorder(), nil, proxy.WithTracerProvider(tp))
	resp := rawRequest(t, addr, "CONNECT elsewhere.example:443 HTTP/1.1\r\nHost: elsewhere.example:443\r\nTraceparent: "+idpTraceparent+"\r\n\r\n")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("status %d", resp.StatusCode)
	}
	spans.none(t)
}

func TestProxy_SpanNames(t *testing.T) {
	cases := map[string]string{
		"GET /scim/v2/Users":                        "GET /Users",
		"GET /scim/v2/Users/2819c223":               "GET /Users/{id}",
		"POST /tenants/acme/Users/.search":          "POST /Users/.search",
		"PATCH /Groups/e9e30dba":                    "PATCH /Groups/{id}",
		"GET /scim/v2/ServiceProviderConfig":        "GET /ServiceProviderConfig",
		"GET /scim/v2/Schemas/urn:ietf:params:scim": "GET /Schemas/{id}",
		"GET /scim/v2/ResourceTypes/User":           "GET /ResourceTypes/{id}",
		"POST /scim/v2/Bulk":                        "POST /Bulk",
		"GET /healthz":                              "GET",
		"GET /Users/42/extra/deep":                  "GET",
		"GET /scim/v2/users/42":                     "GET /Users/{id}",
	}
	for reqLine, want := range cases {
		t.Run(reqLine, func(t *testing.T) {
			tp, spans := newTracerProvider(t)
			_, upstream := headerUpstream(t, http.StatusOK)
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, nil, nil, proxy.WithTracerProvider(tp))
			rawRequest(t, addr, reqLine+" HTTP/1.1\r\nHost: idp.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if got := spans.next(t).Name(); got != want {
				t.Errorf("span name %q, want %q", got, want)
			}
		})
	}
}
