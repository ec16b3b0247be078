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
		fmt.Fprint(stderr, "Usage: scimtrail config check [--egress] --config FILE [flags]\n")
		return 2
	}
	var c config
	fs := proxyFlags(&c)
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "--egress" {
		// The configuration of "scimtrail forward".
		c = config{}
		fs, rest = forwardFlags(&c), rest[1:]
	}
	fs.Init("scimtrail config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: scimtrail config check [--egress] --config FILE [flags]\n\n"+
			"Validate the configuration \"scimtrail proxy\" (or, with --egress, \"scimtrail forward\")\n"+
			"would run with (the file, ${ENV} expanded, and any flags given), without starting. Exit 0\n"+
			"when valid; 2 with one line naming the bad key otherwise. Takes every flag of that command.\n\n")
	}
	if err := parseProxyConfig(rest, fs, &c); err != nil {
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
