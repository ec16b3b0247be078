package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/registry/feed"
)

const (
	defaultRegistryRetention = 90 * 24 * time.Hour
	// retentionInterval is how often old records are pruned.
	retentionInterval = time.Hour
	defaultFeedGroup  = "scimtrail-registry"
)

// registryFlags binds the registry and its console, shared by the proxy
// modes and "scimtrail registry".
func registryFlags(fs *flag.FlagSet, path *string, retention *time.Duration, cc *console.Config) {
	fs.StringVar(path, "registry", "", "also store the records in this SQLite `file`: users' last seen identity, group memberships, every change; the console on the admin listener reads it (default: none)")
	fs.Var((*daysFlag)(retention), "registry-retention", "keep the registry's records this long, e.g. 90d, 720h; users and groups that still exist are kept (default 90d)")
	fs.Var(listFlag{items: &cc.TokenSHA256}, "console-token-sha256", "accept `HEX`, the SHA-256 of a bearer token, on the console and its API, repeatable")
	fs.Var(listFlag{items: &cc.Users}, "console-user", "accept this `name:bcrypt-hash` (htpasswd -nbB name password) with basic auth on the console, repeatable; prefer the config file")
}

// daysFlag is a duration that also takes whole days ("90d").
type daysFlag time.Duration

func (d *daysFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	if v := time.Duration(*d); v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(*d).String()
}

func (d *daysFlag) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a number of days", s)
		}
		*d = daysFlag(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (90d, 720h)", s)
	}
	*d = daysFlag(v)
	return nil
}

func retentionOrDefault(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return defaultRegistryRetention
}

// registryErrors checks the registry and console settings of the proxy
// modes.
func (c config) registryErrors() error {
	return registrySettingsErrors(c.Registry, c.RegistryRetention, c.Console, c.adminListen())
}

func registrySettingsErrors(path string, retention time.Duration, cc console.Config, admin string) error {
	errs := []error{cc.Validate()}
	if retention < 0 {
		errs = append(errs, errors.New(`"registry-retention" must be positive`))
	}
	if cc.Enabled() && path == "" {
		errs = append(errs, errors.New(`"console-user" and "console-token-sha256" require "registry": the console reads it`))
	}
	if cc.Enabled() && admin == adminOff {
		errs = append(errs, errors.New(`the console is served on the admin listener: "admin-listen" cannot be "off" with "console-user" or "console-token-sha256"`))
	}
	return errors.Join(errs...)
}

// registryRuntime is an open registry with its retention loop and
// console.
type registryRuntime struct {
	reg     *registry.Registry
	console http.Handler // nil when no credential is configured
	cancel  context.CancelFunc
	done    chan struct{}
}

// openRegistry opens the registry, starts pruning it and builds the
// console when credentials are configured.
func openRegistry(path string, retention time.Duration, cc console.Config, logger *slog.Logger) (*registryRuntime, error) {
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.Open(ctx, path, registry.Options{Logger: logger})
	if err != nil {
		cancel()
		return nil, err
	}
	rt := &registryRuntime{reg: reg, cancel: cancel, done: make(chan struct{})}
	if cc.Enabled() {
		if rt.console, err = console.New(reg, cc, console.Options{Logger: logger.With("component", "console")}); err != nil {
			cancel()
			reg.Close()
			return nil, err
		}
	}
	go func() {
		defer close(rt.done)
		reg.RunRetention(ctx, retentionOrDefault(retention), retentionInterval, nil)
	}()
	return rt, nil
}

// close stops the retention loop and closes the database.
func (rt *registryRuntime) close() error {
	rt.cancel()
	<-rt.done
	return rt.reg.Close()
}

const registryUsage = `Usage: scimtrail registry --registry FILE [--from-kafka BROKERS --topic T --group G | --from-file F] [flags]

Keep a registry of the records — every record, each user's last seen identity,
group memberships and the timeline of changes — and serve the console on the
admin listener. With --from-kafka it reads the topic the proxies write to as a
consumer group, committing offsets after each stored batch; with --from-file it
stores a JSON-lines file (a file sink's output, a SIEM export) and exits; with
neither it serves the console on an existing registry. Records are stored once
by id, so replays are harmless.

Flags:
`

