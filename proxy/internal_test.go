package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
)

func TestStatusForError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"connection refused", refused, http.StatusBadGateway},
		{"plain error", errors.New("backend sent garbage"), http.StatusBadGateway},
		{"deadline", fmt.Errorf("round trip: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"net timeout", timeout, http.StatusGatewayTimeout},
		{"client went away", context.Canceled, StatusClientClosedRequest},
		{"client went away during a timeout", errors.Join(timeout, context.Canceled), StatusClientClosedRequest},
		{"no cause from the context", errors.Join(refused, nil), http.StatusBadGateway},
	} {
		if got := statusForError(tc.err); got != tc.want {
			t.Errorf("%s: statusForError = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := parseTrustedProxies([]string{"10.0.0.0/8", "::1", "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	tp := trustedProxies(trusted)
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer, XFF ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer without XFF", "10.0.0.1:4000", nil, "10.0.0.1"},
		{"rightmost untrusted", "10.0.0.1:4000", []string{"1.1.1.1, 198.51.100.1, 192.168.3.4"}, "198.51.100.1"},
		{"several header lines", "10.0.0.1:4000", []string{"1.1.1.1", "198.51.100.1"}, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.1:4000", []string{"10.9.9.9, 192.168.1.1"}, "10.9.9.9"},
		{"garbage stops the walk", "10.0.0.1:4000", []string{"198.51.100.1, bogus, 10.2.2.2"}, "10.2.2.2"},
		{"entry with a port", "[::1]:4000", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"not an IP peer", "@", nil, "@"},
	} {
		r := httptest.NewRequest("GET", "/Users", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tp.clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecodeCaptured_GzipBombIsBounded(t *testing.T) {
	// 1 MiB of zeros compresses to about a kilobyte.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	big := z.Bytes()
	h := http.Header{"Content-Encoding": {"gzip"}}
	plain, truncated, note := decodeCaptured("request", h, big, false, 4096)
	if len(plain) != 4096 || !truncated || note != "" {
		t.Errorf("decoded %d bytes, truncated %v, note %q; want 4096, true, none", len(plain), truncated, note)
	}
	_, _, note = decodeCaptured("response", h, []byte("not gzip"), false, 4096)
	if note == "" {
		t.Error("an undecodable gzip body left no note")
	}
}
