package kafka_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/exporter/kafka"
)

func TestConfig_ValidAndDefaults(t *testing.T) {
	for name, cfg := range map[string]kafka.Config{
		"only brokers": {Brokers: []string{"127.0.0.1:9092"}},
		"everything": {
			Brokers:                []string{"kafka-0.kafka:9093", "[::1]:9093"},
			Topic:                  "audit.scim_v1-logs",
			Encoding:               kafka.EncodingOTLPProto,
			Compression:            "zstd",
			RequiredAcks:           "one",
			MaxMessageBytes:        64 << 10,
			BatchSize:              500,
			BatchTimeout:           5e6,
			WriteTimeout:           3e9,
			DialTimeout:            1e9,
			TLS:                    kafka.TLSConfig{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka.internal"},
			SASL:                   kafka.SASLConfig{Mechanism: "scram-sha-512", Username: "scimtrail", Password: "s3cret"},
			ClientID:               "scimtrail-eu",
			AllowAutoTopicCreation: true,
		},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// TestConfig_InvalidConfigs holds each refused config with its exact
// message, which names the flag.
func TestConfig_InvalidConfigs(t *testing.T) {
	ok := []string{"127.0.0.1:9092"}
	cases := []struct {
		name string
		cfg  kafka.Config
		want string
	}{
		{"no brokers", kafka.Config{}, `requires a non-empty "kafka-brokers"`},
		{"broker without port", kafka.Config{Brokers: []string{"kafka"}}, `"kafka-brokers": "kafka" is not host:port`},
		{"broker with bad port", kafka.Config{Brokers: []string{"kafka:99999"}}, `"kafka-brokers": "kafka:99999" is not host:port`},
		{"broker without host", kafka.Config{Brokers: []string{":9092"}}, `"kafka-brokers": ":9092" is not host:port`},
		{"topic with a space", kafka.Config{Brokers: ok, Topic: "scim logs"}, `"kafka-topic": "scim logs" is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ - (not "." or "..")`},
		{"topic dot-dot", kafka.Config{Brokers: ok, Topic: ".."}, `"kafka-topic": ".." is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ - (not "." or "..")`},
		{"topic too long", kafka.Config{Brokers: ok, Topic: strings.Repeat("t", 250)}, `"kafka-topic": "` + strings.Repeat("t", 250) + `" is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ - (not "." or "..")`},
		{"encoding", kafka.Config{Brokers: ok, Encoding: "xml"}, `"kafka-encoding": "xml" is not json or otlp_proto`},
		{"encoding case", kafka.Config{Brokers: ok, Encoding: "JSON"}, `"kafka-encoding": "JSON" is not json or otlp_proto`},
		{"compression", kafka.Config{Brokers: ok, Compression: "brotli"}, `"kafka-compression": "brotli" is not none, gzip, snappy, lz4 or zstd`},
		{"acks", kafka.Config{Brokers: ok, RequiredAcks: "-1"}, `"kafka-required-acks": "-1" is not all, one or none`},
		{"negative max message bytes", kafka.Config{Brokers: ok, MaxMessageBytes: -1}, `"kafka-max-message-bytes": must not be negative, got -1`},
		{"negative batch size", kafka.Config{Brokers: ok, BatchSize: -1}, `"kafka-batch-size": must not be negative, got -1`},
		{"negative batch timeout", kafka.Config{Brokers: ok, BatchTimeout: -1e6}, `"kafka-batch-timeout": must not be negative, got -1ms`},
		{"negative write timeout", kafka.Config{Brokers: ok, WriteTimeout: -1e9}, `"kafka-write-timeout": must not be negative, got -1s`},
		{"negative dial timeout", kafka.Config{Brokers: ok, DialTimeout: -1e9}, `"kafka-dial-timeout": must not be negative, got -1s`},
		{"max message bytes too small", kafka.Config{Brokers: ok, MaxMessageBytes: 2000}, `"kafka-max-message-bytes": 2000 is too small for "kafka-batch-size" 512: want at least 5632`},
		{"batch too large for messages", kafka.Config{Brokers: ok, BatchSize: 200_000}, `"kafka-max-message-bytes": 1000000 is too small for "kafka-batch-size" 200000: want at least 1601536`},
		{"TLS file without TLS", kafka.Config{Brokers: ok, TLS: kafka.TLSConfig{CAFile: "ca.pem"}}, `"kafka-tls-ca" is set but "kafka-tls" is off`},
		{"server name without TLS", kafka.Config{Brokers: ok, TLS: kafka.TLSConfig{ServerName: "kafka"}}, `"kafka-tls-server-name" is set but "kafka-tls" is off`},
		{"cert without key", kafka.Config{Brokers: ok, TLS: kafka.TLSConfig{Enabled: true, CertFile: "c.pem"}}, `"kafka-tls-cert" and "kafka-tls-key" must be set together`},
		{"unknown SASL mechanism", kafka.Config{Brokers: ok, SASL: kafka.SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, `"kafka-sasl-mechanism": "GSSAPI" is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"SASL without user", kafka.Config{Brokers: ok, SASL: kafka.SASLConfig{Mechanism: "PLAIN", Password: "p"}}, `"kafka-sasl-mechanism" PLAIN requires "kafka-sasl-username"`},
		{"SASL without password", kafka.Config{Brokers: ok, SASL: kafka.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}}, `"kafka-sasl-mechanism" SCRAM-SHA-256 requires "kafka-sasl-password"`},
		{"password without SASL", kafka.Config{Brokers: ok, SASL: kafka.SASLConfig{Password: "s3cret"}}, `"kafka-sasl-password" is set but "kafka-sasl-mechanism" is not`},
		{"user without SASL", kafka.Config{Brokers: ok, SASL: kafka.SASLConfig{Username: "u"}}, `"kafka-sasl-username" is set but "kafka-sasl-mechanism" is not`},
		{"several at once", kafka.Config{Encoding: "xml", Compression: "brotli"}, `requires a non-empty "kafka-brokers"
"kafka-encoding": "xml" is not json or otlp_proto
"kafka-compression": "brotli" is not none, gzip, snappy, lz4 or zstd`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.cfg)
			}
			if err.Error() != tc.want {
				t.Errorf("Validate:\n got %s\nwant %s", err, tc.want)
			}
			if _, err := kafka.New(tc.cfg, kafka.Options{}); err == nil || err.Error() != "kafka: "+tc.want {
				t.Errorf("New = %v, want the Validate error", err)
			}
		})
	}
}

func TestConfig_NeverPrintsSASLPassword(t *testing.T) {
	const password = "hunter2-correct-horse"
	cfg := kafka.Config{Brokers: []string{"127.0.0.1:9092"}, SASL: kafka.SASLConfig{Mechanism: "PLAIN", Username: "scimtrail", Password: password}}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s ", cfg, cfg, cfg, cfg.SASL)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "kafka", cfg, "sasl", cfg.SASL)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "kafka", cfg, "sasl", cfg.SASL)
	if strings.Contains(out.String(), password) {
		t.Fatalf("password printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "scimtrail") || !strings.Contains(out.String(), "REDACTED") {
		t.Fatalf("printed config lost the user or the redaction mark:\n%s", out.String())
	}
	bad := cfg
	bad.SASL.Mechanism = "SCRAM-SHA-256"
	bad.SASL.Password = "\u0007" + password // SASLprep refuses control characters
	if _, err := kafka.New(bad, kafka.Options{}); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("New = %v, want an error without the password", err)
	}
}
