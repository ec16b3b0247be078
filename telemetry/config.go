package telemetry

import (
	"crypto/tls"
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
)

// Protocols of TraceConfig.Protocol.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// Compressions of TraceConfig.Compression.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Defaults of TraceConfig, applied when a field is zero.
const (
	// DefaultProtocol is the OTLP specification's default.
	DefaultProtocol    = ProtocolHTTPProtobuf
	DefaultCompression = CompressionGzip
	DefaultTimeout     = 10 * time.Second
	// DefaultGRPCPort and DefaultHTTPPort are OTLP's registered ports, used
	// by TracesURL (and for a grpc URL) when an endpoint names none.
	DefaultGRPCPort = "4317"
	DefaultHTTPPort = "4318"
	// TracesPath is where OTLP/HTTP takes traces under a base endpoint.
	TracesPath = "/v1/traces"
)

// logsPath is where OTLP/HTTP takes logs; TracesURL swaps it for TracesPath.
const logsPath = "/v1/logs"

// TraceConfig says where and how spans are exported. The zero value of
// every field but URL means its documented default. It is a plain value,
// safe to copy; printing it (fmt, slog) never shows header values, which
// often carry credentials.
type TraceConfig struct {
	// Protocol is "grpc" or "http/protobuf". Default http/protobuf.
	Protocol string
	// URL is where spans go. For http/protobuf, the full URL, path
	// included, used as it is: http://127.0.0.1:4318/v1/traces. For grpc,
	// scheme://host:port (no path); a missing port is 4317. http:// sends
	// in plain text, https:// with TLS. Required; TracesURL derives it
	// from a base endpoint such as OTEL_EXPORTER_OTLP_ENDPOINT's.
	URL string
	// Headers are sent with every export (HTTP headers, or gRPC metadata),
	// e.g. an API key. Default none.
	Headers map[string]string
	// TLS configures an https:// URL: trusted CAs, a client certificate.
	// nil means the system roots, TLS 1.2 at least. It must be nil for an
	// http:// URL, which is plain text. The receiver's certificate is
	// verified either way unless TLS says otherwise.
	TLS *tls.Config
	// Compression is "gzip" or "none". Default gzip.
	Compression string
	// Timeout bounds one export request. Default 10s.
	Timeout time.Duration
}

func (c TraceConfig) protocol() string    { return orString(c.Protocol, DefaultProtocol) }
func (c TraceConfig) compression() string { return orString(c.Compression, DefaultCompression) }
func (c TraceConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Validate reports every problem of c, each naming the field it concerns
// in quotes, joined with errors.Join. No message shows a header value or
// credentials from the URL.
func (c TraceConfig) Validate() error {
	var errs []error
	switch c.protocol() {
	case ProtocolGRPC, ProtocolHTTPProtobuf:
	default:
		errs = append(errs, fmt.Errorf(`"protocol" is %q; want "grpc" or "http/protobuf"`, c.Protocol))
	}
	if _, err := c.target(); err != nil {
		errs = append(errs, err)
	}
	switch c.compression() {
	case CompressionGzip, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf(`"compression" is %q; want "gzip" or "none"`, c.Compression))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf(`"timeout" must not be negative, got %v`, c.Timeout))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf(`"headers": %q is not a valid header name`, k))
		} else if !validHeaderValue(c.Headers[k]) {
			errs = append(errs, fmt.Errorf(`"headers": the value of %q has a control character`, k))
		}
	}
	return errors.Join(errs...)
}

