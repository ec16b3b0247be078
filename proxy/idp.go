package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// UnknownIdP is the IdP name of a request that no matcher claims.
const UnknownIdP = "unknown"

// Matcher kinds, the part of a MATCHER before the first colon.
const (
	MatchTokenSHA256 = "token-sha256"
	MatchPathPrefix  = "path-prefix"
	MatchUserAgent   = "user-agent"
)

// Matcher claims requests for one named IdP. Build it with ParseIdPs. Only a
// token-sha256 matcher authenticates the sender; path-prefix and user-agent
// matchers classify what a client chooses to send and can be spoofed by
// anyone who can reach the proxy. The zero Matcher matches nothing. A Matcher
// is immutable and safe for concurrent use.
type Matcher struct {
	// Name is the IdP name a match yields.
	Name string
	// Kind is MatchTokenSHA256, MatchPathPrefix or MatchUserAgent.
	Kind string

	digest []byte // token-sha256: the 32-byte SHA-256 of the token
	value  string // path-prefix: the prefix; user-agent: the lower-cased substring
}

// IdPs is an ordered list of matchers; the first that matches names the
// IdP. The nil IdPs names every request UnknownIdP. It is immutable and safe
// for concurrent use.
type IdPs []Matcher

// ParseIdPs parses "NAME=MATCHER" specs (see Config.IdPs):
//
//   - token-sha256:HEX matches a request whose "Authorization: Bearer TOKEN"
//     (scheme in any case) has SHA-256(TOKEN) = HEX, 64 lower-case hex
//     digits. The comparison is constant-time; the token is never kept.
//   - path-prefix:/PATH matches a URL path equal to /PATH or below it
//     (/PATH/…); a prefix ending in "/" matches anything starting with it.
//   - user-agent:SUBSTRING matches a User-Agent containing SUBSTRING,
//     ignoring case.
//
// A name may repeat (one IdP with two tokens); UnknownIdP is reserved. The
// error quotes the key and the offending spec.
func ParseIdPs(specs []string) (IdPs, error) { return parseMatchers("idp", specs) }

// parseMatchers parses specs of the config key key ("idp", or "client" in
// egress mode).
func parseMatchers(key string, specs []string) (IdPs, error) {
	out := make(IdPs, 0, len(specs))
	for _, spec := range specs {
		m, err := parseMatcher(spec)
		if err != nil {
			return nil, fmt.Errorf(`%q: %q: %w`, key, spec, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func parseMatcher(spec string) (Matcher, error) {
	name, matcher, ok := strings.Cut(spec, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Matcher{}, errors.New("want NAME=MATCHER")
	}
	if name == UnknownIdP {
		return Matcher{}, fmt.Errorf("the name %q is reserved for requests no IdP matches", UnknownIdP)
	}
	kind, value, ok := strings.Cut(matcher, ":")
	if !ok {
		return Matcher{}, fmt.Errorf("want MATCHER as KIND:VALUE with KIND %s, %s or %s", MatchTokenSHA256, MatchPathPrefix, MatchUserAgent)
	}
	m := Matcher{Name: name, Kind: kind}
	switch kind {
	case MatchTokenSHA256:
		if len(value) != 2*sha256.Size || strings.Trim(value, "0123456789abcdef") != "" {
			return Matcher{}, errors.New("want 64 lower-case hex digits")
		}
		d, err := hex.DecodeString(value)
		if err != nil {
			return Matcher{}, errors.New("want 64 lower-case hex digits")
		}
		m.digest = d
	case MatchPathPrefix:
		if !strings.HasPrefix(value, "/") {
			return Matcher{}, errors.New(`want a path prefix starting with "/"`)
		}
		m.value = value
	case MatchUserAgent:
		if value == "" {
			return Matcher{}, errors.New("want a non-empty User-Agent substring")
		}
		m.value = strings.ToLower(value)
	default:
		return Matcher{}, fmt.Errorf("unknown matcher %q (want %s, %s or %s)", kind, MatchTokenSHA256, MatchPathPrefix, MatchUserAgent)
	}
	return m, nil
}

// Identify names the IdP that sent r: the Name of the first matcher that
// matches, else UnknownIdP. It hashes the bearer token at most once and
// keeps nothing of it.
func (m IdPs) Identify(r *http.Request) string {
	var digest []byte // computed on first need
	for i := range m {
		switch m[i].Kind {
		case MatchTokenSHA256:
			if digest == nil {
				digest = bearerDigest(r)
			}
			if len(digest) == sha256.Size && subtle.ConstantTimeCompare(digest, m[i].digest) == 1 {
				return m[i].Name
			}
		case MatchPathPrefix:
			if pathUnder(cleanPath(r.URL.Path), m[i].value) {
				return m[i].Name
			}
		case MatchUserAgent:
			if strings.Contains(strings.ToLower(r.UserAgent()), m[i].value) {
				return m[i].Name
			}
		}
	}
	return UnknownIdP
}

// Names lists every value Identify can return: the configured names in
// order, without repeats, followed by UnknownIdP. It suits bounded metric
// label values.
func (m IdPs) Names() []string {
	names := make([]string, 0, len(m)+1)
	seen := make(map[string]bool, len(m)+1)
	for _, x := range m {
		if !seen[x.Name] {
			seen[x.Name] = true
			names = append(names, x.Name)
		}
	}
	return append(names, UnknownIdP)
}

// bearerDigest returns SHA-256 of the request's bearer token, or an empty
// non-nil slice when there is none (so it is not computed twice).
func bearerDigest(r *http.Request) []byte {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return []byte{}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return []byte{}
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// cleanPath resolves dot segments, so that /scim/entra/../okta/Users is
// matched as the /scim/okta/Users an upstream that normalises paths serves.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// pathUnder reports whether path is prefix or lies below it, by segments.
func pathUnder(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}
