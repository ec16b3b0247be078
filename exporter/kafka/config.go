package kafka

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/scimtrail/scimtrail/internal/tlsfile"
)

// Encodings of Config.Encoding.
const (
	// EncodingJSON makes the value the record's JSON, content-type
	// application/json.
	EncodingJSON = "json"
	// EncodingOTLPProto makes the value an OTLP ExportLogsServiceRequest
	// (protobuf) holding the record as one log record, content-type
	// application/x-protobuf.
	EncodingOTLPProto = "otlp_proto"
)

// SASL mechanisms of SASLConfig.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// Defaults of Config, applied by its accessors when a field is zero.
const (
	DefaultTopic           = "scim-logs"
	DefaultEncoding        = EncodingJSON
	DefaultCompression     = "none"
	DefaultRequiredAcks    = "all"
	DefaultMaxMessageBytes = 1_000_000
	DefaultBatchSize       = 512
	DefaultBatchTimeout    = time.Microsecond
	DefaultWriteTimeout    = 10 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultClientID        = "scimtrail"
)

// Size reserves, in bytes, between what kafka-go counts for a message and
// what the broker checks against its message.max.bytes: the size of a whole
// record batch, compressed. kafka-go counts 22 bytes of framing per
// message; a v2 record needs at most 2 more (a 10-byte timestamp delta), a
// batch adds a 61-byte header, and a codec adds a few bytes per block of
// data that does not compress. The reserves cover all of that with room.
const (
	batchReserve  = 512
	recordReserve = 8
	// minRecordBytes is the least room for one record Validate accepts: a
	// record without its body, changes and members must still fit.
	minRecordBytes = 1024
)

// Config configures a Sink. The zero value of every field but Brokers means
// its documented default. Fields have no YAML tags: the command maps its
// flags (named after each field below) and YAML keys onto them. A Config is
// a plain value, safe to copy; printing it (fmt, slog) never shows the SASL
// password.
type Config struct {
	// Brokers are the bootstrap brokers, each host:port. Required
	// (--kafka-brokers).
	Brokers []string
	// Topic receives the records. Default "scim-logs" (--kafka-topic).
	Topic string
	// Encoding of the message value: "json" or "otlp_proto". Default
	// "json" (--kafka-encoding).
	Encoding string
	// Compression of record batches: "none", "gzip", "snappy", "lz4" or
	// "zstd". Default "none", as the Kafka producer's default: every broker
	// and consumer reads it and no CPU is spent (--kafka-compression).
	Compression string
	// RequiredAcks is how many replicas must have a batch before the broker
	// answers: "all" (the in-sync replicas), "one" (the leader) or "none".
	// Default "all". With "none" the broker never answers, so a write
	// counts as delivered once it is sent and a broker failure can lose
	// records the spool already let go (--kafka-required-acks).
	RequiredAcks string
	// MaxMessageBytes bounds a record batch as the broker counts it; keep
	// it at or below the topic's max.message.bytes (the broker's
	// message.max.bytes, 1048588 by default). Of it, 512 bytes plus 8 per
	// record of a round are kept for framing kafka-go does not count. A
	// record that would not fit is cut down and marked rather than
	// refused. Default 1000000 (--kafka-max-message-bytes).
	MaxMessageBytes int
	// BatchSize is the most records in one round of produce requests (one
	// request per partition the round touches); an Export of more records
	// sends several rounds, each acknowledged before the next. kafka-go
	// reserves room for this many messages (about 150 bytes each) in each
	// partition's batch. Default 512, the spool's default batch, so an
	// Export is usually one round (--kafka-batch-size).
	BatchSize int
	// BatchTimeout is how long a partition's batch waits for more messages
	// before it is sent. kafka-go fills a partition's batch with all of an
	// Export's records for it under one lock and starts the clock then, so
	// the wait never gathers more of the same Export: it only lets
	// concurrent Exports share a request, and every Export pays it (1ms
	// cost about 40% of BenchmarkExport's records/s). Default 1µs: send at
	// once (--kafka-batch-timeout).
	BatchTimeout time.Duration
	// WriteTimeout bounds each produce request and metadata read. Export
	// also returns when its context ends. Default 10s
	// (--kafka-write-timeout).
	WriteTimeout time.Duration
	// DialTimeout bounds connecting to a broker, including the TLS
	// handshake and SASL authentication. Default 5s (--kafka-dial-timeout).
	DialTimeout time.Duration
	// TLS secures the connections to the brokers. Default: plain TCP.
	TLS TLSConfig
	// SASL authenticates to the brokers. Default: no authentication.
	SASL SASLConfig
	// ClientID names this producer to the brokers (logs, quotas, ACL
	// audits). Default "scimtrail" (--kafka-client-id).
	ClientID string
	// AllowAutoTopicCreation asks the broker to create a missing Topic
	// (with the broker's defaults) when it is configured to allow it.
	// Default false: a missing topic is a permanent error naming it, so a
	// typo does not silently create a topic nobody reads
	// (--kafka-auto-create-topic).
	AllowAutoTopicCreation bool
}

