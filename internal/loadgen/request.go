package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one HTTP/1.1 request to encode once and send many times.
type Request struct {
	Method string // default GET
	// Target is the request target as sent: path and query ("/scim/v2/Users/1").
	Target string
	// Header is sent as given, in sorted order; Host and Content-Length are
	// set by Encode.
	Header http.Header
	Body   []byte
}

// Encode is r as it goes on the wire to host (the Host header): request
// line, headers, Content-Length when there is a body, and the body.
func Encode(host string, r Request) []byte {
	var b strings.Builder
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	b.WriteString(method + " " + r.Target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		if http.CanonicalHeaderKey(k) == "Host" || http.CanonicalHeaderKey(k) == "Content-Length" {
			continue
		}
		for _, v := range r.Header[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	if len(r.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.Body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return []byte(b.String())
}

// defaultTimeout bounds one request when Target.Timeout is zero.
const defaultTimeout = 10 * time.Second

// errorPause is how long a connection waits after a failure before its
// next request, so a refusing server costs a count, not a busy loop.
const errorPause = 10 * time.Millisecond

// client is one keep-alive connection, dialled on first use and again
// after any failure. It is used by one goroutine at a time.
type client struct {
	addr    string
	timeout time.Duration
	conns   *connSet
	nc      net.Conn
	br      *bufio.Reader
}

// do sends req and reads the whole answer: its status, or the transport
// error (the connection is then closed).
func (c *client) do(req []byte) (int, error) {
	if c.nc == nil {
		d := net.Dialer{Timeout: c.timeout}
		nc, err := d.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		if !c.conns.add(nc) {
			nc.Close()
			return 0, net.ErrClosed
		}
		c.nc = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, err
	}
	if _, err := c.nc.Write(req); err != nil {
		c.close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.close()
		return 0, err
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, nil
}

func (c *client) close() {
	if c.nc != nil {
		c.conns.remove(c.nc)
		c.nc.Close()
		c.nc = nil
	}
}

// connSet holds a run's open connections so that cancelling the run can
// unblock every read at once.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newConnSet(ctx context.Context) (*connSet, func() bool) {
	s := &connSet{conns: map[net.Conn]struct{}{}}
	stop := context.AfterFunc(ctx, s.closeAll)
	return s, stop
}

// add keeps nc, or says no once the run is cancelled.
func (s *connSet) add(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *connSet) remove(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for nc := range s.conns {
		nc.Close()
	}
	clear(s.conns)
}

// isTimeout tells a request that ran out of time from other failures.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
