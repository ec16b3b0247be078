package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAdmin_ProfilesOnlyWhenAsked: Go's profiles show the program's
// insides (stacks, command line); they are served only with --pprof.
func TestAdmin_ProfilesOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := adminHandler(prometheus.NewRegistry(), new(atomic.Bool), func() string { return "" }, nil, on)
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; rec.Code != want {
				t.Errorf("pprof %v: GET %s = %d, want %d", on, path, rec.Code, want)
			}
		}
	}
}
