package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimtrail/scimtrail/audit"
	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/exporter/file"
	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/proxy"
)

// Defaults of the command's own settings; the packages' settings have their
// defaults in their Config types.
const (
	defaultListen = ":8080"
	// defaultForwardListen is loopback: an egress proxy open to the network
	// would let anyone reach the allowlisted APIs with its CA's blessing.
	defaultForwardListen   = "127.0.0.1:3128"
	defaultAdminListen     = "127.0.0.1:9464"
	defaultShutdownTimeout = 30 * time.Second
	adminOff               = "off"
)

// config is everything "scimtrail proxy" reads from flags and the YAML file.
// The zero value of every field means its documented default.
type config struct {
	// Egress selects the forward proxy ("scimtrail forward"): Forward, CACert
	// and CAKey apply, Proxy does not.
	Egress  bool
	Forward proxy.ForwardConfig
	// CACert and CAKey are the egress mode's CA (scimtrail ca create).
	CACert, CAKey string
	Proxy         proxy.Config
	Audit         audit.Config
	// Spool.Dir defaults to <StateDir>/spool.
	Spool spool.Config
	// Kafka is the Kafka sink, on when Kafka.Brokers is set.
	Kafka kafka.Config
	// OTLP is the OTLP logs sink, on when an endpoint is set by a flag,
	// the file or OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT.
	OTLP otlp.Config
	// OTLPTraces exports the proxy's own spans to the OTLP endpoint
	// (OTLP.TracesTarget). Default false.
	OTLPTraces bool
	// ServiceName and ResourceAttributes come from OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES; they describe this process in OTLP
	// payloads (the OTLP sink, Kafka's otlp_proto, spans).
	ServiceName        string
	ResourceAttributes map[string]string
	// Listen is the proxy's address. Default ":8080".
	Listen string
	// AdminListen serves /healthz, /readyz and /metrics. Default
	// "127.0.0.1:9464"; "off" disables it.
	AdminListen string
	// TLSCert and TLSKey, together, serve the proxy listener over TLS.
	TLSCert, TLSKey string
	// LogFile receives the records as JSON lines; "-" is stdout. Default:
	// stdout when no other sink is configured, else none.
	LogFile string
	// StateDir keeps the identity cache and, by default, the spool. Default: $STATE_DIRECTORY (set by
	// systemd), else $XDG_STATE_HOME/scimtrail, else ~/.local/state/scimtrail.
	StateDir string
	// ShutdownTimeout bounds each phase of the drain on SIGTERM: in-flight
	// requests, then the sinks' delivery of what the spool holds. Default
	// 30s.
	ShutdownTimeout time.Duration
	// LogLevel and LogFormat shape the program's own logs on stderr.
	LogLevel  string // debug, info (default), warn, error
	LogFormat string // text (default) or json
	// Lookup reads unknown resources back from the upstream. Default true.
	Lookup bool
	// ConfigFile is the YAML file the rest was read from, if any.
	ConfigFile string
	// Pprof serves Go's profiles at /debug/pprof/ on the admin listener.
	// Default false.
	Pprof bool
	// Registry is the registry database the records are also stored in
	// (scimtrail's console reads it); "" for none.
	Registry string
	// RegistryRetention is how long the registry keeps records. Default
	// 90 days.
	RegistryRetention time.Duration
	// Console says who may read the console on the admin listener; it is
	// served when Registry is set and a credential is configured.
	Console console.Config
	// badOTLPHeaders counts "otlp-header" entries without "=", which
	// validate refuses without showing them.
	badOTLPHeaders int
}

func (c config) listen() string {
	if c.Egress {
		return orString(c.Listen, defaultForwardListen)
	}
	return orString(c.Listen, defaultListen)
}
func (c config) adminListen() string { return orString(c.AdminListen, defaultAdminListen) }

// logFile is where the file sink writes, "" for no file sink: stdout when
// no other sink is configured.
func (c config) logFile() string {
	if c.LogFile == "" && !c.hasOtherSink() {
		return file.Stdout
	}
	return c.LogFile
}