// target is the URL spans go to: for grpc scheme://host:port, for
// http/protobuf the URL as configured.
func (c TraceConfig) target() (*url.URL, error) {
	if c.URL == "" {
		return nil, errors.New(`requires a non-empty "url"`)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Error quotes the input, which could hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf(`"url": not a URL: %w`, err)
	}
	if u.User != nil {
		return nil, errors.New(`"url" carries credentials; send them in "headers"`)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf(`"url" is %s; want an http:// or https:// URL, e.g. http://127.0.0.1:4318/v1/traces`, quoteURL(c.URL))
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(c.URL, "#") {
		return nil, fmt.Errorf(`"url" is %s; it must not have a query or fragment`, quoteURL(c.URL))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf(`"url" is %s; it names no host`, quoteURL(c.URL))
	}
	if c.TLS != nil && u.Scheme != "https" {
		return nil, fmt.Errorf(`"tls" is set but "url" %s is plain text; use https:// for TLS`, quoteURL(c.URL))
	}
	switch c.protocol() {
	case ProtocolGRPC:
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf(`"url" is %s; for grpc give scheme://host:port only, without a path`, quoteURL(c.URL))
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = DefaultGRPCPort
		}
		return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}, nil
	case ProtocolHTTPProtobuf:
		if u.Path == "" {
			return nil, fmt.Errorf(`"url" is %s; for http/protobuf give the full URL, e.g. %s`,
				quoteURL(c.URL), (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: TracesPath}).String())
		}
	}
	return u, nil
}

// validHeaderName accepts an HTTP token (RFC 9110, 5.6.2).
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

// validHeaderValue refuses what would split or end a header line.
func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// String shows the header names, never their values: a TraceConfig printed
// with %v or %+v goes through it.
func (c TraceConfig) String() string {
	return fmt.Sprintf("{Protocol:%s URL:%s Headers:%v TLS:%t Compression:%s Timeout:%v}",
		c.protocol(), printableURL(c.URL), redactedHeaders(c.Headers), c.TLS != nil, c.compression(), c.timeout())
}

// GoString is String for %#v.
func (c TraceConfig) GoString() string { return "telemetry.TraceConfig" + c.String() }

// LogValue keeps header values out of structured logs.
func (c TraceConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", printableURL(c.URL)),
		slog.String("protocol", c.protocol()),
		slog.String("compression", c.compression()),
		slog.Any("headers", redactedHeaders(c.Headers)),
	)
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

// TracesURL derives TraceConfig.URL from an OTLP base endpoint, as
// OTEL_EXPORTER_OTLP_ENDPOINT gives it, or from the logs URL under one, so
// spans go to the receiver the logs go to. For http/protobuf, /v1/traces
// goes under the endpoint's path, replacing a final /v1/logs
// (http://collector:4318 and http://collector:4318/v1/logs both give
// http://collector:4318/v1/traces). For grpc, only scheme, host and port
// count. A missing port is OTLP's: 4318, or 4317 for grpc. protocol ""
// means DefaultProtocol. endpoint must be an http:// or https:// URL.
func TracesURL(protocol, endpoint string) (string, error) {
	protocol = orString(protocol, DefaultProtocol)
	if protocol != ProtocolGRPC && protocol != ProtocolHTTPProtobuf {
		return "", fmt.Errorf(`telemetry: protocol %q; want "grpc" or "http/protobuf"`, protocol)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("telemetry: endpoint %s is not an http:// or https:// URL", quoteURL(endpoint))
	}
	if u.User != nil {
		return "", errors.New("telemetry: endpoint carries credentials in the URL; send them in a header")
	}
	port := u.Port()
	if port == "" {
		port = DefaultHTTPPort
		if protocol == ProtocolGRPC {
			port = DefaultGRPCPort
		}
	}
	out := url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Hostname(), port)}
	if protocol == ProtocolHTTPProtobuf {
		p := strings.TrimSuffix(u.Path, "/")
		switch {
		case strings.HasSuffix(p, TracesPath):
		case strings.HasSuffix(p, logsPath):
			p = strings.TrimSuffix(p, logsPath) + TracesPath
		default:
			p += TracesPath
		}
		out.Path = p
	}
	return out.String(), nil
}

// quoteURL quotes a URL for a message, unless it has an "@": it may not
// have parsed as user info, yet still be a password.
func quoteURL(raw string) string {
	if strings.Contains(raw, "@") {
		return hiddenURL
	}
	return strconv.Quote(raw)
}

// printableURL is quoteURL unquoted, for String and LogValue.
func printableURL(raw string) string {
	if strings.Contains(raw, "@") {
		return hiddenURL
	}
	return raw
}

const hiddenURL = "(not shown: it may hold credentials)"
