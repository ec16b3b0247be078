package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

// Message header keys.
const (
	HeaderContentType   = "content-type"
	HeaderSchemaVersion = "schema-version"
	HeaderRecordID      = "record-id"
)

// Notes added to a record cut down to fit MaxMessageBytes.
const (
	NoteBodyCut        = "request_body cut to fit kafka-max-message-bytes"
	NoteChangesDropped = "changes dropped to fit kafka-max-message-bytes"
	NoteMembersDropped = "members_added and members_removed dropped to fit kafka-max-message-bytes"
)

// shrinkSlack is what a cut leaves beyond the bytes over the limit: room
// for the note and body_truncated it adds, in either encoding.
const shrinkSlack = 256

// ErrClosed is returned (wrapped) by Export after Close.
var ErrClosed = errors.New("kafka: sink closed")

// Options are the parts of a Sink that are not configuration. The zero
// value is ready to use.
type Options struct {
	// Logger receives warnings: a record cut down to fit, SASL PLAIN
	// without TLS; and at debug level kafka-go's own error reports. Nil
	// means discard.
	Logger *slog.Logger
	// Resource names this process in otlp_proto values. The zero value
	// means service.name "scimtrail" alone.
	Resource schema.Resource
}

// Sink produces records to one Kafka topic. Make one with New and Close it
// when done. Export is safe for concurrent use, but the per-key order it
// promises holds between the records of one Export and between Exports
// made one after the other, as the spool makes them.
type Sink struct {
	cfg       Config
	topic     string
	limit     int // most bytes of one message, as kafka-go counts them
	log       *slog.Logger
	res       schema.Resource
	w         *kafkago.Writer
	transport *kafkago.Transport
	// Header values shared by every message of the sink; kafka-go only
	// reads them.
	contentType, schemaVersion []byte
	closed                     atomic.Bool
}

var _ exporter.Sink = (*Sink)(nil)

// New validates cfg, reads its TLS files and returns a Sink. It does not
// contact the brokers: the first Export does, so a broker that is down at
// start-up delays records rather than the process.
func New(cfg Config, opts Options) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	mech, err := cfg.saslMechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mech != nil && mech.Name() == SASLPlain && tlsCfg == nil {
		log.Warn("kafka: SASL PLAIN without TLS sends the password to the brokers as it is; set kafka-tls")
	}
	topic := cfg.topic()
	// A transport of our own: kafka.DefaultTransport is shared
	// process-wide, and ours carries this sink's TLS, SASL and client id.
	transport := &kafkago.Transport{
		Dial:        (&net.Dialer{Timeout: cfg.dialTimeout()}).DialContext,
		DialTimeout: cfg.dialTimeout(),
		ClientID:    cfg.clientID(),
		TLS:         tlsCfg,
		SASL:        mech,
		// Only our topic's metadata: less to fetch on a large cluster, and
		// no need for Describe rights on every topic.
		MetadataTopics: []string{topic},
	}
	w := &kafkago.Writer{
		Addr:  kafkago.TCP(cfg.Brokers...),
		Topic: topic,
		// Murmur2 on the key, as the Java client's default partitioner:
		// a resource's records land on the partition other producers of
		// the same key choose. Keys are never nil, so no record is spread
		// at random.
		Balancer: &kafkago.Murmur2Balancer{},
		// One attempt: the spool retries with backoff and sees every error,
		// so classification happens once and retries are not multiplied.
		MaxAttempts: 1,
		BatchSize:   cfg.batchSize(),
		// kafka-go refuses a single message above BatchBytes and closes a
		// partition's batch before it grows past it; the reserve keeps the
		// batch as the broker counts it within MaxMessageBytes.
		BatchBytes:             int64(cfg.messageLimit()),
		BatchTimeout:           cfg.batchTimeout(),
		ReadTimeout:            cfg.writeTimeout(),
		WriteTimeout:           cfg.writeTimeout(),
		RequiredAcks:           cfg.acks(),
		Compression:            cfg.codec(),
		Transport:              transport,
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
		// kafka-go reports each failed attempt; Export returns the same
		// error to the spool, which logs it, so this is for debugging.
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			log.Debug(fmt.Sprintf(format, args...), "component", "kafka-go")
		}),
	}
	return &Sink{
		cfg:           cfg,
		topic:         topic,
		limit:         cfg.messageLimit(),
		log:           log,
		res:           opts.Resource,
		w:             w,
		transport:     transport,
		contentType:   []byte(cfg.contentType()),
		schemaVersion: []byte(schema.Version),
	}, nil
}

