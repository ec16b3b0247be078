// Package proxy is the HTTP side of scimtrail: the reverse (sidecar) mode
// built on httputil.ReverseProxy, the egress (forward) mode built on goproxy,
// the capture of each request and its answer
// into a scim.Exchange handed to a Recorder, the identification of the
// identity provider (IdP) that sent a request, and the safety rules that keep
// a sidecar from becoming an open proxy.
//
// # Safety rules
//
// The reverse proxy talks to exactly one upstream, fixed at construction:
//
//   - Every request goes to the configured upstream, whatever its request
//     target says: an absolute-form target (GET http://elsewhere/x) is
//     rewritten onto the upstream, and the transport's dialer refuses any
//     address but the upstream's, so neither the proxy nor the capture's
//     look-ups (scim.FetchFunc) can reach another host.
//   - CONNECT (and every method SCIM does not use, TRACE included) is
//     answered 405 with an Allow header and never tunnelled.
//   - Protocol upgrades (WebSocket, h2c) are answered 501: SCIM never
//     upgrades, and a tunnelled connection could not be captured.
//   - Hop-by-hop headers are removed in both directions (RFC 9110, 7.6.1),
//     including Proxy-Authorization and any header named in Connection.
//   - X-Forwarded-For/-Host/-Proto sent by the client are discarded unless
//     the direct peer is a configured trusted proxy.
//   - Upstream failures are answered with a fixed SCIM error body (502, or
//     504 on timeout); internal error text never reaches the client.
//   - No proxy from the environment (HTTP_PROXY…) is used, and an https
//     upstream is always verified.
//
// The egress proxy (Forward) is an HTTPS_PROXY for an in-house SCIM client:
//
//   - A CONNECT to an allowlisted host:port is intercepted with a leaf
//     certificate from the configured CA (never goproxy's built-in one);
//     any other CONNECT is answered 403 and no connection is made. There
//     is no plain tunnel.
//   - Inside a tunnel, a request naming another host (Host header or
//     absolute form) is answered 403; plain HTTP goes only to a host
//     allowlisted on port 80. The transport's dialer refuses every
//     address not allowlisted, and verifies every destination's
//     certificate (system roots or a configured CA); goproxy's default
//     transport, which skips verification, is replaced.
//   - The same method and upgrade rules as the reverse proxy apply, and
//     the same Recorder receives the exchange (Direction egress,
//     Destination the host), held until recorded; with a TracerProvider
//     each request gets a Server span, as in the reverse mode.
//
// # Capture
//
// Capture wraps the ReverseProxy from outside: the request body and the
// response body are teed as they stream, up to a limit, and never held back
// or buffered whole. The Authorization header never enters an Exchange; the
// IdP's bearer token is only ever hashed, and lives otherwise only inside the
// scim.FetchFunc given to the Recorder.
//
// # Trace context
//
// The W3C trace context of a request (traceparent, tracestate) is read with
// a propagator the proxy holds, never a global one, and its trace id and
// the caller's span id go into the Exchange; a malformed traceparent is
// ignored. Without WithTracerProvider nothing else happens: the request is
// forwarded with its headers as they came. With it, each forwarded request
// gets a Server span, a child of the caller's, whose context replaces the
// caller's in the request sent upstream and in the Exchange; look-ups get
// Client spans. Spans carry no header, body or query.
package proxy