// registryConfig is what "scimtrail registry" reads.
type registryConfig struct {
	Path        string
	Retention   time.Duration
	Console     console.Config
	AdminListen string
	Feed        feed.KafkaConfig
	FromFile    string
	ConfigFile  string
	LogLevel    string
	LogFormat   string
	Shutdown    time.Duration
}

func registryCommandFlags(c *registryConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("scimtrail registry", flag.ContinueOnError)
	registryFlags(fs, &c.Path, &c.Retention, &c.Console)
	fs.StringVar(&c.ConfigFile, "config", "", "YAML `file` whose keys are these flags' names (${ENV} and ${ENV:-default} are expanded); flags win over it")
	fs.StringVar(&c.AdminListen, "admin-listen", "", "`address` of /healthz, /readyz, /metrics and the console (default \""+defaultAdminListen+"\"; \"off\" disables)")
	fs.Var(listFlag{items: &c.Feed.Kafka.Brokers, split: true}, "from-kafka", "read records from Kafka through these bootstrap `brokers` (host:port, comma-separated or repeated)")
	fs.StringVar(&c.Feed.Kafka.Topic, "topic", "", "Kafka `topic` to read (default \""+kafka.DefaultTopic+"\")")
	fs.StringVar(&c.Feed.Group, "group", "", "Kafka consumer `group`; offsets are committed to it after each stored batch (default \""+defaultFeedGroup+"\")")
	fs.DurationVar(&c.Feed.SessionTimeout, "session-timeout", 0, "how long the consumer group waits for a reader that stopped answering before another resumes its partitions (default 10s)")
	fs.StringVar(&c.Feed.Kafka.ClientID, "kafka-client-id", "", "client `id` sent to the brokers (default \""+kafka.DefaultClientID+"\")")
	kafkaConnFlags(fs, &c.Feed.Kafka)
	fs.StringVar(&c.FromFile, "from-file", "", "store the records of this JSON-lines `file` (\"-\": stdin) and exit")
	fs.DurationVar(&c.Shutdown, "shutdown-timeout", 0, "on SIGTERM, wait at most this `duration` for the batch being stored (default 30s)")
	fs.StringVar(&c.LogLevel, "log-level", "", "the program's own log `level`: debug, info, warn, error (default info)")
	fs.StringVar(&c.LogFormat, "log-format", "", "the program's own log `format` on stderr: text or json (default text)")
	return fs
}

func (c *registryConfig) validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New(`requires "registry", the database file`))
	}
	if len(c.Feed.Kafka.Brokers) > 0 && c.FromFile != "" {
		errs = append(errs, errors.New(`"from-kafka" and "from-file" exclude each other`))
	}
	if len(c.Feed.Kafka.Brokers) > 0 {
		if c.Feed.Group == "" {
			c.Feed.Group = defaultFeedGroup
		}
		errs = append(errs, c.Feed.Validate())
	}
	admin := orString(c.AdminListen, defaultAdminListen)
	if admin != adminOff {
		if _, _, err := net.SplitHostPort(admin); err != nil {
			errs = append(errs, fmt.Errorf(`"admin-listen": %q is not host:port or "off"`, c.AdminListen))
		}
	}
	errs = append(errs, registrySettingsErrors(c.Path, c.Retention, c.Console, admin))
	return errors.Join(errs...)
}

func runRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c registryConfig
	fs := registryCommandFlags(&c)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), registryUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	err := func() error {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		if c.ConfigFile != "" {
			if err := applyConfigFile(fs, c.ConfigFile, os.LookupEnv); err != nil {
				return err
			}
		}
		return c.validate()
	}()
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail registry: %s\n", oneLine(err))
		return 2
	}
	logger := newLogger(stderr, c.LogLevel, c.LogFormat)
	if err := serveRegistry(ctx, c, stdout, logger); err != nil {
		logger.Error("scimtrail registry: " + oneLine(err))
		return 1
	}
	return 0
}

