package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/proxy"
)

func parseArgs(t *testing.T, args ...string) (config, error) {
	t.Helper()
	var c config
	fs := proxyFlags(&c)
	fs.SetOutput(io.Discard)
	err := parseProxyConfig(args, fs, &c)
	return c, err
}

func TestConfig_ValidFileFillsEveryKey(t *testing.T) {
	t.Setenv("OKTA_TOKEN_SHA256", strings.Repeat("ab", 32))
	t.Setenv("RECORDS_DIR", "")
	c, err := parseArgs(t, "--config", "testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Proxy: proxy.Config{
			Upstream:          "https://scim.internal:8443/scim/v2",
			UpstreamCAFile:    "/etc/scimtrail/upstream-ca.pem",
			UpstreamTimeout:   45 * time.Second,
			DialTimeout:       2 * time.Second,
			MaxIdleConns:      64,
			MaxBodyBytes:      2 << 20,
			IdPs:              []string{"okta=token-sha256:" + strings.Repeat("ab", 32), "entra=path-prefix:/scim/entra"},
			TrustedProxies:    []string{"10.0.0.0/8", "192.168.1.1"},
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
		},
		Audit: audit.Config{SkipReads: true, DisableLookup: true, Redact: []string{"pin", "secretAnswer"}},
		Spool: spool.Config{Dir: "/var/lib/scimtrail/spool", Sync: spool.SyncAlways, SyncInterval: 100 * time.Millisecond,
			MaxBytes: 512 << 20, FullPolicy: spool.Block},
		Kafka: kafka.Config{
			Brokers: []string{"kafka-1.internal:9093", "kafka-2.internal:9093"}, Topic: "scim-audit",
			Encoding: kafka.EncodingOTLPProto, Compression: "zstd", RequiredAcks: "all", MaxMessageBytes: 2_000_000,
			BatchSize: 200, BatchTimeout: 5 * time.Millisecond, WriteTimeout: 15 * time.Second, DialTimeout: 3 * time.Second,
			ClientID: "scimtrail-prod",
			TLS: kafka.TLSConfig{Enabled: true, CAFile: "/etc/scimtrail/kafka-ca.pem", CertFile: "/etc/scimtrail/kafka.crt",
				KeyFile: "/etc/scimtrail/kafka.key", ServerName: "kafka.internal"},
			SASL: kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "scimtrail", Password: "changeme"},
		},
		OTLP: otlp.Config{
			Endpoint: "https://otel-collector.observability:4317", Protocol: otlp.ProtocolGRPC, Compression: otlp.CompressionGzip,
			Headers: map[string]string{"x-tenant": "acme", "authorization": "Bearer changeme"},
			Timeout: 5 * time.Second, MaxBatchBytes: 2 << 20, BatchSize: 256, BatchTimeout: 100 * time.Millisecond,
			TLS: otlp.TLSConfig{CAFile: "/etc/scimtrail/otlp-ca.pem", CertFile: "/etc/scimtrail/otlp.crt", KeyFile: "/etc/scimtrail/otlp.key"},
		},
		OTLPTraces:        true,
		Listen:            ":8443",
		AdminListen:       "0.0.0.0:9464",
		TLSCert:           "/etc/scimtrail/tls.crt",
		TLSKey:            "/etc/scimtrail/tls.key",
		LogFile:           "/var/log/scimtrail/records.jsonl", // ${RECORDS_DIR:-…} with RECORDS_DIR empty
		StateDir:          "/var/lib/scimtrail",
		ShutdownTimeout:   20 * time.Second,
		LogLevel:          "debug",
		LogFormat:         "json",
		Lookup:            false,
		ConfigFile:        "testdata/valid.yaml",
		Registry:          "/var/lib/scimtrail/registry.db",
		RegistryRetention: 30 * 24 * time.Hour,
		Console: console.Config{
			Users:       []string{"alice:$2y$10$qdVwuP9IuGqN2v3kM3a0lO1bCw3m6FzYl0Xo4x8Cq5j8oGq0C7Z0e"},
			TokenSHA256: []string{strings.Repeat("cd", 32)},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestConfig_FlagsWinOverTheFile(t *testing.T) {
	t.Setenv("OKTA_TOKEN_SHA256", strings.Repeat("ab", 32))
	c, err := parseArgs(t, "--config", "testdata/valid.yaml", "--listen", "127.0.0.1:9999",
		"--idp", "jc=user-agent:JumpCloud", "--lookup=true")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || !reflect.DeepEqual(c.Proxy.IdPs, []string{"jc=user-agent:JumpCloud"}) ||
		c.Audit.DisableLookup || c.Proxy.Upstream != "https://scim.internal:8443/scim/v2" {
		t.Errorf("flags did not win, or the file was not read: %+v", c)
	}
}

func TestConfig_Defaults(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/scimtrail-systemd")
	c, err := parseArgs(t, "--upstream", "http://127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	if c.listen() != ":8080" || c.adminListen() != "127.0.0.1:9464" || c.logFile() != "-" || c.spool().Dir != "/var/lib/scimtrail-systemd/spool" ||
		c.stateDir() != "/var/lib/scimtrail-systemd" || c.shutdownTimeout() != 30*time.Second || c.Audit.DisableLookup {
		t.Errorf("defaults: %+v", c)
	}
}

// TestConfig_ProxyYAMLKeysAreFlags keeps proxy.Config's YAML tags and the
// command's flags one set of names.
func TestConfig_ProxyYAMLKeysAreFlags(t *testing.T) {
	var c config
	fs := proxyFlags(&c)
	rt := reflect.TypeFor[proxy.Config]()
	for i := range rt.NumField() {
		if key := rt.Field(i).Tag.Get("yaml"); fs.Lookup(key) == nil {
			t.Errorf("proxy.Config key %q has no flag", key)
		}
	}
}

func TestConfig_Invalid(t *testing.T) {
	raw, err := os.ReadFile("testdata/invalid_configs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name  string `yaml:"name"`
		YAML  string `yaml:"yaml"`
		Error string `yaml:"error"`
	}
	if err := yaml.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "scimtrail.yaml")
			if err := os.WriteFile(path, []byte(tc.YAML), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := parseArgs(t, "--config", path)
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.ReplaceAll(oneLine(err), path, "FILE")
			want := tc.Error
			if want == "PROXY" { // the proxy package's own message, tested there
				want = `"idp": "okta=token-sha256:abc": want 64 lower-case hex digits`
			}
			if got != want {
				t.Errorf("error\n got %q\nwant %q", got, want)
			}
			// "config check" refuses it the same way, in one line, status 2.
			var stdout, stderr strings.Builder
			if code := run(t.Context(), []string{"config", "check", "--config", path}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
				t.Fatalf("config check: status %d, stdout %q", code, stdout.String())
			}
			if line := strings.ReplaceAll(stderr.String(), path, "FILE"); line != "scimtrail config check: invalid configuration: "+want+"\n" {
				t.Errorf("config check said %q", line)
			}
		})
	}
}

// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is where the logs go, not a base the
// spans can go beside: "config check" says so rather than the first start.
func TestConfigCheck_OTLPTracesNeedABaseOrTracesEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318/v1/logs")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	args := []string{"config", "check", "--upstream", "http://127.0.0.1:9000", "--otlp-traces"}
	var stdout, stderr strings.Builder
	if code := run(t.Context(), args, &stdout, &stderr); code != 2 ||
		stderr.String() != `scimtrail config check: invalid configuration: "otlp-traces" needs "otlp-endpoint" (a base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`+"\n" {
		t.Errorf("status %d, stderr %q", code, stderr.String())
	}

	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
	c, err := parseArgs(t, "--upstream", "http://127.0.0.1:9000", "--otlp-traces")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := c.OTLP.TracesTarget(); err != nil || u.String() != "http://127.0.0.1:4318/v1/traces" {
		t.Errorf("traces target %v, %v", u, err)
	}

	// The general variable beside the logs one is the spans' base.
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
	stderr.Reset()
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Errorf("with OTEL_EXPORTER_OTLP_ENDPOINT: status %d, stderr %q", code, stderr.String())
	}
}

func TestConfigCheck_AcceptsAValidFileWithoutStarting(t *testing.T) {
	t.Setenv("OKTA_TOKEN_SHA256", strings.Repeat("ab", 32))
	var stdout, stderr strings.Builder
	// valid.yaml names certificate files that do not exist here and a
	// listener address: check reads neither.
	if code := run(t.Context(), []string{"config", "check", "--config", "testdata/valid.yaml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	if stdout.String() != "ok: testdata/valid.yaml\n" {
		t.Fatalf("stdout %q", stdout.String())
	}
	if code := run(t.Context(), []string{"config"}, &stdout, &stderr); code != 2 {
		t.Fatalf("config without check: status %d, want 2", code)
	}
}

// Flags win over the OTEL_* variables, a false too.
func TestConfig_OTLPInsecureFalseFlagWinsOverTheVariable(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	c, err := parseArgs(t, "--upstream", "http://127.0.0.1:9000", "--otlp-endpoint", "collector:4317", "--otlp-protocol", "grpc", "--otlp-insecure=false")
	if err != nil {
		t.Fatal(err)
	}
	if c.OTLP.TLS.Insecure {
		t.Error("--otlp-insecure=false lost to OTEL_EXPORTER_OTLP_INSECURE=true")
	}
	c, err = parseArgs(t, "--upstream", "http://127.0.0.1:9000", "--otlp-endpoint", "collector:4317", "--otlp-protocol", "grpc")
	if err != nil {
		t.Fatal(err)
	}
	if !c.OTLP.TLS.Insecure {
		t.Error("without the flag, OTEL_EXPORTER_OTLP_INSECURE=true was not applied")
	}
}
