package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scimtrail/scimtrail/proxy"
)

func ExampleWithTracerProvider() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 00-<trace id>-<parent span id>-<flags>
		parts := strings.Split(r.Header.Get("Traceparent"), "-")
		fmt.Println("upstream: same trace:", parts[1] == "4bf92f3577b34da6a3ce929d0e0e4736",
			"parent is the IdP's span:", parts[2] == "00f067aa0ba902b7")
	}))
	defer upstream.Close()

	// In the binary the provider exports over OTLP (package telemetry).
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	recorded := make(chanRecorder, 1)
	p, err := proxy.NewReverse(proxy.Config{Upstream: upstream.URL}, recorded, nil, proxy.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Transport().CloseIdleConnections()
	front := httptest.NewServer(p)
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/Users/2819c223", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := front.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	ex := <-recorded
	// The span ends when the handler returns, after Record; Close waits
	// for that.
	front.Close()
	span := spans.Ended()[0]
	fmt.Println("span:", span.Name(), span.SpanKind())
	fmt.Println("record names the span:", ex.SpanID == span.SpanContext().SpanID().String())
	// Output:
	// upstream: same trace: true parent is the IdP's span: false
	// span: GET /Users/{id} server
	// record names the span: true
}
