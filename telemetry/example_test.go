package telemetry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/telemetry"
)

func ExampleTracesURL() {
	// The OTLP endpoint the audit logs go to; the spans follow them.
	u, err := telemetry.TracesURL(telemetry.ProtocolHTTPProtobuf, "http://127.0.0.1:4318")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u)
	g, _ := telemetry.TracesURL(telemetry.ProtocolGRPC, "https://collector.internal")
	fmt.Println(g)
	// Output:
	// http://127.0.0.1:4318/v1/traces
	// https://collector.internal:4317
}

func ExampleNewTracerProvider() {
	ctx := context.Background()
	tp, err := telemetry.NewTracerProvider(ctx, telemetry.TraceConfig{
		Protocol: telemetry.ProtocolHTTPProtobuf,
		URL:      "http://127.0.0.1:4318/v1/traces",
		Headers:  map[string]string{"X-Api-Key": "from-a-secret"},
	}, telemetry.Options{Resource: schema.Resource{ServiceVersion: "1.0.0"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The caller owns the provider: Shutdown sends what is still queued.
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}()

	p, err := proxy.NewReverse(proxy.Config{Upstream: "http://127.0.0.1:9000"}, nil, nil,
		proxy.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Transport().CloseIdleConnections()
	fmt.Println("proxy traced")
	// Output: proxy traced
}
