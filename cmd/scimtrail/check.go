package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// runConfig is "scimtrail config check": the proxy's flags and file,
// parsed and validated exactly as "scimtrail proxy" does before it opens
// anything, for CI pipelines and init containers. It reads no file the
// configuration names (certificates, CA bundles) and touches no network:
// those fail at start-up, with status 1.
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, "Usage: scimtrail config check --config FILE [proxy flags]\n")
		return 2
	}
	var c config
	fs := proxyFlags(&c)
	fs.Init("scimtrail config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: scimtrail config check --config FILE [proxy flags]\n\n"+
			"Validate the configuration \"scimtrail proxy\" would run with (the file, ${ENV} expanded,\n"+
			"and any flags given), without starting. Exit 0 when valid; 2 with one line naming the\n"+
			"bad key otherwise. Takes every flag of \"scimtrail proxy\".\n\n")
	}
	if err := parseProxyConfig(args[1:], fs, &c); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "scimtrail config check: invalid configuration: %s\n", oneLine(err))
		return 2
	}
	what := "flags"
	if c.ConfigFile != "" {
		what = c.ConfigFile
	}
	fmt.Fprintf(stdout, "ok: %s\n", what)
	return 0
}
