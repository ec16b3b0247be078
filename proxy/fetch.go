package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/scimtrail/scimtrail/scim"
)

// fetchUserAgent tells the upstream's logs that a request is the proxy's
// own look-up, not the IdP's.
const fetchUserAgent = "scimtrail"

// fetchFunc returns the look-up for one exchange. It carries the request's
// Authorization values and nothing else of it; they never leave the
// closure except towards the upstream.
func (p *Reverse) fetchFunc(authorization []string) scim.FetchFunc {
	authorization = slices.Clone(authorization)
	if p.tracing.tracer == nil {
		return func(ctx context.Context, path string) (int, []byte, error) {
			return p.fetch(ctx, path, authorization)
		}
	}
	return func(ctx context.Context, path string) (int, []byte, error) {
		ctx, span := p.startLookupSpan(ctx, path)
		status, body, err := p.fetch(ctx, path, authorization)
		endLookupSpan(span, status, err)
		return status, body, err
	}
}

// fetch reads path from the upstream with the given Authorization values.
func (p *Reverse) fetch(ctx context.Context, path string, authorization []string) (int, []byte, error) {
	req, err := p.fetchRequest(ctx, path, authorization)
	if err != nil {
		return 0, nil, err
	}
	return readFetched(p.transport, req, p.maxBody)
}

// readFetched makes a look-up's round trip and reads its answer, at most
// maxBody bytes, decoded when gzip encoded.
func readFetched(rt http.RoundTripper, req *http.Request, maxBody int64) (int, []byte, error) {
	// RoundTrip, not a Client: a redirect is returned, never followed.
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, nil, fmt.Errorf("proxy: fetch %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("proxy: fetch %s: reading body: %w", req.URL.Path, err)
	}
	if int64(len(body)) > maxBody {
		return resp.StatusCode, body[:maxBody], fmt.Errorf("proxy: fetch %s: body longer than %d bytes", req.URL.Path, maxBody)
	}
	if len(body) > 0 && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		plain, over, err := gunzipPrefix(body, maxBody)
		if err != nil || over {
			return resp.StatusCode, nil, fmt.Errorf("proxy: fetch %s: gzip body did not decode within %d bytes: %v", req.URL.Path, maxBody, err)
		}
		body = plain
	}
	return resp.StatusCode, body, nil
}

// fetchRequest builds a GET of path on the upstream. path must be an
// absolute path (with an optional query); it is joined onto the upstream
// URL exactly as forwarded requests are, by ProxyRequest.SetURL.
func (p *Reverse) fetchRequest(ctx context.Context, path string, authorization []string) (*http.Request, error) {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return nil, fmt.Errorf("proxy: fetch %q: want an absolute path without scheme or host", path)
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("proxy: fetch: %w", err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("proxy: fetch %q: want an absolute path without scheme or host", path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return nil, fmt.Errorf("proxy: fetch: %w", err)
	}
	req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	(&httputil.ProxyRequest{Out: req}).SetURL(p.upstream)
	req.Header.Set("Accept", "application/scim+json")
	req.Header.Set("User-Agent", fetchUserAgent)
	if len(authorization) > 0 {
		req.Header["Authorization"] = authorization
	}
	if p.tracing.tracer != nil {
		p.tracing.inject(ctx, req.Header)
	}
	return req, nil
}
