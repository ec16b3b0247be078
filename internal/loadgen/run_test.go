package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func patchRequest(host string) []byte {
	return Encode(host, Request{Method: http.MethodPatch, Target: "/scim/v2/Users/1",
		Header: http.Header{"Authorization": {"Bearer t"}, "Content-Type": {"application/scim+json"}},
		Body:   []byte(`{"Operations":[{"op":"replace","value":{"active":false}}]}`)})
}

func TestEncode_IsAValidRequest(t *testing.T) {
	raw := patchRequest("127.0.0.1:8080")
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPatch || req.Host != "127.0.0.1:8080" || req.URL.Path != "/scim/v2/Users/1" ||
		req.Header.Get("Authorization") != "Bearer t" || req.ContentLength != int64(len(body)) || !strings.Contains(string(body), "active") {
		t.Fatalf("decoded %s %s host %q auth %q length %d body %q", req.Method, req.URL, req.Host,
			req.Header.Get("Authorization"), req.ContentLength, body)
	}
}

// serve runs h on 127.0.0.1 and checks that every request arrives whole.
func serve(t *testing.T, h http.HandlerFunc, opts ...func(*http.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Authorization") != "Bearer t" || !bytes.Contains(body, []byte("active")) {
			http.Error(w, "incomplete request", http.StatusBadRequest)
			return
		}
		h(w, r)
	}))
	for _, o := range opts {
		o(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func target(srv *httptest.Server) Target {
	addr := srv.Listener.Addr().String()
	return Target{Addr: addr, Requests: [][]byte{patchRequest(addr)}, Timeout: 5 * time.Second}
}

func TestClosed_CountsAnswersOnKeptAliveConnections(t *testing.T) {
	var conns atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"id":"1"}`) },
		func(s *http.Server) {
			s.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
		})
	res, err := Closed(t.Context(), target(srv), 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Errors() != 0 || res.Latency.Count() != uint64(res.OK) || res.Rate() <= 0 {
		t.Fatalf("ok %d errors %d latencies %d rate %v", res.OK, res.Errors(), res.Latency.Count(), res.Rate())
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for %d requests, want 4 kept alive", n, res.OK)
	}
}

func TestClosed_CountsNon2xxAndTransportErrors(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusInternalServerError) })
	res, err := Closed(t.Context(), target(srv), 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.NotOK == 0 || res.TransportErrors != 0 {
		t.Fatalf("ok %d not ok %d transport %d, want only non-2xx", res.OK, res.NotOK, res.TransportErrors)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	res, err = Closed(t.Context(), Target{Addr: addr, Requests: [][]byte{patchRequest(addr)}}, 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.TransportErrors == 0 || res.Answered() != 0 {
		t.Fatalf("transport errors %d answered %d, want refusals counted", res.TransportErrors, res.Answered())
	}
}

// A server that stalls once: the requests scheduled during the stall wait
// for it, and their latency, counted from their scheduled time, shows it.
// A closed loop on as many connections would have seen one slow request
// per connection and sent nothing meanwhile.
func TestOpen_LatencyCountsFromTheScheduledTime(t *testing.T) {
	const (
		rate  = 200 // one request every 5 ms
		stall = 400 * time.Millisecond
	)
	var (
		mu sync.Mutex // the stalled request holds it: the server is stuck, not one connection
		n  atomic.Int64
	)
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		if n.Add(1) == 40 { // about 200 ms into the run
			time.Sleep(stall)
		}
		mu.Unlock()
		io.WriteString(w, `{"id":"1"}`)
	})
	res, err := Open(t.Context(), target(srv), rate, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors() != 0 || res.OK < rate*9/10 {
		t.Fatalf("ok %d errors %d, want about %d answers", res.OK, res.Errors(), rate)
	}
	if res.Latency.Max() < stall {
		t.Fatalf("max latency %v, want at least the %v stall", res.Latency.Max(), stall)
	}
	// Those scheduled in the stall's first 300 ms waited at least 100 ms:
	// about 60 requests, more than 4 connections could hold.
	if slow := atLeast(&res.Latency, 100*time.Millisecond); slow < 40 {
		t.Fatalf("%d requests took ≥ 100 ms, want the ~60 scheduled during the stall (p50 %v p99 %v max %v)",
			slow, res.Latency.Quantile(0.5), res.Latency.Quantile(0.99), res.Latency.Max())
	}
}

// Each, like an initial sync, sends every request of its list once: the
// server sees each exactly once, over no more connections than asked for.
func TestEach_SendsEveryRequestExactlyOnce(t *testing.T) {
	const n, conns = 2000, 8
	var (
		mu     sync.Mutex
		got    = map[string]int{}
		opened atomic.Int64
	)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				opened.Add(1)
			}
		}
	})
	addr := srv.Listener.Addr().String()
	tg := Target{Addr: addr, Timeout: 5 * time.Second}
	for i := range n {
		tg.Requests = append(tg.Requests, Encode(addr, Request{Method: http.MethodPost, Target: "/scim/v2/Users/" + strconv.Itoa(i),
			Header: http.Header{"Authorization": {"Bearer t"}}, Body: []byte(`{"active":true}`)}))
	}
	res, err := Each(t.Context(), tg, conns)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != n || res.Errors() != 0 || res.Latency.Count() != n || res.Duration <= 0 {
		t.Fatalf("ok %d errors %d latencies %d duration %v, want %d answered", res.OK, res.Errors(), res.Latency.Count(), res.Duration, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := got["/scim/v2/Users/"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("request %d arrived %d times, want once", i, c)
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct requests arrived, want %d", len(got), n)
	}
	if c := opened.Load(); c > conns {
		t.Errorf("%d connections, want at most %d kept alive", c, conns)
	}
}

// A server that takes requests and never answers: the run still ends,
// shortly after its duration, with the requests counted as timeouts or
// not sent.
func TestRuns_AreBoundedWhenTheServerHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	addr := ln.Addr().String()
	tg := Target{Addr: addr, Requests: [][]byte{patchRequest(addr)}, Timeout: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a hang guard, not a timing
	defer cancel()
	res, err := Open(ctx, tg, 100, 2, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered() != 0 || res.Timeouts == 0 || res.Timeouts+res.Unsent != 30 {
		t.Fatalf("answered %d timeouts %d unsent %d, want the 30 requests timed out or unsent", res.Answered(), res.Timeouts, res.Unsent)
	}
	res, err = Closed(ctx, tg, 2, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered() != 0 || res.Timeouts == 0 {
		t.Fatalf("closed: answered %d timeouts %d", res.Answered(), res.Timeouts)
	}
}

func TestRuns_StopWhenCancelled(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	began := time.Now()
	if _, err := Open(ctx, target(srv), 100, 4, time.Hour); err != context.Canceled {
		t.Fatalf("Open: %v, want context.Canceled", err)
	}
	if _, err := Closed(ctx, target(srv), 4, time.Hour); err != context.Canceled {
		t.Fatalf("Closed: %v, want context.Canceled", err)
	}
	many := target(srv)
	many.Requests = slices.Repeat(many.Requests, 50)
	if res, err := Each(ctx, many, 4); err != context.Canceled || res.Unsent != 50 {
		t.Fatalf("Each: %v, %d unsent; want context.Canceled and the 50 requests unsent", err, res.Unsent)
	}
	if time.Since(began) > time.Minute {
		t.Fatal("a cancelled run went on") // a hang guard: the runs take ~100 ms
	}
}

// atLeast counts the latencies of h in buckets from d up.
func atLeast(h *Histogram, d time.Duration) uint64 {
	var n uint64
	for i, c := range h.counts {
		if low, _ := bucketRange(i); low >= int64(d) {
			n += c
		}
	}
	return n
}
