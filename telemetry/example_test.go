package telemetry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/telemetry"
)

func ExampleNewTracerProvider() {
	ctx := context.Background()
	// The OTLP connection the audit logs take; the spans follow them, to
	// /v1/traces beside /v1/logs.
	cfg := otlp.Config{
		Endpoint: "http://127.0.0.1:4318",
		Headers:  map[string]string{"X-Api-Key": "from-a-secret"},
	}
	u, err := cfg.TracesTarget()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("spans to", u)
	tp, err := telemetry.NewTracerProvider(ctx, cfg, telemetry.Options{Resource: schema.Resource{ServiceVersion: "1.0.0"}})
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
	// Output:
	// spans to http://127.0.0.1:4318/v1/traces
	// proxy traced
}
