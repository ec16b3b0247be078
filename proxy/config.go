package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config, applied by its accessors when a field is zero.
const (
	DefaultUpstreamTimeout   = 30 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultMaxIdleConns      = 256
	DefaultMaxBodyBytes      = 1 << 20 // 1 MiB
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// Config configures the reverse proxy and its listener. The zero value of
// every field but Upstream means its documented default. The YAML keys are
// the command-line flag names. A Config is a plain value; it is safe to copy
// and to use from several goroutines as long as nobody writes to it.
type Config struct {
	// Upstream is the SCIM service, an absolute http or https URL such as
	// http://127.0.0.1:9000 or https://scim.internal/scim/v2 (a base path
	// is joined in front of every request path). Required. It must not
	// carry credentials.
	Upstream string `yaml:"upstream"`
	// UpstreamCAFile is a PEM bundle of the CAs trusted for an https
	// upstream. When set, only these CAs are trusted (not the system's).
	// Default: the system roots.
	UpstreamCAFile string `yaml:"upstream-ca-file"`
	// UpstreamTimeout bounds the wait for the upstream's response headers
	// once the request is written; exceeding it answers 504. It does not
	// bound a response body that is streaming. Default 30s.
	UpstreamTimeout time.Duration `yaml:"upstream-timeout"`
	// DialTimeout bounds the TCP connect and, separately, the TLS handshake
	// to the upstream. Default 5s.
	DialTimeout time.Duration `yaml:"dial-timeout"`
	// MaxIdleConns is the number of idle keep-alive connections kept to the
	// upstream. Default 256.
	MaxIdleConns int `yaml:"max-idle-conns"`
	// MaxBodyBytes is how much of each request and response body is
	// captured into an Exchange (and the most a look-up reads). Longer
	// bodies still stream through untouched; the capture is marked
	// truncated. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max-body-bytes"`
	// IdPs identify the sender of a request, as "NAME=MATCHER" where
	// MATCHER is token-sha256:HEX (the lower-case hex SHA-256 of the bearer
	// token), path-prefix:/PATH or user-agent:SUBSTRING. The first match
	// wins; no match is UnknownIdP. See ParseIdPs. Default: none.
	IdPs []string `yaml:"idp"`
	// TrustedProxies are the CIDRs (or single addresses) of proxies in
	// front of this one whose X-Forwarded-For, X-Forwarded-Host and
	// X-Forwarded-Proto are believed. Default: none, so a client cannot
	// choose the address recorded for it.
	TrustedProxies []string `yaml:"trusted-proxies"`
	// ReadHeaderTimeout bounds how long the listener waits for a client's
	// request headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read-header-timeout"`
	// IdleTimeout is how long the listener keeps an idle client keep-alive
	// connection open. Default 120s.
	IdleTimeout time.Duration `yaml:"idle-timeout"`
}

// Validate reports every problem of c, each naming the offending key in
// quotes, joined with errors.Join. It reads no files: an unreadable
// UpstreamCAFile is reported by NewReverse.
func (c Config) Validate() error {
	var errs []error
	if c.Upstream == "" {
		errs = append(errs, errors.New(`requires a non-empty "upstream"`))
	} else if _, err := parseUpstream(c.Upstream); err != nil {
		errs = append(errs, err)
	} else if c.UpstreamCAFile != "" && !strings.HasPrefix(strings.ToLower(c.Upstream), "https:") {
		errs = append(errs, errors.New(`"upstream-ca-file" is set but "upstream" is not an https URL`))
	}
	errs = append(errs, connectionLimits(c.UpstreamTimeout, c.DialTimeout, c.ReadHeaderTimeout, c.IdleTimeout,
		c.MaxIdleConns, c.MaxBodyBytes)...)
	if _, err := ParseIdPs(c.IdPs); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) upstreamTimeout() time.Duration {
	return positiveOr(c.UpstreamTimeout, DefaultUpstreamTimeout)
}
func (c Config) dialTimeout() time.Duration { return positiveOr(c.DialTimeout, DefaultDialTimeout) }
func (c Config) maxIdleConns() int          { return positiveOr(c.MaxIdleConns, DefaultMaxIdleConns) }
func (c Config) maxBodyBytes() int64        { return positiveOr(c.MaxBodyBytes, DefaultMaxBodyBytes) }
func (c Config) readHeaderTimeout() time.Duration {
	return positiveOr(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}
func (c Config) idleTimeout() time.Duration { return positiveOr(c.IdleTimeout, DefaultIdleTimeout) }

// connectionLimits checks the settings both proxy modes share: none may
// be negative (zero means the default).
func connectionLimits(upstreamTimeout, dialTimeout, readHeaderTimeout, idleTimeout time.Duration, maxIdleConns int, maxBodyBytes int64) []error {
	var errs []error
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"upstream-timeout", upstreamTimeout},
		{"dial-timeout", dialTimeout},
		{"read-header-timeout", readHeaderTimeout},
		{"idle-timeout", idleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%q: must not be negative, got %v", d.key, d.v))
		}
	}
	if maxIdleConns < 0 {
		errs = append(errs, fmt.Errorf(`"max-idle-conns": must not be negative, got %d`, maxIdleConns))
	}
	if maxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf(`"max-body-bytes": must not be negative, got %d`, maxBodyBytes))
	}
	return errs
}

// newOptions applies opts over the defaults, and defaults a nil logger to
// one that discards.
func newOptions(logger *slog.Logger, opts []Option) (options, *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{now: time.Now, retryAfter: DefaultRetryAfter}
	for _, opt := range opts {
		opt(&o)
	}
	return o, logger
}

// positiveOr is the one place a zero (unset) setting becomes its default.
func positiveOr[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// parseUpstream checks the upstream URL. Its messages never echo a URL that
// carries credentials.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input; an unparsable URL could hold a
		// password, so only the reason is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf(`"upstream": not a URL: %w`, err)
	}
	if u.User != nil {
		return nil, errors.New(`"upstream": must not contain credentials (user info)`)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf(`"upstream": %q: want an absolute http or https URL, e.g. http://127.0.0.1:9000`, raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf(`"upstream": %q: must not have a fragment`, raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf(`"upstream": %q: has no host name`, raw)
	}
	for _, r := range host {
		if r > 0x7f {
			return nil, fmt.Errorf(`"upstream": %q: write a non-ASCII host name in its xn-- form`, raw)
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf(`"upstream": %q: bad port %q`, raw, p)
		}
	}
	return u, nil
}

// parseTrustedProxies parses CIDRs or single addresses into masked prefixes.
func parseTrustedProxies(specs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(specs))
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf(`"trusted-proxies": %q: want a CIDR such as 10.0.0.0/8 or an IP address`, s)
	}
	return out, nil
}

// unmappedBits keeps ::ffff:10.0.0.0/104 meaning 10.0.0.0/8.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		if b := p.Bits() - 96; b >= 0 {
			return b
		}
		return 0
	}
	return p.Bits()
}
