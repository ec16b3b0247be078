package otlp

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/internal/tlsfile"
)

// Protocols of Config.Protocol.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// Compressions of Config.Compression.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Defaults of Config, applied by its accessors when a field is zero.
const (
	// DefaultProtocol is the OTLP specification's default.
	DefaultProtocol = ProtocolHTTPProtobuf
	// DefaultCompression is the Collector's otlp exporter's default: audit
	// records are JSON-heavy text and shrink several times.
	DefaultCompression = CompressionGzip
	DefaultTimeout     = 10 * time.Second
	// DefaultMaxBatchBytes keeps a request under the 4 MiB a stock
	// Collector's gRPC receiver accepts, with room for framing.
	DefaultMaxBatchBytes = 3 << 20
	DefaultBatchSize     = 512
	// DefaultBatchTimeout is a tenth of the Collector batch processor's
	// default: a sidecar shares its core with the requests it proxies,
	// and the records a 200 ms wait gathers at 1,000 requests/s take
	// milliseconds to encode and compress in one go, during which the
	// requests wait (measured with scimtrail bench: +15 ms at p99 with
	// 200 ms, +3.4 ms with 20 ms). Under load, batches fill before it.
	DefaultBatchTimeout = 20 * time.Millisecond
	// DefaultGRPCPort and DefaultHTTPPort are OTLP's registered ports,
	// used when an endpoint names none.
	DefaultGRPCPort = "4317"
	DefaultHTTPPort = "4318"
	// LogsPath and TracesPath are where OTLP/HTTP takes logs and spans
	// under a base endpoint.
	LogsPath   = "/v1/logs"
	TracesPath = "/v1/traces"
)

// Config configures an Exporter, and the connection the proxy's own spans
// take to the same receiver (see TracesTarget). The zero value of every
// field but the endpoints means its documented default. Fields have no YAML
// tags: the command maps its flags (named below) and YAML keys onto them,
// then ApplyEnv fills what they left unset from the OTEL_* variables. A
// Config is a plain value, safe to copy; printing it (fmt, slog, JSON)
// never shows header values, which often carry credentials.
type Config struct {
	// Endpoint is the receiver's base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT
	// (--otlp-endpoint): http://host:port sends in plain text, https://
	// with TLS. With http/protobuf the logs go to /v1/logs and the spans
	// to /v1/traces under its path (a path already ending in either is
	// taken as that signal's URL: the other goes beside it); with grpc
	// only host and port count. A missing port is 4317 (grpc) or 4318 (http).
	// For grpc a bare host:port is allowed and means TLS unless Insecure.
	Endpoint string
	// LogsEndpoint is the full URL logs are sent to, as in
	// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: nothing is appended to it. It wins
	// over Endpoint when both come from the environment; a set Endpoint
	// from a flag or the config file wins over it.
	LogsEndpoint string
	// TracesEndpoint is the full URL spans are sent to, as in
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (it has no flag): nothing is
	// appended to it (with grpc only host and port count). Default:
	// /v1/traces under Endpoint. The logs sink ignores it, and so does
	// Validate: TracesTarget checks it, for the spans alone.
	TracesEndpoint string
	// Protocol is "grpc" or "http/protobuf". Default http/protobuf, the
	// OTLP specification's default (--otlp-protocol).
	Protocol string
	// Compression is "gzip" or "none". Default gzip (--otlp-compression).
	Compression string
	// Headers are sent with every request (--otlp-header k=v, repeatable),
	// e.g. an API key. Their values appear in no log line or printed Config.
	Headers map[string]string
	// Timeout bounds one export request. Default 10s (--otlp-timeout).
	Timeout time.Duration
	// MaxBatchBytes bounds one request's encoded (uncompressed) size; a
	// batch is split to stay under it. A single record larger than it
	// still goes alone. Default 3 MiB (--otlp-max-batch-bytes).
	MaxBatchBytes int
	// BatchSize is the most records in one request. Default 512
	// (--otlp-batch-size).
	BatchSize int
	// BatchTimeout is how long a batch smaller than BatchSize waits for
	// more records. Default 20ms (--otlp-batch-timeout).
	BatchTimeout time.Duration
	// TLS configures certificates; whether TLS is used at all follows the
	// endpoint's scheme.
	TLS TLSConfig
}

// TLSConfig configures TLS to the receiver. TLS 1.2 is the least version
// offered; the receiver's certificate is always verified.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs trusted for the receiver's
	// certificate; when set, only these are trusted. Default: the system
	// roots (--otlp-ca-file, OTEL_EXPORTER_OTLP_CERTIFICATE).
	CAFile string
	// CertFile and KeyFile, together, are the PEM client certificate and
	// key offered for mutual TLS (--otlp-cert-file, --otlp-key-file,
	// OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY).
	CertFile string
	KeyFile  string
	// Insecure sends gRPC in plain text to a bare host:port endpoint
	// (--otlp-insecure, OTEL_EXPORTER_OTLP_INSECURE); meant for a
	// Collector on loopback or in the same pod. An http:// endpoint is
	// plain text anyway, an https:// one never.
	Insecure bool
}