// Name returns "kafka", the sink's name in metrics and logs.
func (s *Sink) Name() string { return "kafka" }

// Export produces one message per record and returns once the brokers
// acknowledged them all (as RequiredAcks asks), or on the first failure,
// or when ctx ends.
//
// Records go out in rounds of at most BatchSize records and MaxMessageBytes,
// each acknowledged before the next is sent, so kafka-go makes at most one
// batch per partition of a round and a record is never written after an
// earlier one of its key failed: per-key order survives a retry, which
// only repeats records already written (consumers drop duplicates by id).
//
// A record that cannot be encoded, or that does not fit MaxMessageBytes
// even cut down, is left out and reported as a Permanent error after the
// others are written. A failed write is retryable unless every failed
// message failed for a reason retrying cannot fix (the topic does not
// exist and auto-create is off, writing to it is not authorized, the
// broker refuses the batch as too large).
func (s *Sink) Export(ctx context.Context, recs []schema.Record) error {
	if s.closed.Load() {
		return fmt.Errorf("kafka: write %s: %w", s.topic, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: write %s: %w", s.topic, err)
	}
	msgs := make([]kafkago.Message, 0, len(recs))
	var encErrs []error
	for i := range recs {
		m, err := s.message(recs[i])
		if err != nil {
			encErrs = append(encErrs, err)
			continue
		}
		msgs = append(msgs, m)
	}
	for start := 0; start < len(msgs); {
		end := s.roundEnd(msgs, start)
		if err := s.w.WriteMessages(ctx, msgs[start:end]...); err != nil {
			return s.writeError(err)
		}
		start = end
	}
	if len(encErrs) > 0 {
		return exporter.Permanent(fmt.Errorf("kafka: encode for %s: %w", s.topic, errors.Join(encErrs...)))
	}
	return nil
}

// roundEnd returns the end of the round starting at msgs[start]: as many
// messages as one kafka-go batch takes, counted over all partitions, so
// no partition's share of the round is split into two batches.
func (s *Sink) roundEnd(msgs []kafkago.Message, start int) int {
	end, size := start, 0
	for end < len(msgs) && end-start < s.cfg.batchSize() {
		n := messageSize(&msgs[end])
		if end > start && size+n > s.limit {
			break
		}
		size += n
		end++
	}
	return end
}

// Close waits for writes in flight, then closes the connections. Later
// Exports fail with ErrClosed; later Closes return nil.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.w.Close()
	// The writer closes only a transport it made itself; ours also runs a
	// metadata goroutine per cluster until its connections are closed.
	s.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("kafka: close writer for %s: %w", s.topic, err)
	}
	return nil
}