func (c config) hasOtherSink() bool { return len(c.Kafka.Brokers) > 0 || c.OTLP.Enabled() }

// spool is the spool's configuration with its directory defaulted.
func (c config) spool() spool.Config {
	s := c.Spool
	if s.Dir == "" {
		s.Dir = filepath.Join(c.stateDir(), "spool")
	}
	return s
}

func (c config) shutdownTimeout() time.Duration {
	if c.ShutdownTimeout > 0 {
		return c.ShutdownTimeout
	}
	return defaultShutdownTimeout
}

func (c config) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "scimtrail")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "scimtrail")
	}
	return "scimtrail-state"
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// validate reports every problem, each naming its key in quotes.
func (c config) validate() error {
	errs := []error{c.spool().Validate()}
	if c.Egress {
		errs = append(errs, c.Forward.Validate())
		if c.CACert == "" || c.CAKey == "" {
			errs = append(errs, errors.New(`requires "ca-cert" and "ca-key" (scimtrail ca create makes them)`))
		}
	} else {
		errs = append(errs, c.Proxy.Validate())
	}
	if len(c.Kafka.Brokers) > 0 {
		errs = append(errs, c.Kafka.Validate())
	}
	otlpErr := c.OTLP.Validate()
	if c.badOTLPHeaders > 0 && otlpErr == nil {
		otlpErr = errors.New(`"otlp-header": an entry is not key=value (not shown: it may hold a credential)`)
	}
	errs = append(errs, otlpErr)
	if c.OTLPTraces {
		if !c.OTLP.Enabled() {
			errs = append(errs, errors.New(`"otlp-traces" requires "otlp-endpoint"`))
		} else if _, err := c.OTLP.TracesTarget(); err != nil && otlpErr == nil {
			// Like Validate, one OTLP problem at a time: a bad
			// "otlp-endpoint" would be reported twice.
			errs = append(errs, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.listen()); err != nil {
		errs = append(errs, fmt.Errorf(`"listen": %q is not host:port`, c.Listen))
	}
	if a := c.adminListen(); a != adminOff {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf(`"admin-listen": %q is not host:port or "off"`, c.AdminListen))
		}
	}
	errs = append(errs, c.registryErrors())
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New(`"tls-cert" and "tls-key" must be set together`))
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf(`"log-level": %q is not debug, info, warn or error`, c.LogLevel))
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf(`"log-format": %q is not text or json`, c.LogFormat))
	}
	return errors.Join(errs...)
}

// listFlag is a repeatable flag; a value may also hold several items
// separated by commas when split is set.
type listFlag struct {
	items *[]string
	split bool
}

func (l listFlag) String() string {
	if l.items == nil {
		return ""
	}
	return strings.Join(*l.items, ",")
}

func (l listFlag) Set(v string) error {
	if !l.split {
		*l.items = append(*l.items, v)
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.items = append(*l.items, s)
		}
	}
	return nil
}

// proxyFlags binds every setting of "scimtrail proxy" to a flag. The flag
// names are the YAML keys of the config file.
func proxyFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("scimtrail proxy", flag.ContinueOnError)
	fs.StringVar(&c.Proxy.Upstream, "upstream", "", "the SCIM service, an http(s) `URL` (required); nothing is ever forwarded anywhere else")
	fs.StringVar(&c.Listen, "listen", "", "proxy listen `address` (default \""+defaultListen+"\")")
	fs.Var(listFlag{items: &c.Proxy.IdPs}, "idp", "identify an IdP as `NAME=MATCHER`, repeatable; MATCHER: token-sha256:HEX | path-prefix:/p | user-agent:SUBSTR; first match wins, else \"unknown\"")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve the proxy over TLS with this PEM certificate `file` (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.StringVar(&c.Proxy.UpstreamCAFile, "upstream-ca-file", "", "trust only the CAs in this PEM `file` for an https upstream (default: system roots)")
	fs.DurationVar(&c.Proxy.UpstreamTimeout, "upstream-timeout", 0, "wait at most this `duration` for the upstream's response headers, then answer 504 (default 30s)")
	fs.DurationVar(&c.Proxy.DialTimeout, "dial-timeout", 0, "upstream connect and TLS handshake `timeout` (default 5s)")
	fs.IntVar(&c.Proxy.MaxIdleConns, "max-idle-conns", 0, "idle keep-alive `connections` kept to the upstream (default 256)")
	fs.Int64Var(&c.Proxy.MaxBodyBytes, "max-body-bytes", 0, "capture at most this many `bytes` of each body; longer bodies pass untouched and the record says body_truncated (default 1048576)")
	fs.Var(listFlag{items: &c.Proxy.TrustedProxies, split: true}, "trusted-proxies", "`CIDRs` of proxies whose X-Forwarded-For is believed, comma-separated or repeated (default none)")
	fs.DurationVar(&c.Proxy.ReadHeaderTimeout, "read-header-timeout", 0, "client request header read `timeout` (default 10s)")
	fs.DurationVar(&c.Proxy.IdleTimeout, "idle-timeout", 0, "client keep-alive idle `timeout` (default 2m0s)")
	commonFlags(fs, c)
	return fs
}

