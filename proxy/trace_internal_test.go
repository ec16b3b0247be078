package proxy

import (
	"net/http/httptest"
	"testing"
)

// Without a TracerProvider, reading the trace context is the whole cost of
// tracing: nothing for a request without a traceparent, and only the
// header parse for one with it.
func TestTraceContext_WithoutTracerCostsOnlyTheHeaderParse(t *testing.T) {
	tr := newTracing(nil, "127.0.0.1", 9000)
	plain := httptest.NewRequest("GET", "/Users/1", nil)
	if n := testing.AllocsPerRun(100, func() { _ = tr.exchangeSpanContext(plain) }); n != 0 {
		t.Errorf("%v allocations for a request without traceparent, want 0", n)
	}
	traced := httptest.NewRequest("GET", "/Users/1", nil)
	traced.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	traced.Header.Set("Tracestate", "congo=t61rcWkgMzE")
	n := testing.AllocsPerRun(100, func() {
		if !tr.exchangeSpanContext(traced).IsValid() {
			t.Fatal("traceparent not read")
		}
	})
	// The propagator's parse (tracestate list, context) is about five; a
	// span, a writer wrapper or a header copy would pass the bound.
	if n > 8 {
		t.Errorf("%v allocations to read a traceparent, want at most 8", n)
	}
}