// message encodes rec as one message no larger than s.limit, cutting the
// record down in bounded steps when it is too large: request_body to a
// prefix (a second time should the first leave it over, which the slack
// makes unlikely), then no request_body, then no changes, then no member
// lists. Each step is noted in the record.
// rec is a copy; slices it shares with the caller are never written.
func (s *Sink) message(rec schema.Record) (kafkago.Message, error) {
	msg, err := s.encode(&rec)
	if err != nil {
		return msg, err
	}
	size := messageSize(&msg)
	over := size - s.limit
	if over <= 0 {
		return msg, nil
	}
	for _, shrink := range []func(*schema.Record, int) bool{s.cutBody, s.cutBody, dropBody, dropChanges, dropMembers} {
		if !shrink(&rec, over) {
			continue
		}
		if msg, err = s.encode(&rec); err != nil {
			return msg, err
		}
		if over = messageSize(&msg) - s.limit; over <= 0 {
			s.log.Warn("kafka: record cut down to fit kafka-max-message-bytes",
				"record_id", rec.ID, "bytes", size, "limit", s.limit, "notes", rec.Notes)
			return msg, nil
		}
	}
	return msg, fmt.Errorf("record %s: %d bytes over the %d a message may hold, even without request_body, changes and members",
		rec.ID, over, s.limit)
}

// encode makes rec's message: key, value, headers and timestamp.
func (s *Sink) encode(rec *schema.Record) (kafkago.Message, error) {
	var value []byte
	switch s.cfg.encoding() {
	case EncodingOTLPProto:
		req := plogotlp.NewExportRequestFromLogs(schema.NewLogs(s.res, []schema.Record{*rec}))
		b, err := req.MarshalProto()
		if err != nil {
			return kafkago.Message{}, fmt.Errorf("record %s: %w", rec.ID, err)
		}
		value = b
	default:
		// As the file sink writes a line: no HTML escaping, so the two
		// outputs are byte for byte the same record.
		b, err := rec.AppendJSON(nil)
		if err != nil {
			return kafkago.Message{}, fmt.Errorf("record %s: %w", rec.ID, err)
		}
		value = b
	}
	return kafkago.Message{
		Key:   []byte(Key(rec)),
		Value: value,
		Headers: []kafkago.Header{
			{Key: HeaderContentType, Value: s.contentType},
			{Key: HeaderSchemaVersion, Value: s.schemaVersion},
			{Key: HeaderRecordID, Value: []byte(rec.ID)},
		},
		Time: rec.Timestamp,
	}, nil
}

// Key returns the message key of rec: its ResourceID, else its
// IdPResourceID, else its ID, so one resource's records share a partition
// and keep their order.
func Key(rec *schema.Record) string {
	switch {
	case rec.ResourceID != "":
		return rec.ResourceID
	case rec.IdPResourceID != "":
		return rec.IdPResourceID
	default:
		return rec.ID
	}
}

