package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/scim"
)

// A strict deployment refuses changes it could not record: they never
// reach the upstream and the IdP is told to retry.
func TestProxy_RefusedAdmissionForwardsNothingAndAsksToRetry(t *testing.T) {
	var hits atomic.Int64
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
	rec := newRecorder()
	admit := func(r *http.Request) bool { return r.Method == http.MethodGet }
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL}, rec, io.Discard, proxy.WithAdmission(admit, 0))
	client := newClient(t)

	resp, err := client.Post("http://"+addr+"/scim/v2/Users", "application/scim+json", strings.NewReader(`{"userName":"a@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "10" {
		t.Fatalf("refused POST: %d Retry-After=%q, want 503 and 10", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(body), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("refusal body is not a SCIM error: %s", body)
	}
	if hits.Load() != 0 {
		t.Fatalf("upstream saw %d requests, want 0", hits.Load())
	}
	rec.none(t)

	resp, err = client.Get("http://" + addr + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || hits.Load() != 1 {
		t.Fatalf("admitted GET: %d, upstream hits %d", resp.StatusCode, hits.Load())
	}
	rec.next(t)
}

// With WithRecordBeforeResponse the client sees nothing until Record has
// returned: the record is durable before the IdP gets its answer.
func TestProxy_RecordBeforeResponseHoldsTheAnswer(t *testing.T) {
	const answer = `{"id":"u1","userName":"a@example.com"}`
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
		http.NewResponseController(w).Flush() // the hold must swallow this
	})
	rw := httptest.NewRecorder()
	rec := newRecorder()
	var sawWhileRecording string
	rec.onRecord = func(_ context.Context, ex *scim.Exchange, _ scim.FetchFunc) {
		if rw.Flushed || rw.Body.Len() != 0 {
			sawWhileRecording = "client already had " + rw.Body.String()
		}
		if string(ex.ResponseBody) != answer || ex.StatusCode != http.StatusCreated {
			sawWhileRecording = "exchange incomplete: " + string(ex.ResponseBody)
		}
	}
	p, err := proxy.NewReverse(proxy.Config{Upstream: up.URL}, rec, nil, proxy.WithRecordBeforeResponse())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/scim/v2/Users", strings.NewReader(`{"userName":"a@example.com"}`))
	p.ServeHTTP(rw, req)
	rec.next(t)
	if sawWhileRecording != "" {
		t.Fatal(sawWhileRecording)
	}
	if rw.Code != http.StatusCreated || rw.Body.String() != answer || rw.Header().Get("Content-Type") != "application/scim+json" || !rw.Flushed {
		t.Fatalf("client got %d %q (flushed %v)", rw.Code, rw.Body.String(), rw.Flushed)
	}
}

// A response longer than the capture limit is not held whole: it streams
// once the limit is reached, intact.
func TestProxy_RecordBeforeResponseStreamsWhatItCannotHold(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 10_000)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(big)
	})
	rw := httptest.NewRecorder()
	rec := newRecorder()
	var before int
	rec.onRecord = func(context.Context, *scim.Exchange, scim.FetchFunc) { before = rw.Body.Len() }
	p, err := proxy.NewReverse(proxy.Config{Upstream: up.URL, MaxBodyBytes: 1000}, rec, nil, proxy.WithRecordBeforeResponse())
	if err != nil {
		t.Fatal(err)
	}
	p.ServeHTTP(rw, httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil))
	rec.next(t)
	if before != len(big) || !bytes.Equal(rw.Body.Bytes(), big) {
		t.Fatalf("client had %d bytes when recording and %d after, want %d both", before, rw.Body.Len(), len(big))
	}
}

// Under strict recording a change whose record was not kept is answered
// 503, with nothing of the upstream's answer; a read keeps its answer.
func TestProxy_StrictRecordingRefusesTheAnswerOfAnUnrecordedChange(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://upstream.internal/scim/v2/Users/u1")
		w.Header().Set("ETag", `W/"1"`)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"u1"}`)
	})
	rec := newRecorder()
	rec.recordErr = errors.New("spool: write: no space left on device")
	p, err := proxy.NewReverse(proxy.Config{Upstream: up.URL}, rec, nil, proxy.WithRecordBeforeResponse(), proxy.WithStrictRecording())
	if err != nil {
		t.Fatal(err)
	}
	rw := httptest.NewRecorder()
	p.ServeHTTP(rw, httptest.NewRequest(http.MethodPost, "/scim/v2/Users", strings.NewReader(`{"userName":"a@example.com"}`)))
	rec.next(t)
	if rw.Code != http.StatusServiceUnavailable || rw.Header().Get("Retry-After") != "10" {
		t.Fatalf("unrecorded POST answered %d (Retry-After %q), want 503", rw.Code, rw.Header().Get("Retry-After"))
	}
	if rw.Header().Get("Location") != "" || rw.Header().Get("ETag") != "" || strings.Contains(rw.Body.String(), "u1") {
		t.Fatalf("the upstream's answer leaked into the 503: %v %s", rw.Header(), rw.Body.String())
	}
	if strings.Contains(rw.Body.String(), "no space") {
		t.Fatalf("internal error text in the answer: %s", rw.Body.String())
	}

	rw = httptest.NewRecorder()
	p.ServeHTTP(rw, httptest.NewRequest(http.MethodGet, "/scim/v2/Users/u1", nil))
	rec.next(t)
	if rw.Code != http.StatusCreated || rw.Body.String() != `{"id":"u1"}` {
		t.Fatalf("a read whose record failed lost its answer: %d %s", rw.Code, rw.Body.String())
	}
}

// A held response that announces trailers sends them once, as trailers.
func TestProxy_RecordBeforeResponseKeepsTrailersTrailers(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"ok":true}`)
		w.Header().Set("X-Checksum", "abc")
	})
	addr, _ := startProxy(t, proxy.Config{Upstream: up.URL}, newRecorder(), io.Discard, proxy.WithRecordBeforeResponse())
	resp, err := newClient(t).Get("http://" + addr + "/scim/v2/Users")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"ok":true}` || resp.Trailer.Get("X-Checksum") != "abc" || resp.Header.Get("X-Checksum") != "" {
		t.Fatalf("body %q, trailer %q, header %q", body, resp.Trailer.Get("X-Checksum"), resp.Header.Get("X-Checksum"))
	}
}
