//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

// runBench needs Linux: it reads the proxies' CPU and memory from /proc and
// pins them with taskset.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == serveHTTPUtilFlag {
		return serveHTTPUtil(ctx, args[1:], stderr)
	}
	fmt.Fprintln(stderr, "scimtrail bench: needs Linux (it reads the proxies' CPU and memory from /proc)")
	return 1
}