// forwardFlags binds every setting of "scimtrail forward".
func forwardFlags(c *config) *flag.FlagSet {
	c.Egress = true
	fs := flag.NewFlagSet("scimtrail forward", flag.ContinueOnError)
	f := &c.Forward
	fs.StringVar(&c.Listen, "listen", "", "proxy listen `address`; the SCIM client's HTTPS_PROXY (default \""+defaultForwardListen+"\")")
	fs.Var(listFlag{items: &f.AllowHosts, split: true}, "allow-host", "intercept and forward to this `host[:port]` (port 443 when none; \"*.domain\" for its subdomains; host:80 for plain HTTP), repeatable; every other destination is refused (required)")
	fs.Var(listFlag{items: &f.Clients}, "client", "identify a SCIM client as `NAME=MATCHER`, repeatable; MATCHER: token-sha256:HEX | path-prefix:/p | user-agent:SUBSTR; first match wins, else \"unknown\"")
	fs.StringVar(&c.CACert, "ca-cert", "", "the CA certificate PEM `file` the clients trust (scimtrail ca create) (required)")
	fs.StringVar(&c.CAKey, "ca-key", "", "the CA's private key PEM `file` (required)")
	fs.StringVar(&f.UpstreamCAFile, "upstream-ca-file", "", "trust only the CAs in this PEM `file` for the destinations (default: system roots; never skipped)")
	fs.DurationVar(&f.UpstreamTimeout, "upstream-timeout", 0, "wait at most this `duration` for a destination's response headers, then answer 504 (default 30s)")
	fs.DurationVar(&f.DialTimeout, "dial-timeout", 0, "destination connect and TLS handshake `timeout` (default 5s)")
	fs.IntVar(&f.MaxIdleConns, "max-idle-conns", 0, "idle keep-alive `connections` kept per destination (default 256)")
	fs.Int64Var(&f.MaxBodyBytes, "max-body-bytes", 0, "capture at most this many `bytes` of each body; longer bodies pass untouched and the record says body_truncated (default 1048576)")
	fs.DurationVar(&f.ReadHeaderTimeout, "read-header-timeout", 0, "client request header read `timeout` (default 10s)")
	fs.DurationVar(&f.IdleTimeout, "idle-timeout", 0, "client keep-alive idle `timeout` (default 2m0s)")
	commonFlags(fs, c)
	return fs
}

