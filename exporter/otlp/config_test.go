package otlp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/exporter/otlp"
)

func TestConfig_TargetPerProtocol(t *testing.T) {
	cases := []struct {
		cfg  otlp.Config
		want string
	}{
		{otlp.Config{Endpoint: "http://127.0.0.1:4318"}, "http://127.0.0.1:4318/v1/logs"},
		{otlp.Config{Endpoint: "http://collector"}, "http://collector:4318/v1/logs"},
		{otlp.Config{Endpoint: "https://otlp.example.com/otlp/"}, "https://otlp.example.com:4318/otlp/v1/logs"},
		{otlp.Config{Endpoint: "https://otlp.example.com:443/v1/logs"}, "https://otlp.example.com:443/v1/logs"},
		// The logs-specific variable is a full URL: nothing is appended.
		{otlp.Config{LogsEndpoint: "https://ingest.example.com/api/logs"}, "https://ingest.example.com:4318/api/logs"},
		{otlp.Config{Endpoint: "http://collector", Protocol: otlp.ProtocolGRPC}, "http://collector:4317"},
		{otlp.Config{Endpoint: "https://collector:443/ignored", Protocol: otlp.ProtocolGRPC}, "https://collector:443"},
		{otlp.Config{Endpoint: "collector:4317", Protocol: otlp.ProtocolGRPC}, "https://collector:4317"},
		{otlp.Config{Endpoint: "collector:4317", Protocol: otlp.ProtocolGRPC, TLS: otlp.TLSConfig{Insecure: true}}, "http://collector:4317"},
		{otlp.Config{Endpoint: "http://[::1]:4318"}, "http://[::1]:4318/v1/logs"},
	}
	for _, tc := range cases {
		u, err := tc.cfg.Target()
		if err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
			continue
		}
		if u.String() != tc.want {
			t.Errorf("%s %q → %s, want %s", tc.cfg.Protocol, tc.cfg.Endpoint+tc.cfg.LogsEndpoint, u, tc.want)
		}
	}
}