// messageSize counts msg as kafka-go does when it compares a message with
// Writer.BatchBytes (Message.totalSize): 22 bytes of framing, key, value,
// and the headers as varint-prefixed strings.
func messageSize(msg *kafkago.Message) int {
	n := 4 + 1 + 1 + 4 + len(msg.Key) + 4 + len(msg.Value) + 8
	n += varintLen(len(msg.Headers))
	for _, h := range msg.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

// varintLen is the size of n as a zig-zag varint.
func varintLen(n int) int {
	u := uint64(n) << 1 // n is never negative
	size := 1
	for u >= 0x80 {
		u >>= 7
		size++
	}
	return size
}

// cutBody keeps the longest prefix of the request body, at a rune
// boundary, whose removed part is worth over bytes plus some slack in the
// encoding: one pass, as each rune's encoded width is known.
func (s *Sink) cutBody(r *schema.Record, over int) bool {
	if r.RequestBody == "" {
		return false
	}
	width := protoWidth
	if s.cfg.encoding() == EncodingJSON {
		width = jsonWidth
	}
	need, n := over+shrinkSlack, len(r.RequestBody)
	for n > 0 && need > 0 {
		c, size := utf8.DecodeLastRuneInString(r.RequestBody[:n])
		need -= width(c, size)
		n -= size
	}
	r.RequestBody = r.RequestBody[:n]
	r.BodyTruncated = true
	addNote(r, NoteBodyCut)
	return true
}

// jsonWidth is how many bytes encoding/json writes for rune c, size bytes
// of a string, with HTML escaping off (as encode sets it).
func jsonWidth(c rune, size int) int {
	switch {
	case c == utf8.RuneError && size == 1:
		return len(`\ufffd`)
	case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
		return 2
	case c < 0x20 || c == '\u2028' || c == '\u2029':
		return len(`\u0000`)
	}
	return size
}

// protoWidth: protobuf carries a string's bytes as they are.
func protoWidth(_ rune, size int) int { return size }

func dropBody(r *schema.Record, _ int) bool {
	if r.RequestBody == "" {
		return false
	}
	r.RequestBody = ""
	r.BodyTruncated = true
	addNote(r, NoteBodyCut)
	return true
}

func dropChanges(r *schema.Record, _ int) bool {
	if len(r.Changes) == 0 {
		return false
	}
	r.Changes = nil
	addNote(r, NoteChangesDropped)
	return true
}

func dropMembers(r *schema.Record, _ int) bool {
	if len(r.MembersAdded) == 0 && len(r.MembersRemoved) == 0 {
		return false
	}
	r.MembersAdded, r.MembersRemoved = nil, nil
	addNote(r, NoteMembersDropped)
	return true
}

// addNote appends note once. Clip makes the append copy rather than write
// into a backing array the caller's record may share.
func addNote(r *schema.Record, note string) {
	if !slices.Contains(r.Notes, note) {
		r.Notes = append(slices.Clip(r.Notes), note)
	}
}

// writeError wraps a WriteMessages error with the topic and marks it
// Permanent when every failure is one retrying cannot fix. kafka-go
// reports per-message errors as a WriteErrors slice, which errors.As does
// not look into, so its distinct errors are unpacked here.
func (s *Sink) writeError(err error) error {
	if errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("kafka: write %s: %w", s.topic, ErrClosed)
	}
	var werrs kafkago.WriteErrors
	if !errors.As(err, &werrs) {
		permanent, explained := s.classify(err)
		return mark(fmt.Errorf("kafka: write %s: %w", s.topic, explained), permanent)
	}
	seen := make(map[string]bool)
	var causes []error
	permanent := true
	for _, e := range werrs {
		if e == nil || seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		p, explained := s.classify(e)
		causes = append(causes, explained)
		permanent = permanent && p
	}
	return mark(fmt.Errorf("kafka: write %s: %d of %d records failed: %w",
		s.topic, werrs.Count(), len(werrs), errors.Join(causes...)), permanent && len(causes) > 0)
}

func mark(err error, permanent bool) error {
	if permanent {
		return exporter.Permanent(err)
	}
	return err
}

// classify reports whether retrying cannot fix err, and adds what the
// operator should know to the Kafka errors that it cannot fix. Everything else is
// retryable: network failures, timeouts, leader elections, and also
// failed SASL authentication or TLS verification. Those are
// misconfigurations, but Permanent means "this record can never be
// delivered" and makes the spool dead-letter it, while a fixed password
// or CA delivers every record the spool kept meanwhile.
func (s *Sink) classify(err error) (permanent bool, explained error) {
	var kerr kafkago.Error
	if !errors.As(err, &kerr) {
		return false, err
	}
	switch kerr {
	case kafkago.UnknownTopicOrPartition:
		if s.cfg.AllowAutoTopicCreation {
			return false, err // being created, or about to be
		}
		return true, fmt.Errorf("topic %q does not exist and auto-create is off (create it, or set kafka-auto-create-topic): %w", s.topic, err)
	case kafkago.TopicAuthorizationFailed:
		return true, fmt.Errorf("not authorized to write to topic %q: %w", s.topic, err)
	case kafkago.InvalidTopic:
		return true, fmt.Errorf("the broker refuses topic name %q: %w", s.topic, err)
	case kafkago.MessageSizeTooLarge, kafkago.RecordListTooLarge:
		return true, fmt.Errorf("the broker refused a batch as too large: set kafka-max-message-bytes at or below the topic's max.message.bytes: %w", err)
	}
	return false, err
}