// commonFlags binds what both modes share: the admin listener, the
// records' way out (spool and sinks) and the program's own logs.
func commonFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML `file` whose keys are these flags' names (${ENV} and ${ENV:-default} are expanded); flags win over it")
	fs.StringVar(&c.AdminListen, "admin-listen", "", "admin `address` for /healthz, /readyz, /metrics (default \""+defaultAdminListen+"\"; \"off\" disables)")
	fs.StringVar(&c.LogFile, "log-file", "", "write records as JSON lines to `path`; \"-\" is stdout (default: stdout when no other sink is configured)")
	fs.StringVar(&c.StateDir, "state-dir", "", "`directory` for the identity cache and the spool (default $STATE_DIRECTORY, else $XDG_STATE_HOME/scimtrail, else ~/.local/state/scimtrail)")
	fs.StringVar(&c.Spool.Dir, "spool-dir", "", "`directory` of the on-disk spool every record passes through (default <state-dir>/spool)")
	fs.StringVar(&c.Spool.Sync, "spool-sync", "", "when the spool fsyncs: \"interval\" (group commit every --spool-sync-interval; a kill -9 loses nothing, a power loss the last interval) or \"always\" (before the IdP gets its answer) (default interval)")
	fs.DurationVar(&c.Spool.SyncInterval, "spool-sync-interval", 0, "group-commit `period` of --spool-sync interval (default 200ms)")
	fs.Int64Var(&c.Spool.MaxBytes, "spool-max-bytes", 0, "most `bytes` of records the spool holds for sinks that are behind (default 1073741824)")
	fs.StringVar(&c.Spool.FullPolicy, "spool-full-policy", "", "when the spool is full: \"drop-oldest\" (counted and logged) or \"block\" (answer 503 with Retry-After to changes; nothing is forwarded unlogged) (default drop-oldest)")
	kafkaFlags(fs, &c.Kafka)
	otlpFlags(fs, &c.OTLP, &c.badOTLPHeaders)
	registryFlags(fs, &c.Registry, &c.RegistryRetention, &c.Console)
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go's CPU, heap and allocation profiles at /debug/pprof/ on the admin listener, to find what a request costs (default false)")
	fs.BoolVar(&c.OTLPTraces, "otlp-traces", false, "also export the proxy's own spans (one per request, W3C traceparent propagated to the upstream) to the OTLP endpoint (default false)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 0, "on SIGTERM, wait at most this `duration` for in-flight requests, and as long again for sinks to deliver what the spool holds; the rest stays for the next start (default 30s)")
	fs.BoolVar(&c.Audit.SkipReads, "skip-reads", false, "do not record GET requests (default: every request is recorded)")
	fs.BoolVar(&c.Lookup, "lookup", true, "read a resource the identity cache does not know back from the upstream, with the request's own credentials (before a DELETE, after a PATCH/PUT answered 204)")
	fs.Var(listFlag{items: &c.Audit.Redact, split: true}, "redact", "extra attribute `names` whose values are redacted like password, comma-separated or repeated")
	fs.StringVar(&c.LogLevel, "log-level", "", "the program's own log `level`: debug, info, warn, error (default info)")
	fs.StringVar(&c.LogFormat, "log-format", "", "the program's own log `format` on stderr: text or json (default text)")
}

// kafkaFlags binds the Kafka sink's settings; their defaults are the
// kafka package's.
func kafkaFlags(fs *flag.FlagSet, k *kafka.Config) {
	fs.Var(listFlag{items: &k.Brokers, split: true}, "kafka-brokers", "send records to Kafka through these bootstrap `brokers` (host:port, comma-separated or repeated); off when empty")
	fs.StringVar(&k.Topic, "kafka-topic", "", "Kafka `topic` (default \""+kafka.DefaultTopic+"\")")
	fs.StringVar(&k.Encoding, "kafka-encoding", "", "message value `encoding`: json (the record) or otlp_proto (an OTLP ExportLogsServiceRequest) (default json)")
	fs.StringVar(&k.Compression, "kafka-compression", "", "record batch `codec`: none, gzip, snappy, lz4, zstd (default none)")
	fs.StringVar(&k.RequiredAcks, "kafka-required-acks", "", "`acks`: all, one or none (default all)")
	fs.IntVar(&k.MaxMessageBytes, "kafka-max-message-bytes", 0, "largest record batch in `bytes`, at most the topic's max.message.bytes; a bigger record has its request_body cut and is marked body_truncated (default 1000000)")
	fs.IntVar(&k.BatchSize, "kafka-batch-size", 0, "most `messages` per produce request (default 512)")
	fs.DurationVar(&k.BatchTimeout, "kafka-batch-timeout", 0, "how long a batch waits for more messages (default 1µs: the spool hands over whole batches)")
	fs.DurationVar(&k.WriteTimeout, "kafka-write-timeout", 0, "bound on each produce request (default 10s)")
	fs.DurationVar(&k.DialTimeout, "kafka-dial-timeout", 0, "bound on connecting to a broker, TLS and SASL included (default 5s)")
	fs.StringVar(&k.ClientID, "kafka-client-id", "", "client `id` sent to the brokers (default \""+kafka.DefaultClientID+"\")")
	fs.BoolVar(&k.AllowAutoTopicCreation, "kafka-auto-create-topic", false, "let the broker create a missing topic (default false: a missing topic is an error naming it)")
	kafkaConnFlags(fs, k)
}