// Spans go to the receiver the logs go to, beside them, unless
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT says where.
func TestConfig_TracesTarget(t *testing.T) {
	grpc := otlp.ProtocolGRPC
	for _, tc := range []struct {
		cfg  otlp.Config
		want string
	}{
		{otlp.Config{Endpoint: "http://127.0.0.1:4318"}, "http://127.0.0.1:4318/v1/traces"},
		{otlp.Config{Endpoint: "http://collector", Protocol: otlp.ProtocolHTTPProtobuf}, "http://collector:4318/v1/traces"},
		{otlp.Config{Endpoint: "https://otlp.example.com/otlp/"}, "https://otlp.example.com:4318/otlp/v1/traces"},
		{otlp.Config{Endpoint: "http://collector:4318/v1/logs"}, "http://collector:4318/v1/traces"},
		{otlp.Config{Endpoint: "http://collector:4318/v1/traces"}, "http://collector:4318/v1/traces"},
		{otlp.Config{Endpoint: "http://collector", Protocol: grpc}, "http://collector:4317"},
		{otlp.Config{Endpoint: "https://collector:14317/ignored", Protocol: grpc}, "https://collector:14317"},
		{otlp.Config{Endpoint: "http://[::1]:4317", Protocol: grpc}, "http://[::1]:4317"},
		{otlp.Config{Endpoint: "collector:4317", Protocol: grpc, TLS: otlp.TLSConfig{Insecure: true}}, "http://collector:4317"},
		// The traces-specific variable is a full URL: nothing is
		// appended, and it wins over the base endpoint.
		{otlp.Config{Endpoint: "http://collector:4318", TracesEndpoint: "https://ingest.example.com/api/spans"}, "https://ingest.example.com:4318/api/spans"},
		{otlp.Config{LogsEndpoint: "http://logs:4318/v1/logs", TracesEndpoint: "http://traces:4318/v1/traces"}, "http://traces:4318/v1/traces"},
		{otlp.Config{TracesEndpoint: "https://collector:14317/ignored", Protocol: grpc}, "https://collector:14317"},
	} {
		u, err := tc.cfg.TracesTarget()
		if err != nil || u.String() != tc.want {
			t.Errorf("%+v: TracesTarget = %v, %v; want %s", tc.cfg, u, err, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg  otlp.Config
		want string
	}{
		// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is the logs' URL, no base.
		{otlp.Config{LogsEndpoint: "http://collector:4318/v1/logs"},
			`"otlp-traces" needs "otlp-endpoint" (a base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`},
		{otlp.Config{}, `"otlp-traces" needs "otlp-endpoint" (a base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`},
		{otlp.Config{Endpoint: "collector:4317", Protocol: otlp.ProtocolHTTPProtobuf},
			`"otlp-endpoint": "collector:4317" is not an http:// or https:// URL`},
		{otlp.Config{Endpoint: "http://collector:4318", TracesEndpoint: "http://u:hunter2@collector:4318/v1/traces"},
			`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" carries credentials in the URL; use a header`},
		{otlp.Config{TracesEndpoint: "http//u:hunter2@collector:4318/v1/traces"},
			`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: (not shown: it may hold credentials) is not an http:// or https:// URL`},
		{otlp.Config{TracesEndpoint: "http://collector:4318/v1/traces?x=1"},
			`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces?x=1" has a query or fragment`},
	} {
		if _, err := tc.cfg.TracesTarget(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: TracesTarget error %v\nwant %s", tc.cfg, err, tc.want)
		}
	}
}

// TestConfig_InvalidConfigs holds each refused config with its exact
// message, which names the flag.
func TestConfig_InvalidConfigs(t *testing.T) {
	ep := "http://127.0.0.1:4318"
	cases := []struct {
		name string
		cfg  otlp.Config
		want string
	}{
		{"protocol", otlp.Config{Endpoint: ep, Protocol: "thrift"}, `"otlp-protocol" is "thrift"; want "grpc" or "http/protobuf"`},
		{"http/json", otlp.Config{Endpoint: ep, Protocol: "http/json"}, `"otlp-protocol": http/json is not supported; use "grpc" or "http/protobuf"`},
		{"scheme", otlp.Config{Endpoint: "ftp://collector:4318"}, `"otlp-endpoint": "ftp://collector:4318" is not an http:// or https:// URL`},
		{"bare host with http", otlp.Config{Endpoint: "collector:4318"}, `"otlp-endpoint": "collector:4318" is not an http:// or https:// URL`},
		{"credentials in URL", otlp.Config{Endpoint: "https://user:pw@collector"}, `"otlp-endpoint": "https://collector" carries credentials in the URL; use a header`},
		{"query", otlp.Config{Endpoint: ep + "?x=1"}, `"otlp-endpoint": "http://127.0.0.1:4318?x=1" has a query or fragment`},
		{"compression", otlp.Config{Endpoint: ep, Compression: "zstd"}, `"otlp-compression" is "zstd"; want "gzip" or "none"`},
		{"header name", otlp.Config{Endpoint: ep, Headers: map[string]string{"bad header": "v"}}, `"otlp-header": a header name has " ", which no header name may hold (the name is not shown: it may hold a credential; write key=value)`},
		{"header name is a credential", otlp.Config{Endpoint: ep, Headers: map[string]string{"Authorization: Basic c2VjcmV0": "="}}, `"otlp-header": a header name has ":", which no header name may hold (the name is not shown: it may hold a credential; write key=value)`},
		{"header value", otlp.Config{Endpoint: ep, Headers: map[string]string{"X-Key": "v\r\nX-Evil: 1"}}, `"otlp-header": the value of "X-Key" has a control character`},
		{"header value NUL", otlp.Config{Endpoint: ep, Headers: map[string]string{"X-Key": "v\x00"}}, `"otlp-header": the value of "X-Key" has a control character`},
		{"credentials unparsed", otlp.Config{Endpoint: "http//user:hunter2@collector"}, `"otlp-endpoint": (not shown: it may hold credentials) is not an http:// or https:// URL`},
		// Spans alone still need the shared settings right.
		{"traces only", otlp.Config{TracesEndpoint: ep + "/v1/traces", Compression: "zstd"}, `"otlp-compression" is "zstd"; want "gzip" or "none"`},
		{"timeout", otlp.Config{Endpoint: ep, Timeout: -time.Second}, `"otlp-timeout" is negative`},
		{"batch timeout", otlp.Config{Endpoint: ep, BatchTimeout: -time.Second}, `"otlp-batch-timeout" is negative`},
		{"max batch bytes", otlp.Config{Endpoint: ep, MaxBatchBytes: -1}, `"otlp-max-batch-bytes" is negative`},
		{"batch size", otlp.Config{Endpoint: ep, BatchSize: -1}, `"otlp-batch-size" is negative`},
		{"header twice in two cases", otlp.Config{Endpoint: ep, Headers: map[string]string{"X-Key": "a", "x-key": "b"}}, `"otlp-header": "X-Key" and "x-key" are the same header; give it once`},
		{"cert without key", otlp.Config{Endpoint: ep, TLS: otlp.TLSConfig{CertFile: "c.pem"}}, `"otlp-cert-file" and "otlp-key-file" go together`},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate = %v\nwant %s", tc.name, err, tc.want)
		}
	}
	if err := (otlp.Config{}).Validate(); err != nil {
		t.Errorf("a disabled config is valid, got %v", err)
	}
	// A tab is part of a header value; so is any byte past ASCII.
	if err := (otlp.Config{Endpoint: ep, Headers: map[string]string{"X-Key": "a\tb é"}}).Validate(); err != nil {
		t.Errorf("header value with a tab: %v", err)
	}
	// The traces endpoint is TracesTarget's to check: the variable may be
	// set for other programs while this one sends no spans.
	if err := (otlp.Config{Endpoint: ep, TracesEndpoint: "ftp://elsewhere"}).Validate(); err != nil {
		t.Errorf("Validate checked the traces endpoint: %v", err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig_ApplyEnv_FlagsWinLogsSpecificWins(t *testing.T) {
	vars := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":           "http://general:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    "http://traces:4318/v1/traces",
		"OTEL_EXPORTER_OTLP_PROTOCOL":           "grpc",
		"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL":      "http/protobuf",
		"OTEL_EXPORTER_OTLP_HEADERS":            "api-key=from%20env,x-tenant=acme",
		"OTEL_EXPORTER_OTLP_COMPRESSION":        "none",
		"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT":       "2500",
		"OTEL_EXPORTER_OTLP_TIMEOUT":            "9000",
		"OTEL_EXPORTER_OTLP_CERTIFICATE":        "/etc/ca.pem",
		"OTEL_EXPORTER_OTLP_LOGS_INSECURE":      "true",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":         "/etc/k.pem",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/c.pem",
	}
	var c otlp.Config
	if err := c.ApplyEnv(env(vars)); err != nil {
		t.Fatal(err)
	}
	want := otlp.Config{
		Endpoint: "http://general:4318", TracesEndpoint: "http://traces:4318/v1/traces",
		Protocol: "http/protobuf", Compression: "none",
		Headers: map[string]string{"api-key": "from env", "x-tenant": "acme"},
		Timeout: 2500 * time.Millisecond,
		TLS:     otlp.TLSConfig{CAFile: "/etc/ca.pem", CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem", Insecure: true},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("from the environment:\n got %#v\nwant %#v", c, want)
	}

	// What flags set stays; headers merge.
	flags := otlp.Config{Endpoint: "https://flag:4318", TracesEndpoint: "https://set:4318/t", Protocol: "grpc",
		Compression: "gzip", Timeout: time.Second, Headers: map[string]string{"api-key": "from flag"}}
	if err := flags.ApplyEnv(env(vars)); err != nil {
		t.Fatal(err)
	}
	if flags.Endpoint != "https://flag:4318" || flags.LogsEndpoint != "" || flags.TracesEndpoint != "https://set:4318/t" || flags.Protocol != "grpc" ||
		flags.Compression != "gzip" || flags.Timeout != time.Second ||
		!reflect.DeepEqual(flags.Headers, map[string]string{"api-key": "from flag", "x-tenant": "acme"}) {
		t.Errorf("flags lost to the environment: %#v", flags)
	}

	// The logs endpoint beats the general one.
	var l otlp.Config
	vars["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = "https://logs.example.com/ingest"
	if err := l.ApplyEnv(env(vars)); err != nil {
		t.Fatal(err)
	}
	if l.LogsEndpoint != "https://logs.example.com/ingest" || l.Endpoint != "" {
		t.Errorf("endpoint %q, logs endpoint %q", l.Endpoint, l.LogsEndpoint)
	}
}

func TestConfig_ApplyEnv_MalformedValuesNameTheVariable(t *testing.T) {
	for want, vars := range map[string]map[string]string{
		`OTEL_EXPORTER_OTLP_TIMEOUT is "10s"; want milliseconds`:              {"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
		`OTEL_EXPORTER_OTLP_LOGS_INSECURE is "yes"; want true or false`:       {"OTEL_EXPORTER_OTLP_LOGS_INSECURE": "yes"},
		`OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value`:                {"OTEL_EXPORTER_OTLP_HEADERS": "a=b,s3cret"},
		`OTEL_EXPORTER_OTLP_LOGS_HEADERS: value of "k": bad percent-encoding`: {"OTEL_EXPORTER_OTLP_LOGS_HEADERS": "k=%zz"},
		`OTEL_EXPORTER_OTLP_HEADERS: entry 1: bad percent-encoding`:           {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Basic s3cret=%zz"},
	} {
		var c otlp.Config
		if err := c.ApplyEnv(env(vars)); err == nil || err.Error() != want {
			t.Errorf("%v: ApplyEnv = %v\nwant %s", vars, err, want)
		}
	}
	var c otlp.Config
	err := c.ApplyEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20tok,broken"}))
	if err == nil || strings.Contains(err.Error(), "tok") || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_HEADERS") {
		t.Errorf("bad headers variable: %v (must name the variable and not show values)", err)
	}
}

func TestConfig_ResourceFromEnv(t *testing.T) {
	name, attrs, err := otlp.ResourceFromEnv(env(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,deployment.environment.name=prod,k8s.pod.name=scim%2D0",
	}))
	if err != nil || name != "from-attrs" || !reflect.DeepEqual(attrs, map[string]string{"deployment.environment.name": "prod", "k8s.pod.name": "scim-0"}) {
		t.Errorf("got %q %v %v", name, attrs, err)
	}
	name, _, _ = otlp.ResourceFromEnv(env(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs",
		"OTEL_SERVICE_NAME":        "scim-sidecar",
	}))
	if name != "scim-sidecar" {
		t.Errorf("OTEL_SERVICE_NAME must win, got %q", name)
	}
}

// Header values are often credentials: no way of printing a Config shows
// them.
func TestConfig_NeverPrintsHeaderValues(t *testing.T) {
	c := otlp.Config{Endpoint: "https://collector", Headers: map[string]string{"Authorization": "Bearer s3cret-token"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "otlp", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "otlp", c)
	js, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(js), logged.String()} {
		if strings.Contains(out, "s3cret") {
			t.Errorf("header value printed: %s", out)
		}
		if !strings.Contains(out, "Authorization") {
			t.Errorf("header name missing (it helps to see which are set): %s", out)
		}
	}
}

// Header names are case-insensitive: a flag's "Authorization" keeps its
// value against the variable's "authorization", rather than both being
// sent (gRPC metadata) or either winning by map order (HTTP).
func TestConfig_ApplyEnv_FlagHeaderWinsWhateverTheCase(t *testing.T) {
	c := otlp.Config{Headers: map[string]string{"Authorization": "Bearer from-flag"}}
	if err := c.ApplyEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20from-env,x-tenant=acme"})); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"Authorization": "Bearer from-flag", "x-tenant": "acme"}; !reflect.DeepEqual(c.Headers, want) {
		t.Errorf("headers %v, want %v", c.Headers, want)
	}
}

// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT takes the logs elsewhere; the general
// OTEL_EXPORTER_OTLP_ENDPOINT set beside it is still the spans' base, as
// for any OpenTelemetry SDK.
func TestConfig_ApplyEnv_GeneralEndpointStillServesTheSpans(t *testing.T) {
	for proto, want := range map[string]string{
		otlp.ProtocolHTTPProtobuf: "http://general:4318/base/v1/traces",
		otlp.ProtocolGRPC:         "http://general:4318",
	} {
		c := otlp.Config{Protocol: proto}
		if err := c.ApplyEnv(env(map[string]string{
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/ingest",
			"OTEL_EXPORTER_OTLP_ENDPOINT":      "http://general:4318/base",
		})); err != nil {
			t.Fatal(err)
		}
		if u, err := c.Target(); err != nil || !strings.HasPrefix(u.String(), "http://logs:4318") {
			t.Errorf("%s: logs go to %v, %v", proto, u, err)
		}
		if u, err := c.TracesTarget(); err != nil || u.String() != want {
			t.Errorf("%s: spans go to %v, %v; want %s", proto, u, err, want)
		}
	}
}