// String shows the header names, never their values: a Config printed
// with %v or %+v goes through it.
func (c Config) String() string {
	return fmt.Sprintf("{Endpoint:%s LogsEndpoint:%s TracesEndpoint:%s Protocol:%s Compression:%s Headers:%v Timeout:%v MaxBatchBytes:%d BatchSize:%d BatchTimeout:%v TLS:%+v}",
		c.Endpoint, c.LogsEndpoint, c.TracesEndpoint, c.Protocol, c.Compression, redactedHeaders(c.Headers),
		c.Timeout, c.MaxBatchBytes, c.BatchSize, c.BatchTimeout, c.TLS)
}

// GoString is String for %#v.
func (c Config) GoString() string { return "otlp.Config" + c.String() }

// LogValue keeps header values out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.url()),
		slog.String("protocol", c.protocol()),
		slog.String("compression", c.compression()),
		slog.Any("headers", redactedHeaders(c.Headers)),
	)
}

// MarshalJSON keeps header values out of JSON.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	p := plain(c)
	p.Headers = redactedHeaders(c.Headers)
	return json.Marshal(p)
}

func redactedHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k := range h {
		out[k] = "REDACTED"
	}
	return out
}

// RedactHeaderValues returns msg with every header value of c, and each of
// its words of 8 bytes or more (the token after "Bearer "), replaced: for a
// receiver's message, which may quote back the credential it refused.
func (c Config) RedactHeaderValues(msg string) string { return newSecrets(c.Headers).redact(msg) }

// Enabled reports whether an endpoint is configured: without one, there
// is no OTLP sink.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.LogsEndpoint != "" }

func (c Config) protocol() string    { return orString(c.Protocol, DefaultProtocol) }
func (c Config) compression() string { return orString(c.Compression, DefaultCompression) }
func (c Config) timeout() time.Duration {
	return positiveOr(c.Timeout, DefaultTimeout)
}
func (c Config) maxBatchBytes() int { return positiveOr(c.MaxBatchBytes, DefaultMaxBatchBytes) }

// BatchSizeOrDefault and BatchTimeoutOrDefault are the batching the spool
// applies for this sink.
func (c Config) BatchSizeOrDefault() int { return positiveOr(c.BatchSize, DefaultBatchSize) }
func (c Config) BatchTimeoutOrDefault() time.Duration {
	return positiveOr(c.BatchTimeout, DefaultBatchTimeout)
}

// MaxBatchBytesOrDefault is the request size bound, also given to the spool
// so its batches are about one request.
func (c Config) MaxBatchBytesOrDefault() int { return c.maxBatchBytes() }

// TimeoutOrDefault is the per-request timeout.
func (c Config) TimeoutOrDefault() time.Duration { return c.timeout() }

// ProtocolOrDefault and CompressionOrDefault are Protocol and Compression,
// their defaults applied.
func (c Config) ProtocolOrDefault() string    { return c.protocol() }
func (c Config) CompressionOrDefault() string { return c.compression() }

func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// url is where logs go: for http/protobuf the full URL; for grpc the
// endpoint as given, its port filled in.
func (c Config) url() string {
	u, err := c.target()
	if err != nil {
		return c.Endpoint
	}
	return u.String()
}

// target is where logs go: Endpoint with the logs path under it, else
// LogsEndpoint as it is.
func (c Config) target() (*url.URL, error) {
	if c.Endpoint != "" {
		return c.signalTarget(c.Endpoint, LogsPath)
	}
	if c.LogsEndpoint != "" {
		return c.signalTarget(c.LogsEndpoint, "")
	}
	return nil, errors.New("no endpoint")
}