// kafkaConnFlags binds how to reach the brokers: TLS and SASL, shared by
// the sink and the registry's reader.
func kafkaConnFlags(fs *flag.FlagSet, k *kafka.Config) {
	fs.BoolVar(&k.TLS.Enabled, "kafka-tls", false, "connect to the brokers over TLS (always verified)")
	fs.StringVar(&k.TLS.CAFile, "kafka-tls-ca", "", "trust only the CAs in this PEM `file` for the brokers (default: system roots)")
	fs.StringVar(&k.TLS.CertFile, "kafka-tls-cert", "", "client certificate PEM `file` for mutual TLS (with --kafka-tls-key)")
	fs.StringVar(&k.TLS.KeyFile, "kafka-tls-key", "", "client key PEM `file` for --kafka-tls-cert")
	fs.StringVar(&k.TLS.ServerName, "kafka-tls-server-name", "", "`name` the brokers' certificates must carry (default: the host dialed)")
	fs.StringVar(&k.SASL.Mechanism, "kafka-sasl-mechanism", "", "SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default none)")
	fs.StringVar(&k.SASL.Username, "kafka-sasl-username", "", "SASL `user`")
	fs.StringVar(&k.SASL.Password, "kafka-sasl-password", "", "SASL `password`; prefer the config file with ${ENV}, as a flag it shows in the process list")
}

// otlpFlags binds the OTLP sink's settings; their defaults are the otlp
// package's. The OTEL_EXPORTER_OTLP_* variables fill what these leave unset.
func otlpFlags(fs *flag.FlagSet, o *otlp.Config, badHeaders *int) {
	fs.StringVar(&o.Endpoint, "otlp-endpoint", "", "send records as OTLP logs to this base `URL` (http://host:4318, https://…; grpc: port 4317); off when empty and OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT is unset")
	fs.StringVar(&o.Protocol, "otlp-protocol", "", "OTLP `protocol`: grpc or http/protobuf (default http/protobuf)")
	fs.StringVar(&o.Compression, "otlp-compression", "", "request `compression`: gzip or none (default gzip)")
	fs.Var(headerFlag{m: &o.Headers, bad: badHeaders}, "otlp-header", "send this `key=value` header with every OTLP request, repeatable (values are never logged)")
	fs.DurationVar(&o.Timeout, "otlp-timeout", 0, "bound on each OTLP request (default 10s)")
	fs.IntVar(&o.MaxBatchBytes, "otlp-max-batch-bytes", 0, "split batches to keep each request under this many `bytes` (default 3145728: a stock Collector refuses gRPC messages over 4 MiB)")
	fs.IntVar(&o.BatchSize, "otlp-batch-size", 0, "most `records` per OTLP request (default 512)")
	fs.DurationVar(&o.BatchTimeout, "otlp-batch-timeout", 0, "how long a batch waits for more records (default 20ms)")
	fs.StringVar(&o.TLS.CAFile, "otlp-ca-file", "", "trust only the CAs in this PEM `file` for an https endpoint (default: system roots)")
	fs.StringVar(&o.TLS.CertFile, "otlp-cert-file", "", "client certificate PEM `file` for mutual TLS (with --otlp-key-file)")
	fs.StringVar(&o.TLS.KeyFile, "otlp-key-file", "", "client key PEM `file` for --otlp-cert-file")
	fs.BoolVar(&o.TLS.Insecure, "otlp-insecure", false, "grpc to a bare host:port endpoint in plain text, for a Collector on loopback or in the pod (an http:// endpoint is plain text anyway)")
}

