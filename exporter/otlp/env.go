package otlp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ApplyEnv fills the fields c leaves unset from the standard OpenTelemetry
// exporter variables, read through getenv (os.Getenv in the command), so
// flags and the config file win over the environment. For each setting the
// logs-specific variable wins over the general one, as the specification
// says:
//
//	OTEL_EXPORTER_OTLP_LOGS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT
//	OTEL_EXPORTER_OTLP_LOGS_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL
//	OTEL_EXPORTER_OTLP_LOGS_HEADERS / OTEL_EXPORTER_OTLP_HEADERS
//	OTEL_EXPORTER_OTLP_LOGS_COMPRESSION / OTEL_EXPORTER_OTLP_COMPRESSION
//	OTEL_EXPORTER_OTLP_LOGS_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT (ms)
//	OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE / OTEL_EXPORTER_OTLP_CERTIFICATE
//	OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE / …_CLIENT_CERTIFICATE
//	OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY / …_CLIENT_KEY
//	OTEL_EXPORTER_OTLP_LOGS_INSECURE / OTEL_EXPORTER_OTLP_INSECURE
//
// TracesEndpoint, when unset, is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else,
// when OTEL_EXPORTER_OTLP_LOGS_ENDPOINT took the logs, /v1/traces under
// OTEL_EXPORTER_OTLP_ENDPOINT (the specification's base for every signal). The
// other settings serve the spans as they are, logs-specific variables
// included: the two signals share one connection's settings.
//
// Headers merge: a header set by a flag keeps its value (names compared
// without regard to case), the variables add the others.
// OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT turns the OTLP sink on, as it does for
// any OpenTelemetry SDK; the traces one does not. A
// malformed value is an error naming the variable.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	get := func(suffix string) (string, string) {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_LOGS_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
			if v := strings.TrimSpace(getenv(name)); v != "" {
				return name, v
			}
		}
		return "", ""
	}
	// spansBase is OTEL_EXPORTER_OTLP_ENDPOINT when the logs variable
	// took the logs elsewhere: it is still the spans' base.
	var spansBase string
	if c.Endpoint == "" && c.LogsEndpoint == "" {
		if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")); v != "" {
			c.LogsEndpoint = v
			spansBase = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		} else if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
			c.Endpoint = v
		}
	}
	if c.TracesEndpoint == "" {
		c.TracesEndpoint = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	}
	defer func() {
		// After the protocol and TLS settings are known. A base that does
		// not parse is left out: the logs do not use it, and TracesTarget
		// then says what the spans lack.
		if c.TracesEndpoint == "" && spansBase != "" {
			if u, err := c.signalTarget(spansBase, TracesPath); err == nil {
				c.TracesEndpoint = u.String()
			}
		}
	}()
	if _, v := get("PROTOCOL"); c.Protocol == "" && v != "" {
		c.Protocol = v
	}
	if _, v := get("COMPRESSION"); c.Compression == "" && v != "" {
		c.Compression = v
	}
	if name, v := get("HEADERS"); v != "" {
		h, err := ParseHeaders(v)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		set := map[string]bool{}
		for k := range c.Headers {
			// Header names are case-insensitive: "authorization" from
			// the variable must not join the flag's "Authorization".
			set[strings.ToLower(k)] = true
		}
		for k, val := range h {
			if !set[strings.ToLower(k)] {
				if c.Headers == nil {
					c.Headers = map[string]string{}
				}
				c.Headers[k] = val
			}
		}
	}
	if name, v := get("TIMEOUT"); c.Timeout == 0 && v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%s is %q; want milliseconds", name, v)
		}
		c.Timeout = time.Duration(ms) * time.Millisecond
	}
	if _, v := get("CERTIFICATE"); c.TLS.CAFile == "" {
		c.TLS.CAFile = v
	}
	if _, v := get("CLIENT_CERTIFICATE"); c.TLS.CertFile == "" {
		c.TLS.CertFile = v
	}
	if _, v := get("CLIENT_KEY"); c.TLS.KeyFile == "" {
		c.TLS.KeyFile = v
	}
	if name, v := get("INSECURE"); !c.TLS.Insecure && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s is %q; want true or false", name, v)
		}
		c.TLS.Insecure = b
	}
	return nil
}

// ParseHeaders reads the W3C Baggage-like list the OTEL_* header and
// resource variables use: "k1=v1,k2=v2", values percent-decoded, blanks
// around keys and values dropped.
func ParseHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// Say where, not what: the entry may be a credential.
			return nil, fmt.Errorf("entry %d is not key=value", i+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			if !validHeaderName(k) {
				// Likely "name: credential" cut at a "=": not shown.
				return nil, fmt.Errorf("entry %d: bad percent-encoding", i+1)
			}
			return nil, fmt.Errorf("value of %q: bad percent-encoding", k)
		}
		out[k] = dv
	}
	return out, nil
}

// ResourceFromEnv reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: the
// service name (empty when neither sets it; OTEL_SERVICE_NAME wins) and the
// other attributes.
func ResourceFromEnv(getenv func(string) string) (serviceName string, attrs map[string]string, err error) {
	if v := strings.TrimSpace(getenv("OTEL_RESOURCE_ATTRIBUTES")); v != "" {
		attrs, err = ParseHeaders(v)
		if err != nil {
			return "", nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
		serviceName = attrs["service.name"]
		delete(attrs, "service.name")
	}
	if v := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); v != "" {
		serviceName = v
	}
	return serviceName, attrs, nil
}
