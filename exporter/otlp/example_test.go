package otlp_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/schema"
)

// Example sends one record to an OTLP/HTTP receiver and shows the log
// record it became. An httptest server stands in for a Collector.
func Example() {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body) // gzip is the default compression
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, _ := io.ReadAll(zr)
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		lr := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		email, _ := lr.Attributes().Get("user.email")
		fmt.Println(r.URL.Path, r.Header.Get("X-Tenant"))
		fmt.Println(lr.EventName(), lr.SeverityText(), email.Str())
		fmt.Println(lr.Body().Str())
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	sink, err := otlp.New(otlp.Config{
		Endpoint: collector.URL, // http/protobuf to <endpoint>/v1/logs by default
		Headers:  map[string]string{"X-Tenant": "acme"},
	}, otlp.Options{})
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	rec := schema.Record{
		ID:           "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10",
		Timestamp:    time.Date(2026, 11, 27, 13, 30, 0, 0, time.UTC),
		IdPName:      "okta",
		Action:       "POST",
		ResourceType: schema.ResourceUser,
		UserEmail:    "bjensen@example.com",
		Outcome:      schema.OutcomeSuccess,
		StatusCode:   201,
		RequestBody:  `{"userName":"bjensen@example.com","password":"[REDACTED]"}`,
		Path:         "/scim/v2/Users",
		Events:       []string{"user.created"},
	}
	if err := sink.Export(context.Background(), []schema.Record{rec}); err != nil {
		panic(err) // the spool would retry unless exporter.IsPermanent(err)
	}
	// Output:
	// /v1/logs acme
	// scim.user.created INFO bjensen@example.com
	// {"userName":"bjensen@example.com","password":"[REDACTED]"}
}

// The proxy's spans go to the receiver the logs go to, beside them.
func ExampleConfig_TracesTarget() {
	for _, c := range []otlp.Config{
		{Endpoint: "http://127.0.0.1:4318"},
		{Endpoint: "https://collector.internal/v1/logs"},
		{Endpoint: "https://collector.internal", Protocol: otlp.ProtocolGRPC},
		// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is.
		{Endpoint: "http://127.0.0.1:4318", TracesEndpoint: "https://traces.example.com/ingest"},
	} {
		logs, _ := c.Target()
		traces, _ := c.TracesTarget()
		fmt.Println(logs, traces)
	}
	// Output:
	// http://127.0.0.1:4318/v1/logs http://127.0.0.1:4318/v1/traces
	// https://collector.internal:4318/v1/logs https://collector.internal:4318/v1/traces
	// https://collector.internal:4317 https://collector.internal:4317
	// http://127.0.0.1:4318/v1/logs https://traces.example.com:4318/ingest
}
