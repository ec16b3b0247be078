package proxy_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCapture_LargeBodiesPassThroughWhileCaptureTruncates(t *testing.T) {
	const limit = 4096
	for _, tc := range []struct {
		name      string
		size      int
		truncated bool
	}{
		{"exactly the limit", limit, false},
		{"one byte over", limit + 1, true},
		{"megabytes over", 3<<20 + 123, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqBody := randomBytes(t, tc.size)
			respBody := randomBytes(t, tc.size+7)
			upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				got, err := io.ReadAll(r.Body)
				if err != nil || r.ContentLength != int64(len(reqBody)) || sha256Hex(got) != sha256Hex(reqBody) {
					t.Errorf("upstream got %d bytes (Content-Length %d, err %v), not the %d sent", len(got), r.ContentLength, err, len(reqBody))
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
				_, _ = w.Write(respBody)
			})
			rec := newRecorder()
			addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL, MaxBodyBytes: limit}, rec, nil)

			resp, err := newClient(t).Post("http://"+addr+"/Users", "application/octet-stream", bytes.NewReader(reqBody))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.ContentLength != int64(len(respBody)) || sha256Hex(got) != sha256Hex(respBody) {
				t.Fatalf("client got %d bytes (Content-Length %d, err %v), not the %d sent", len(got), resp.ContentLength, err, len(respBody))
			}

			ex := rec.next(t)
			if !bytes.Equal(ex.RequestBody, reqBody[:limit]) || ex.RequestTruncated != tc.truncated {
				t.Errorf("request capture: %d bytes, truncated %v; want the first %d, truncated %v", len(ex.RequestBody), ex.RequestTruncated, limit, tc.truncated)
			}
			if !bytes.Equal(ex.ResponseBody, respBody[:limit]) || !ex.ResponseTruncated {
				t.Errorf("response capture: %d bytes, truncated %v; want the first %d, truncated", len(ex.ResponseBody), ex.ResponseTruncated, limit)
			}
		})
	}
}

func TestCapture_GzipDecodedForExchangeOnly(t *testing.T) {
	plainReq := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"grace@example.com"}`)
	plainResp := []byte(`{"id":"42","userName":"grace@example.com"}`)
	zReq, zResp := gzipped(t, plainReq), gzipped(t, plainResp)

	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, zReq) || r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("upstream got %q (Content-Encoding %q), want the compressed bytes as sent", got, r.Header.Get("Content-Encoding"))
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(zResp)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/Users", bytes.NewReader(zReq))
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, zResp) || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("client got %q (Content-Encoding %q), want the compressed bytes as sent", got, resp.Header.Get("Content-Encoding"))
	}

	ex := rec.next(t)
	if !bytes.Equal(ex.RequestBody, plainReq) || !bytes.Equal(ex.ResponseBody, plainResp) || len(ex.Notes) != 0 {
		t.Errorf("exchange request %q response %q notes %q; want the decoded bodies", ex.RequestBody, ex.ResponseBody, ex.Notes)
	}
}

func TestCapture_TruncatedGzipKeepsDecodedPrefix(t *testing.T) {
	const limit = 1024
	// Incompressible, so the captured compressed prefix decodes to less than
	// the limit and the stream is cut mid-way.
	plain := randomBytes(t, 32<<10)
	z := gzipped(t, plain)
	if len(z) <= limit {
		t.Fatalf("compressed body of %d bytes does not exceed the limit", len(z))
	}
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, z) {
			t.Errorf("upstream got %d bytes, not the %d compressed bytes sent", len(got), len(z))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL, MaxBodyBytes: limit}, rec, nil)

	req, _ := http.NewRequest(http.MethodPatch, "http://"+addr+"/Users/1", bytes.NewReader(z))
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ex := rec.next(t)
	if len(ex.RequestBody) == 0 || !bytes.HasPrefix(plain, ex.RequestBody) || !ex.RequestTruncated {
		t.Errorf("captured %d bytes (truncated %v), want a non-empty decoded prefix, truncated", len(ex.RequestBody), ex.RequestTruncated)
	}
	if !slices.ContainsFunc(ex.Notes, func(n string) bool { return strings.Contains(n, "gzip stream cut") }) {
		t.Errorf("notes %q do not mention the cut gzip stream", ex.Notes)
	}
}

func TestCapture_IdentifiesIdP(t *testing.T) {
	_, upstreamURL := countingUpstream(t)
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{
		Upstream: upstreamURL,
		IdPs: []string{
			"okta=token-sha256:" + sha256Hex([]byte("okta-token")),
			"entra=user-agent:Microsoft.AAD.Provisioning",
			"onelogin=path-prefix:/onelogin",
		},
	}, rec, nil)
	client := newClient(t)

	for _, tc := range []struct {
		name, path, auth, ua, want string
	}{
		{"bearer token", "/Users", "Bearer okta-token", "Microsoft.AAD.Provisioning", "okta"},
		{"user agent", "/Users", "Bearer other", "Microsoft.AAD.Provisioning", "entra"},
		{"path prefix", "/onelogin/Users", "", "curl/8", "onelogin"},
		{"nothing matches", "/Users", "Bearer other", "curl/8", proxy.UnknownIdP},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		req.Header.Set("User-Agent", tc.ua)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ex := rec.next(t); ex.IdPName != tc.want {
			t.Errorf("%s: IdPName %q, want %q", tc.name, ex.IdPName, tc.want)
		}
	}
}

func TestExchange_NeverContainsAuthorization(t *testing.T) {
	const token = "tok-7f3a9c1e5b"
	upstream := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("upstream did not get the Authorization header")
		}
		_, _ = io.WriteString(w, `{"id":"1"}`)
	})
	rec := newRecorder()
	addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, rec, nil)
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/Users/1", strings.NewReader(`{"userName":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	prepared := <-rec.prepared
	ex := rec.next(t)
	for _, dump := range []string{fmt.Sprintf("%#v", prepared), fmt.Sprintf("%#v", *ex)} {
		if strings.Contains(dump, token) {
			t.Errorf("the exchange carries the token: %s", dump)
		}
	}
}

func TestProxy_HTTPSUpstreamWithCustomCA(t *testing.T) {
	upstream := newTLSUpstream(t)
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstream.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("trusted through upstream-ca-file", func(t *testing.T) {
		rec := newRecorder()
		addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL, UpstreamCAFile: caFile}, rec, nil)
		resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != http.StatusOK || string(resp.body) != `{"tls":true}` {
			t.Errorf("got %d %s", resp.StatusCode, resp.body)
		}
		if ex := rec.next(t); ex.StatusCode != http.StatusOK {
			t.Errorf("exchange status %d", ex.StatusCode)
		}
	})
	t.Run("untrusted without it", func(t *testing.T) {
		addr, _ := startProxy(t, proxy.Config{Upstream: upstream.URL}, newRecorder(), nil)
		resp := rawRequest(t, addr, "GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != http.StatusBadGateway || string(resp.body) != scimErrorBody502 {
			t.Errorf("got %d %s, want 502", resp.StatusCode, resp.body)
		}
	})
}
