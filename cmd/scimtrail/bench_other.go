//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

// runBench needs Linux: it reads the proxies' CPU and memory from /proc and
// pins them with taskset; so do its soak and burst.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == serveHTTPUtilFlag {
		return serveHTTPUtil(ctx, args[1:], stderr)
	}
	name := "scimtrail bench"
	if len(args) > 0 && (args[0] == "soak" || args[0] == "burst") {
		name += " " + args[0]
	}
	fmt.Fprintf(stderr, "%s: needs Linux (it reads the proxies' CPU and memory from /proc)\n", name)
	return 1
}
