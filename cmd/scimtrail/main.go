package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
// Left empty, the module version or VCS revision from the build info is used.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `scimtrail — an audit trail for SCIM provisioning.

Put it in front of a SCIM 2.0 service; every request passes through unchanged
and yields one audit record (who sent it, what it changed, what the service
answered).

Usage:
  scimtrail proxy --upstream URL [flags]   run the sidecar proxy
  scimtrail forward --allow-host HOST --ca-cert F --ca-key F [flags]
                                           run the egress proxy (HTTPS_PROXY) for an in-house SCIM client
  scimtrail registry --registry FILE [--from-kafka BROKERS | --from-file F]
                                           keep the registry of users, groups and changes; serve the console
  scimtrail console-user NAME < PASSWORD   print a "console-user" entry (bcrypt) for the console
  scimtrail ca create --out DIR            make the egress proxy's CA
  scimtrail config check --config FILE     validate a configuration without starting (exit 0, or 2 naming the bad key)
  scimtrail demo [flags]                   run a scripted Okta/Entra cycle against an in-process SCIM service
  scimtrail bench [flags]                  measure scimtrail's cost per request against direct calls and
                                           a plain Go reverse proxy, on this machine (Linux)
  scimtrail bench soak|burst [flags]       stress scimtrail: a Kafka outage under load, an initial sync;
                                           each checks that every record was delivered (Linux)
  scimtrail version                        print the version

Run "scimtrail proxy --help" or "scimtrail forward --help" for their flags.
`

// run is main without the process: it returns the exit code. Exit codes:
// 0 success, 1 runtime failure, 2 bad usage or invalid configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "proxy":
		return runProxy(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "forward":
		return runForward(ctx, args[1:], stdout, stderr)
	case "registry":
		return runRegistry(ctx, args[1:], stdout, stderr)
	case "console-user":
		return runConsoleUser(args[1:], os.Stdin, stdout, stderr)
	case "ca":
		return runCA(args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "scimtrail", buildVersion())
		return 0
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "scimtrail: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "(devel) " + rev
}