// TracesTarget is where spans go, parsed as Target parses the logs'
// endpoint: TracesEndpoint as it is, else Endpoint with /v1/traces under
// its path. A LogsEndpoint alone is no help: it is a logs URL. The error
// names the setting at fault.
func (c Config) TracesTarget() (*url.URL, error) {
	switch {
	case c.TracesEndpoint != "":
		u, err := c.signalTarget(c.TracesEndpoint, "")
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
		return u, nil
	case c.Endpoint != "":
		u, err := c.signalTarget(c.Endpoint, TracesPath)
		if err != nil {
			return nil, fmt.Errorf(`"otlp-endpoint": %w`, err)
		}
		return u, nil
	}
	return nil, errors.New(`"otlp-traces" needs "otlp-endpoint" (a base URL) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
}

// signalTarget parses raw into a URL with scheme, host and port, and for
// http/protobuf a path. With signalPath "" raw is the signal's full URL
// and its path is kept; otherwise raw is a base URL and signalPath goes
// under its path, in place of a final /v1/logs or /v1/traces (a base given
// as one signal's URL serves the others beside it). A bare host:port (grpc
// only) gets scheme https, or http when Insecure.
func (c Config) signalTarget(raw, signalPath string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		// host:port parses as scheme "host", opaque "port".
		if c.protocol() != ProtocolGRPC || strings.Contains(raw, "/") {
			return nil, fmt.Errorf("%s is not an http:// or https:// URL", quoteURL(raw))
		}
		scheme := "https"
		if c.TLS.Insecure {
			scheme = "http"
		}
		u = &url.URL{Scheme: scheme, Host: raw}
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q carries credentials in the URL; use a header", redactURL(u))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s has a query or fragment", quoteURL(raw))
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Hostname(), ""
		if host == "" {
			return nil, fmt.Errorf("%s names no host", quoteURL(raw))
		}
	}
	if port == "" {
		port = DefaultHTTPPort
		if c.protocol() == ProtocolGRPC {
			port = DefaultGRPCPort
		}
	}
	out := &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}
	if c.protocol() == ProtocolHTTPProtobuf {
		p := u.Path
		if signalPath != "" {
			p = strings.TrimSuffix(p, "/")
			for _, s := range []string{LogsPath, TracesPath} {
				if base, ok := strings.CutSuffix(p, s); ok {
					p = base
					break
				}
			}
			p += signalPath
		}
		if p == "" {
			p = "/"
		}
		out.Path = p
	}
	return out, nil
}

// quoteURL quotes an endpoint for a message, unless it has an "@": it did
// not parse as user info, yet may still hold a password.
func quoteURL(raw string) string {
	if strings.Contains(raw, "@") {
		return "(not shown: it may hold credentials)"
	}
	return strconv.Quote(raw)
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Validate reports the first problem of c, quoting the flag (and YAML key)
// it concerns. It reads no files; New does. A Config with no endpoint is
// valid: it sends nothing. With any endpoint set, the settings both
// signals share are checked, and the logs' endpoint when there is one;
// TracesEndpoint is left to TracesTarget.
func (c Config) Validate() error {
	if !c.Enabled() && c.TracesEndpoint == "" {
		return nil
	}
	switch c.protocol() {
	case ProtocolGRPC, ProtocolHTTPProtobuf:
	case "http/json":
		return errors.New(`"otlp-protocol": http/json is not supported; use "grpc" or "http/protobuf"`)
	default:
		return fmt.Errorf(`"otlp-protocol" is %q; want "grpc" or "http/protobuf"`, c.Protocol)
	}
	if c.Enabled() {
		if _, err := c.target(); err != nil {
			return fmt.Errorf(`"otlp-endpoint": %w`, err)
		}
	}
	switch c.compression() {
	case CompressionGzip, CompressionNone:
	default:
		return fmt.Errorf(`"otlp-compression" is %q; want "gzip" or "none"`, c.Compression)
	}
	seen := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		if other, dup := seen[strings.ToLower(k)]; dup {
			// Header names are case-insensitive: both would be sent.
			return fmt.Errorf(`"otlp-header": %q and %q are the same header; give it once`, other, k)
		}
		seen[strings.ToLower(k)] = k
		if !validHeaderName(k) {
			// Not quoted: a name that is no HTTP token is most often a
			// "key: value" line cut at a "=" of its credential.
			return fmt.Errorf(`"otlp-header": a header name %s (the name is not shown: it may hold a credential; write key=value)`, whyInvalidName(k))
		}
		if !validHeaderValue(c.Headers[k]) {
			return fmt.Errorf(`"otlp-header": the value of %q has a control character`, k)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"otlp-timeout", c.Timeout}, {"otlp-batch-timeout", c.BatchTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%q is negative", d.name)
		}
	}
	if c.MaxBatchBytes < 0 {
		return errors.New(`"otlp-max-batch-bytes" is negative`)
	}
	if c.BatchSize < 0 {
		return errors.New(`"otlp-batch-size" is negative`)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New(`"otlp-cert-file" and "otlp-key-file" go together`)
	}
	return nil
}

// validHeaderName accepts an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if c >= 0x80 || !(c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~' ||
			('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// whyInvalidName says what makes k, not a valid header name, so: its first
// byte outside the token characters, without quoting k.
func whyInvalidName(k string) string {
	for i := range len(k) {
		if !validHeaderName(k[i : i+1]) {
			return fmt.Sprintf("has %q, which no header name may hold", k[i:i+1])
		}
	}
	return "is empty"
}

// validHeaderValue refuses what would split or end a header line.
func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// ClientTLS builds the TLS configuration for target (from Target or
// TracesTarget), reading the files; nil when target is plain text. Both
// signals build theirs here, so they trust the same CAs and offer the same
// client certificate.
func (c Config) ClientTLS(target *url.URL) (*tls.Config, error) {
	if target.Scheme != "https" {
		return nil, nil
	}
	return tlsfile.Client(tlsfile.Files{
		CAFile: c.TLS.CAFile, CAKey: "otlp-ca-file",
		CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, PairKeys: `"otlp-cert-file", "otlp-key-file"`,
	})
}

// Target is the parsed endpoint: scheme, host:port and, for http/protobuf,
// the logs path. Validate first.
func (c Config) Target() (*url.URL, error) { return c.target() }