// serveRegistry runs the registry command until ctx ends (or, with
// --from-file, until the file is stored).
func serveRegistry(ctx context.Context, c registryConfig, stdout io.Writer, logger *slog.Logger) error {
	rt, err := openRegistry(c.Path, c.Retention, c.Console, logger)
	if err != nil {
		return err
	}
	defer rt.close()
	if c.FromFile != "" {
		read, skipped, err := feed.FromFile(ctx, c.FromFile, rt.reg, 0, logger)
		fmt.Fprintf(stdout, "stored %d records from %s (%d lines skipped); replays are stored once\n", read, c.FromFile, skipped)
		return err
	}
	if rt.console == nil {
		warnConsoleOff(logger, c.Path)
	} else if a := orString(c.AdminListen, defaultAdminListen); a != adminOff {
		warnClearText(logger, a)
	}
	ready := new(atomic.Bool)
	var admin *http.Server
	served := make(chan error, 1)
	if a := orString(c.AdminListen, defaultAdminListen); a != adminOff {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("admin listen %s: %w", a, err)
		}
		reg := prometheus.NewRegistry()
		admin = &http.Server{Handler: adminHandler(reg, ready, func() string { return "" }, rt.console, false), ReadHeaderTimeout: 10 * time.Second}
		go func() { served <- serve(admin.Serve(ln)) }()
		logger.Info("scimtrail registry: serving", "admin", ln.Addr().String(), "console", rt.console != nil, "registry", c.Path)
	}
	ready.Store(true)
	var feedErr error
	if len(c.Feed.Kafka.Brokers) > 0 {
		logger.Info("scimtrail registry: reading Kafka", "brokers", strings.Join(c.Feed.Kafka.Brokers, ","), "topic", c.Feed.Kafka.Topic, "group", c.Feed.Group)
		feedErr = feed.FromKafka(ctx, c.Feed, rt.reg, logger)
	} else {
		<-ctx.Done()
	}
	ready.Store(false)
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), orDuration(c.Shutdown, defaultShutdownTimeout))
		defer cancel()
		feedErr = errors.Join(feedErr, admin.Shutdown(sctx), <-served)
	}
	return feedErr
}

func orDuration(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// runConsoleUser prints a "console-user" entry for NAME with the password
// read from the first line of stdin, hashed with bcrypt, as htpasswd -nbB
// would: the password never appears in the config, the shell history or
// the process list.
func runConsoleUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || strings.ContainsAny(args[0], ":\n") {
		fmt.Fprintln(stderr, "Usage: scimtrail console-user NAME < password-file   (prints NAME:bcrypt-hash for \"console-user\")")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	password := strings.TrimRight(line, "\r\n")
	if password == "" || (err != nil && !errors.Is(err, io.EOF)) {
		fmt.Fprintln(stderr, "scimtrail console-user: read the password from the first line of stdin")
		return 2
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail console-user: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s:%s\n", args[0], hash)
	return 0
}

// warnConsoleOff says why a registry has no console: a registry without one
// is still fed, and "scimtrail registry" can serve it later.
func warnConsoleOff(logger *slog.Logger, path string) {
	logger.Warn(`scimtrail: console off: no "console-user" or "console-token-sha256" configured; the registry is fed all the same`, "registry", path)
}

// warnClearText says that the console's credentials travel in clear text
// when the admin listener is reachable from other hosts: it serves plain
// HTTP, so it belongs behind a TLS-terminating ingress or a port-forward.
func warnClearText(logger *slog.Logger, admin string) {
	host, _, err := net.SplitHostPort(admin)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	logger.Warn("scimtrail: the console is served over plain HTTP on a non-loopback address: its credentials cross the network in clear text; put it behind TLS (an ingress) or bind admin-listen to 127.0.0.1 and port-forward", "admin", admin)
}
