package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ForwardConfig configures the egress (forward) proxy and its listener. The
// zero value of every field but AllowHosts means its documented default.
// The YAML keys are the command-line flag names of "scimtrail forward".
type ForwardConfig struct {
	// AllowHosts are the destinations the proxy intercepts and forwards
	// to, as host or host:port (port 443 when none is given). Plain HTTP
	// (no CONNECT) goes only to a host:80 entry. A leading "*." allows every subdomain of what
	// follows. Every other destination is refused. Required.
	AllowHosts []string `yaml:"allow-host"`
	// Clients name the SCIM clients, "NAME=MATCHER" as Config.IdPs. The
	// first match wins; no match is UnknownIdP. Default: none.
	Clients []string `yaml:"client"`
	// UpstreamCAFile is a PEM bundle of the CAs trusted for the
	// destinations' certificates; when set, only these are trusted.
	// Default: the system roots. Verification is never skipped.
	UpstreamCAFile string `yaml:"upstream-ca-file"`
	// UpstreamTimeout bounds the wait for a destination's response headers.
	// Default 30s.
	UpstreamTimeout time.Duration `yaml:"upstream-timeout"`
	// DialTimeout bounds the TCP connect and the TLS handshake to a
	// destination. Default 5s.
	DialTimeout time.Duration `yaml:"dial-timeout"`
	// MaxIdleConns is the number of idle keep-alive connections kept per
	// destination. Default 256.
	MaxIdleConns int `yaml:"max-idle-conns"`
	// MaxBodyBytes is how much of each body is captured, as in Config.
	// Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max-body-bytes"`
	// ReadHeaderTimeout and IdleTimeout are the client side's timeouts, as
	// in Config. Defaults 10s and 120s. In a tunnel (which the listener's
	// timeouts no longer cover), the first read of the client's TLS
	// handshake waits at most ReadHeaderTimeout, and every later read or
	// write at most IdleTimeout.
	ReadHeaderTimeout time.Duration `yaml:"read-header-timeout"`
	IdleTimeout       time.Duration `yaml:"idle-timeout"`
}

// listener is the part of a ForwardConfig NewServer needs.
func (c ForwardConfig) listener() Config {
	return Config{ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: c.IdleTimeout}
}

// Validate reports every problem of c, each naming its key in quotes.
func (c ForwardConfig) Validate() error {
	var errs []error
	if len(c.AllowHosts) == 0 {
		errs = append(errs, errors.New(`requires at least one "allow-host"`))
	}
	if _, err := parseAllowHosts(c.AllowHosts); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseMatchers("client", c.Clients); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, connectionLimits(c.UpstreamTimeout, c.DialTimeout, c.ReadHeaderTimeout, c.IdleTimeout,
		c.MaxIdleConns, c.MaxBodyBytes)...)
	return errors.Join(errs...)
}

// allowList is the parsed AllowHosts: exact host:port entries, and
// "*.domain" entries matching any subdomain on their port.
type allowList struct {
	exact    map[string]bool // "host:port", lower case
	suffixes []allowSuffix
}

type allowSuffix struct{ suffix, port string } // suffix ".vendor.example"

// DefaultAllowPort is the port of an AllowHosts entry without one.
const DefaultAllowPort = "443"

func parseAllowHosts(specs []string) (allowList, error) {
	l := allowList{exact: map[string]bool{}}
	for _, spec := range specs {
		host, port, err := splitAllow(spec)
		if err != nil {
			return allowList{}, fmt.Errorf(`"allow-host": %q: %w`, spec, err)
		}
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			l.suffixes = append(l.suffixes, allowSuffix{suffix: "." + rest, port: port})
			continue
		}
		l.exact[net.JoinHostPort(host, port)] = true
	}
	return l, nil
}

func splitAllow(spec string) (host, port string, err error) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	if strings.ContainsAny(spec, "/@?# ") {
		return "", "", errors.New("want host or host:port, without scheme, path or credentials")
	}
	host, port = spec, DefaultAllowPort
	if h, p, err := net.SplitHostPort(spec); err == nil {
		host, port = h, p
	} else if strings.Count(spec, ":") > 1 && !strings.HasPrefix(spec, "[") {
		return "", "", errors.New("write an IPv6 address in brackets: [2001:db8::1]:443")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	bare := strings.TrimPrefix(host, "*.")
	if bare == "" || strings.Contains(bare, "*") {
		return "", "", errors.New(`want a host name, an IP address, or "*." and a domain`)
	}
	if strings.HasPrefix(host, "*.") && net.ParseIP(bare) != nil {
		return "", "", errors.New(`"*." goes with a domain name, not an address`)
	}
	for _, r := range bare {
		if r > 0x7f {
			return "", "", errors.New("write a non-ASCII host name in its xn-- form")
		}
	}
	return host, port, nil
}

// allowed reports whether host:port (as a dialer or CONNECT names it) is
// allowed, and returns it normalized.
func (l allowList) allowed(hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	norm := net.JoinHostPort(host, port)
	if l.exact[norm] {
		return norm, true
	}
	for _, s := range l.suffixes {
		if port == s.port && strings.HasSuffix(host, s.suffix) && len(host) > len(s.suffix) {
			return norm, true
		}
	}
	return "", false
}

func (c ForwardConfig) upstreamTimeout() time.Duration {
	return positiveOr(c.UpstreamTimeout, DefaultUpstreamTimeout)
}
func (c ForwardConfig) dialTimeout() time.Duration {
	return positiveOr(c.DialTimeout, DefaultDialTimeout)
}
func (c ForwardConfig) maxIdleConns() int   { return positiveOr(c.MaxIdleConns, DefaultMaxIdleConns) }
func (c ForwardConfig) maxBodyBytes() int64 { return positiveOr(c.MaxBodyBytes, DefaultMaxBodyBytes) }