// TLSConfig configures TLS to the brokers. TLS 1.2 is the least version
// offered; the broker's certificate is always verified.
type TLSConfig struct {
	// Enabled turns TLS on (--kafka-tls). Default off.
	Enabled bool
	// CAFile is a PEM bundle of the CAs trusted for the brokers'
	// certificates; when set, only these are trusted. Default: the system
	// roots (--kafka-tls-ca).
	CAFile string
	// CertFile and KeyFile, together, are the PEM client certificate and
	// key offered for mutual TLS. Default: none (--kafka-tls-cert,
	// --kafka-tls-key).
	CertFile string
	KeyFile  string
	// ServerName is the name the brokers' certificates must carry. Default:
	// each broker's host as dialed (--kafka-tls-server-name).
	ServerName string
}

// SASLConfig configures SASL authentication. Use it with TLS: PLAIN sends
// the password as it is, and SCRAM leaves the records themselves readable.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case).
	// Default: none, no SASL (--kafka-sasl-mechanism).
	Mechanism string
	// Username and Password are the credentials; both are required with a
	// Mechanism (--kafka-sasl-username, --kafka-sasl-password). The
	// password appears in no error, log line or printed Config.
	Username string
	Password string
}

// String shows the mechanism and user, never the password: a Config
// printed with %v or %+v goes through it.
func (s SASLConfig) String() string {
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s}", s.Mechanism, s.Username, redacted(s.Password))
}

// GoString is String for %#v.
func (s SASLConfig) GoString() string { return "kafka.SASLConfig" + s.String() }

// LogValue keeps the password out of structured logs.
func (s SASLConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username),
		slog.String("password", redacted(s.Password)),
	)
}

// MarshalJSON keeps the password out of JSON, which is how slog's JSON
// handler prints a Config.
func (s SASLConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct{ Mechanism, Username, Password string }{s.Mechanism, s.Username, redacted(s.Password)})
}

func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}

func (c Config) topic() string       { return orString(c.Topic, DefaultTopic) }
func (c Config) encoding() string    { return orString(c.Encoding, DefaultEncoding) }
func (c Config) compression() string { return orString(c.Compression, DefaultCompression) }
func (c Config) requiredAcks() string {
	return orString(c.RequiredAcks, DefaultRequiredAcks)
}
func (c Config) clientID() string            { return orString(c.ClientID, DefaultClientID) }
func (c Config) maxMessageBytes() int        { return positiveOr(c.MaxMessageBytes, DefaultMaxMessageBytes) }
func (c Config) batchSize() int              { return positiveOr(c.BatchSize, DefaultBatchSize) }
func (c Config) batchTimeout() time.Duration { return positiveOr(c.BatchTimeout, DefaultBatchTimeout) }
func (c Config) writeTimeout() time.Duration { return positiveOr(c.WriteTimeout, DefaultWriteTimeout) }
func (c Config) dialTimeout() time.Duration  { return positiveOr(c.DialTimeout, DefaultDialTimeout) }
func (c Config) mechanism() string           { return strings.ToUpper(c.SASL.Mechanism) }
func (c Config) batchReserve() int           { return batchReserve + c.batchSize()*recordReserve }
func (c Config) messageLimit() int           { return c.maxMessageBytes() - c.batchReserve() }
func (c Config) minMaxMessageBytes() int     { return minRecordBytes + c.batchReserve() }
func (c Config) contentType() string         { return contentTypes[c.encoding()] }
func (c Config) acks() kafkago.RequiredAcks  { return requiredAcks[c.requiredAcks()] }
func (c Config) codec() kafkago.Compression  { return compressions[c.compression()] }

var contentTypes = map[string]string{
	EncodingJSON:      "application/json",
	EncodingOTLPProto: "application/x-protobuf",
}

var requiredAcks = map[string]kafkago.RequiredAcks{
	"all":  kafkago.RequireAll,
	"one":  kafkago.RequireOne,
	"none": kafkago.RequireNone,
}

// compressions maps names to kafka-go codecs; "none" is the zero value.
var compressions = map[string]kafkago.Compression{
	"none":   0,
	"gzip":   kafkago.Gzip,
	"snappy": kafkago.Snappy,
	"lz4":    kafkago.Lz4,
	"zstd":   kafkago.Zstd,
}

// positiveOr is the one place a zero (unset) setting becomes its default.
func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// firstSet names the first TLS setting that is set, "" when none is.
func firstSet(t TLSConfig) string {
	for _, s := range []struct{ key, v string }{
		{"kafka-tls-ca", t.CAFile},
		{"kafka-tls-cert", t.CertFile},
		{"kafka-tls-key", t.KeyFile},
		{"kafka-tls-server-name", t.ServerName},
	} {
		if s.v != "" {
			return s.key
		}
	}
	return ""
}

