package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scimtrail/scimtrail/exporter"
)

// maxResponseBytes bounds how much of a receiver's answer is read: an
// ExportLogsServiceResponse or a google.rpc.Status is small.
const maxResponseBytes = 64 << 10

// httpSender sends over OTLP/HTTP with binary protobuf bodies.
type httpSender struct {
	url     string
	client  *http.Client
	headers http.Header
	gzip    bool
	now     func() time.Time
	quoted  secrets
}

// NewHTTPClient returns the HTTP client both signals send OTLP/HTTP with:
// its own transport (tlsConf for https, nil for plain text), no proxy
// taken from the environment, and redirects not followed. It sets no
// timeout: the caller bounds each request. Call CloseIdleConnections when
// done with it.
func NewHTTPClient(tlsConf *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			// No proxy from the environment: the data goes to the
			// receiver configured, and nowhere else.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConf,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// A redirect would carry the headers (often a credential) to
		// another place; the endpoint is to be configured where it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func newHTTPSender(u *url.URL, tlsConf *tls.Config, cfg Config, userAgent string) (*httpSender, error) {
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("User-Agent", userAgent)
	return &httpSender{
		url: u.String(), client: NewHTTPClient(tlsConf), headers: h,
		gzip:   cfg.compression() == CompressionGzip,
		now:    time.Now,
		quoted: newSecrets(cfg.Headers),
	}, nil
}

func (s *httpSender) send(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	body, err := req.MarshalProto()
	if err != nil {
		return resp, exporter.Permanent(fmt.Errorf("encode request: %w", err))
	}
	if s.gzip {
		var buf bytes.Buffer
		buf.Grow(len(body) / 4)
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return resp, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return resp, fmt.Errorf("gzip: %w", err)
		}
		body = buf.Bytes()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return resp, exporter.Permanent(fmt.Errorf("request: %w", err))
	}
	hreq.Header = s.headers.Clone()
	if s.gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	hresp, err := s.client.Do(hreq)
	if err != nil {
		return resp, err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes))
	if err != nil && hresp.StatusCode/100 != 2 {
		return resp, fmt.Errorf("http %d: read answer: %w", hresp.StatusCode, err)
	}
	if hresp.StatusCode/100 == 2 {
		// The data is in; a partial-success body that cannot be read
		// does not make it less so.
		decodeResponse(resp, hresp.Header.Get("Content-Type"), data)
		return resp, nil
	}
	return resp, s.classify(hresp, data)
}

// decodeResponse reads an ExportLogsServiceResponse in either OTLP/HTTP
// encoding into resp; an empty or unreadable body leaves it empty.
func decodeResponse(resp plogotlp.ExportResponse, contentType string, data []byte) {
	if len(data) == 0 {
		return
	}
	if strings.HasPrefix(contentType, "application/json") {
		_ = resp.UnmarshalJSON(data)
		return
	}
	_ = resp.UnmarshalProto(data)
}

// classify maps a non-2xx answer onto the retry layer's terms (see
// Exporter).
func (s *httpSender) classify(hresp *http.Response, data []byte) error {
	out := fmt.Errorf("http %d%s", hresp.StatusCode, describe(hresp, data, s.quoted))
	switch hresp.StatusCode {
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %w", errTooLarge, out)
	case http.StatusBadRequest:
		// The Collector's OTLP/HTTP receiver answers a body over its
		// max_request_body_size with 400 and net/http's MaxBytesReader
		// message, not 413.
		if strings.Contains(out.Error(), "request body too large") {
			return fmt.Errorf("%w: %w", errTooLarge, out)
		}
		return exporter.Permanent(out)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d, ok := retryAfter(hresp.Header.Get("Retry-After"), s.now()); ok {
			return exporter.Throttle(out, d)
		}
		return out
	}
	if loc := hresp.Header.Get("Location"); hresp.StatusCode/100 == 3 && loc != "" {
		return fmt.Errorf("%w: redirected to %q, not followed; set the endpoint to it", out, loc)
	}
	return out
}

// describe says what the receiver said: the google.rpc.Status message of
// an OTLP error body, or the start of a text body; quoted removed before it
// is cut short, so no part of a secret is left.
func describe(hresp *http.Response, data []byte, quoted secrets) string {
	if len(data) == 0 {
		return ""
	}
	msg := ""
	if strings.HasPrefix(hresp.Header.Get("Content-Type"), "application/x-protobuf") {
		var st spb.Status
		if proto.Unmarshal(data, &st) == nil {
			msg = st.GetMessage()
		}
	} else if strings.HasPrefix(hresp.Header.Get("Content-Type"), "text/") || strings.HasPrefix(hresp.Header.Get("Content-Type"), "application/json") {
		msg = string(data)
	}
	msg = strings.Join(strings.Fields(quoted.redact(msg)), " ")
	if len(msg) > 256 {
		msg = msg[:256] + "…"
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func (s *httpSender) close() error {
	s.client.CloseIdleConnections()
	return nil
}
