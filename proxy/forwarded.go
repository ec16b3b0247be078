package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies decides whose forwarding headers are believed.
type trustedProxies []netip.Prefix

// contains reports whether a is a trusted proxy address.
func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the direct peer's IP address, invalid when RemoteAddr is not
// an IP (a Unix socket, a test request).
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// peerTrusted reports whether the direct peer of r is a trusted proxy.
func (t trustedProxies) peerTrusted(r *http.Request) bool {
	a := peerAddr(r)
	return a.IsValid() && t.contains(a)
}

// clientIP is the address recorded for the caller: the direct peer, or,
// when the peer is a trusted proxy, the rightmost X-Forwarded-For address
// that is not itself a trusted proxy (the leftmost when all are). Walking
// from the right stops at the first entry that does not parse, since nothing
// left of it was vouched for.
func (t trustedProxies) clientIP(r *http.Request) string {
	peer := peerAddr(r)
	if !peer.IsValid() {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if !t.contains(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseForwardedAddr(hops[i])
		if !ok {
			break
		}
		client = a
		if !t.contains(a) {
			break
		}
	}
	return client.String()
}

// parseForwardedAddr reads one X-Forwarded-For entry: an IP, tolerating the
// IP:port and [IPv6]:port forms some proxies write.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