// Validate reports every problem of c, each naming the offending flag in
// quotes, joined with errors.Join. It reads no files: unreadable TLS files
// are reported by New. No message holds the SASL password.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New(`requires a non-empty "kafka-brokers"`))
	}
	for _, b := range c.Brokers {
		if !isHostPort(b) {
			errs = append(errs, fmt.Errorf(`"kafka-brokers": %q is not host:port`, b))
		}
	}
	if t := c.topic(); !validTopic(t) {
		errs = append(errs, fmt.Errorf(`"kafka-topic": %q is not a topic name: use 1 to 249 of a-z A-Z 0-9 . _ - (not "." or "..")`, t))
	}
	if _, ok := contentTypes[c.encoding()]; !ok {
		errs = append(errs, fmt.Errorf(`"kafka-encoding": %q is not json or otlp_proto`, c.Encoding))
	}
	if _, ok := compressions[c.compression()]; !ok {
		errs = append(errs, fmt.Errorf(`"kafka-compression": %q is not none, gzip, snappy, lz4 or zstd`, c.Compression))
	}
	if _, ok := requiredAcks[c.requiredAcks()]; !ok {
		errs = append(errs, fmt.Errorf(`"kafka-required-acks": %q is not all, one or none`, c.RequiredAcks))
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"kafka-max-message-bytes", c.MaxMessageBytes},
		{"kafka-batch-size", c.BatchSize},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%q: must not be negative, got %d", n.key, n.v))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"kafka-batch-timeout", c.BatchTimeout},
		{"kafka-write-timeout", c.WriteTimeout},
		{"kafka-dial-timeout", c.DialTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%q: must not be negative, got %v", d.key, d.v))
		}
	}
	if c.MaxMessageBytes >= 0 && c.BatchSize >= 0 && c.maxMessageBytes() < c.minMaxMessageBytes() {
		errs = append(errs, fmt.Errorf(`"kafka-max-message-bytes": %d is too small for "kafka-batch-size" %d: want at least %d`,
			c.maxMessageBytes(), c.batchSize(), c.minMaxMessageBytes()))
	}
	if !c.TLS.Enabled {
		if key := firstSet(c.TLS); key != "" {
			errs = append(errs, fmt.Errorf(`%q is set but "kafka-tls" is off`, key))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New(`"kafka-tls-cert" and "kafka-tls-key" must be set together`))
	}
	switch m := c.mechanism(); m {
	case "":
		if c.SASL.Username != "" {
			errs = append(errs, errors.New(`"kafka-sasl-username" is set but "kafka-sasl-mechanism" is not`))
		}
		if c.SASL.Password != "" {
			errs = append(errs, errors.New(`"kafka-sasl-password" is set but "kafka-sasl-mechanism" is not`))
		}
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, fmt.Errorf(`"kafka-sasl-mechanism" %s requires "kafka-sasl-username"`, m))
		}
		if c.SASL.Password == "" {
			errs = append(errs, fmt.Errorf(`"kafka-sasl-mechanism" %s requires "kafka-sasl-password"`, m))
		}
	default:
		errs = append(errs, fmt.Errorf(`"kafka-sasl-mechanism": %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`, c.SASL.Mechanism))
	}
	return errors.Join(errs...)
}

func isHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// validTopic applies Kafka's own rule, so a bad name fails at start-up
// rather than as a permanent error on the first record.
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tlsConfig builds the client TLS configuration, reading the files; nil
// when TLS is off.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	tc, err := tlsfile.Client(tlsfile.Files{
		CAFile: c.TLS.CAFile, CAKey: "kafka-tls-ca",
		CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, PairKeys: `"kafka-tls-cert", "kafka-tls-key"`,
	})
	if err != nil {
		return nil, err
	}
	tc.ServerName = c.TLS.ServerName
	return tc, nil
}

// saslMechanism builds the SASL mechanism; nil when SASL is off.
func (c Config) saslMechanism() (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch c.mechanism() {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}, nil
	case SASLSCRAMSHA256:
		algo = scram.SHA256
	case SASLSCRAMSHA512:
		algo = scram.SHA512
	default:
		return nil, fmt.Errorf(`"kafka-sasl-mechanism": %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`, c.SASL.Mechanism)
	}
	m, err := scram.Mechanism(algo, c.SASL.Username, c.SASL.Password)
	if err != nil {
		// The cause (a SASLprep failure) may quote part of the password,
		// so it is dropped.
		return nil, fmt.Errorf(`"kafka-sasl-username" or "kafka-sasl-password" is not valid for %s (SASLprep)`, c.mechanism())
	}
	return m, nil
}
