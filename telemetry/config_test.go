package telemetry_test

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/telemetry"
)

func TestTraceConfig_ValidAccepted(t *testing.T) {
	for name, c := range map[string]telemetry.TraceConfig{
		"http default":     {URL: "http://127.0.0.1:4318/v1/traces"},
		"http custom path": {URL: "https://otlp.example.com/otlp/v1/traces", TLS: &tls.Config{}},
		"grpc":             {Protocol: "grpc", URL: "http://127.0.0.1:4317"},
		"grpc no port":     {Protocol: "grpc", URL: "https://collector"},
		"grpc slash":       {Protocol: "grpc", URL: "http://collector:4317/"},
		"everything": {Protocol: "http/protobuf", URL: "http://c:4318/v1/traces", Compression: "none",
			Timeout: time.Second, Headers: map[string]string{"X-Api-Key": "k\tv"}},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTraceConfig_InvalidRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    telemetry.TraceConfig
		want string
	}{
		{"no url", telemetry.TraceConfig{}, `requires a non-empty "url"`},
		{"bad protocol", telemetry.TraceConfig{Protocol: "http/json", URL: "http://c:4318/v1/traces"},
			`"protocol" is "http/json"; want "grpc" or "http/protobuf"`},
		{"not http", telemetry.TraceConfig{URL: "collector:4318"},
			`"url" is "collector:4318"; want an http:// or https:// URL, e.g. http://127.0.0.1:4318/v1/traces`},
		{"credentials", telemetry.TraceConfig{URL: "http://user:hunter2@c:4318/v1/traces"},
			`"url" carries credentials; send them in "headers"`},
		{"credentials unparsed", telemetry.TraceConfig{URL: "http//user:hunter2@c:4318/v1/traces"},
			`"url" is (not shown: it may hold credentials); want an http:// or https:// URL, e.g. http://127.0.0.1:4318/v1/traces`},
		{"query", telemetry.TraceConfig{URL: "http://c:4318/v1/traces?x=1"},
			`"url" is "http://c:4318/v1/traces?x=1"; it must not have a query or fragment`},
		{"http without path", telemetry.TraceConfig{URL: "http://c:4318"},
			`"url" is "http://c:4318"; for http/protobuf give the full URL, e.g. http://c:4318/v1/traces`},
		{"grpc with path", telemetry.TraceConfig{Protocol: "grpc", URL: "http://c:4317/v1/traces"},
			`"url" is "http://c:4317/v1/traces"; for grpc give scheme://host:port only, without a path`},
		{"tls on plain text", telemetry.TraceConfig{URL: "http://c:4318/v1/traces", TLS: &tls.Config{}},
			`"tls" is set but "url" "http://c:4318/v1/traces" is plain text; use https:// for TLS`},
		{"compression", telemetry.TraceConfig{URL: "http://c:4318/v1/traces", Compression: "zstd"},
			`"compression" is "zstd"; want "gzip" or "none"`},
		{"timeout", telemetry.TraceConfig{URL: "http://c:4318/v1/traces", Timeout: -time.Second},
			`"timeout" must not be negative, got -1s`},
		{"header name", telemetry.TraceConfig{URL: "http://c:4318/v1/traces", Headers: map[string]string{"Bad Name": "v"}},
			`"headers": "Bad Name" is not a valid header name`},
		{"header value", telemetry.TraceConfig{URL: "http://c:4318/v1/traces", Headers: map[string]string{"X-Key": "v\r\nX-Evil: 1"}},
			`"headers": the value of "X-Key" has a control character`},
		{"several", telemetry.TraceConfig{Protocol: "x", Compression: "y"},
			"\"protocol\" is \"x\"; want \"grpc\" or \"http/protobuf\"\nrequires a non-empty \"url\"\n\"compression\" is \"y\"; want \"gzip\" or \"none\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("Validate() = %v\nwant %s", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "X-Evil")) {
				t.Errorf("message shows a secret: %v", err)
			}
		})
	}
}

// A TraceConfig printed or logged shows header names, never their values,
// which are API keys and bearer tokens.
func TestTraceConfig_PrintingNeverShowsHeaderValues(t *testing.T) {
	c := telemetry.TraceConfig{URL: "http://c:4318/v1/traces", Headers: map[string]string{"Authorization": "Bearer otlp-secret"}}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "traces", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logs.String()} {
		if strings.Contains(out, "otlp-secret") || !strings.Contains(out, "Authorization") {
			t.Errorf("printed config %q: want the header's name and not its value", out)
		}
	}
}

func TestTracesURL(t *testing.T) {
	for _, tc := range []struct{ protocol, endpoint, want string }{
		{"", "http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
		{"http/protobuf", "http://collector", "http://collector:4318/v1/traces"},
		{"http/protobuf", "https://otlp.example.com/otlp/", "https://otlp.example.com:4318/otlp/v1/traces"},
		{"http/protobuf", "http://collector:4318/v1/logs", "http://collector:4318/v1/traces"},
		{"http/protobuf", "http://collector:4318/v1/traces", "http://collector:4318/v1/traces"},
		{"grpc", "http://collector", "http://collector:4317"},
		{"grpc", "https://collector:14317/ignored", "https://collector:14317"},
		{"grpc", "http://[::1]:4317", "http://[::1]:4317"},
	} {
		got, err := telemetry.TracesURL(tc.protocol, tc.endpoint)
		if err != nil || got != tc.want {
			t.Errorf("TracesURL(%q, %q) = %q, %v; want %q", tc.protocol, tc.endpoint, got, err, tc.want)
		}
		cfg := telemetry.TraceConfig{Protocol: tc.protocol, URL: got}
		if err := cfg.Validate(); err != nil {
			t.Errorf("TracesURL(%q, %q) = %q, which Validate refuses: %v", tc.protocol, tc.endpoint, got, err)
		}
	}
	for _, tc := range []struct{ protocol, endpoint, want string }{
		{"grpc", "collector:4317", `telemetry: endpoint "collector:4317" is not an http:// or https:// URL`},
		{"http/json", "http://c", `telemetry: protocol "http/json"; want "grpc" or "http/protobuf"`},
		{"", "http://u:hunter2@c", "telemetry: endpoint carries credentials in the URL; send them in a header"},
	} {
		if _, err := telemetry.TracesURL(tc.protocol, tc.endpoint); err == nil || err.Error() != tc.want {
			t.Errorf("TracesURL(%q, %q) error %v, want %s", tc.protocol, tc.endpoint, err, tc.want)
		}
	}
}