// headerFlag is a repeatable key=value flag filling a map. An entry
// without "=" is counted in bad, not refused by Set: the flag package and
// the config file would quote it in their error, and such an entry is most
// often "Authorization: Bearer …", a credential.
type headerFlag struct {
	m   *map[string]string
	bad *int
}

func (h headerFlag) String() string {
	if h.m == nil || *h.m == nil {
		return ""
	}
	return fmt.Sprint(len(*h.m), " headers")
}

func (h headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		*h.bad++
		return nil
	}
	if *h.m == nil {
		*h.m = map[string]string{}
	}
	(*h.m)[strings.TrimSpace(k)] = val
	return nil
}

// parseProxyConfig reads flags, then the YAML file for every key not given
// as a flag, then validates.
func parseProxyConfig(args []string, fs *flag.FlagSet, c *config) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.ConfigFile != "" {
		if err := applyConfigFile(fs, c.ConfigFile, os.LookupEnv); err != nil {
			return err
		}
	}
	c.Audit.DisableLookup = !c.Lookup
	insecure, insecureSet := c.OTLP.TLS.Insecure, false
	fs.Visit(func(f *flag.Flag) { insecureSet = insecureSet || f.Name == "otlp-insecure" })
	if err := c.OTLP.ApplyEnv(os.Getenv); err != nil {
		return err
	}
	if insecureSet {
		// A false given as a flag or in the file is a choice, not unset.
		c.OTLP.TLS.Insecure = insecure
	}
	var err error
	if c.ServiceName, c.ResourceAttributes, err = otlp.ResourceFromEnv(os.Getenv); err != nil {
		return err
	}
	return c.validate()
}

// applyConfigFile sets, from the YAML file at path, every flag that was not
// given on the command line. Each top-level key must be a flag's name; a
// list sets a repeatable flag once per item.
func applyConfigFile(fs *flag.FlagSet, path string, lookupEnv func(string) (string, bool)) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: line %d: want a mapping of flag names to values", path, root.Line)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		f := fs.Lookup(key)
		switch {
		case f == nil || key == "config":
			return fmt.Errorf("config %s: line %d: unknown key %q", path, k.Line, key)
		case seen[key]:
			return fmt.Errorf("config %s: line %d: key %q given twice", path, k.Line, key)
		}
		seen[key] = true
		if given[key] {
			continue
		}
		values, err := scalars(v, isList(f))
		if err != nil {
			return fmt.Errorf("config %s: line %d: %q: %w", path, v.Line, key, err)
		}
		for _, raw := range values {
			s, err := expandEnv(raw, lookupEnv)
			if err != nil {
				return fmt.Errorf("config %s: line %d: %q: %w", path, v.Line, key, err)
			}
			if err := fs.Set(key, s); err != nil {
				return fmt.Errorf("config %s: line %d: %q: invalid value %q: %w", path, v.Line, key, raw, err)
			}
		}
	}
	return nil
}

func isList(f *flag.Flag) bool {
	switch f.Value.(type) {
	case listFlag, headerFlag:
		return true
	}
	return false
}

func scalars(n *yaml.Node, list bool) ([]string, error) {
	switch {
	case n.Kind == yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	case n.Kind == yaml.SequenceNode && list:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, errors.New("list items must be plain values")
			}
			out = append(out, e.Value)
		}
		return out, nil
	case n.Kind == yaml.SequenceNode:
		return nil, errors.New("takes one value, not a list")
	}
	return nil, errors.New("want a plain value")
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default}. An unset NAME without a
// default is an error: an empty upstream or token is a misconfiguration,
// not a value.
func expandEnv(s string, lookupEnv func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := lookupEnv(m[1]); ok && (v != "" || m[2] == "") {
			return v
		}
		if m[2] != "" {
			return m[3]
		}
		missing = append(missing, m[1])
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}
