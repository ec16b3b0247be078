package feed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

// Sink takes records; *registry.Registry is one. Export must be idempotent
// by record id: a feed redelivers after a crash.
type Sink interface {
	Export(ctx context.Context, recs []schema.Record) error
}

// Defaults of KafkaConfig.
const (
	DefaultBatchSize      = 500
	DefaultBatchTimeout   = 500 * time.Millisecond
	DefaultSessionTimeout = 10 * time.Second
)

// KafkaConfig says where to read records from.
type KafkaConfig struct {
	// Kafka holds the brokers, topic, TLS, SASL and client id, as for the
	// sink. Brokers are required.
	Kafka kafka.Config
	// Group is the consumer group; required. Offsets are committed to it
	// after each stored batch, so a restarted reader resumes where the
	// last stored batch ended, and a new group reads the topic from the
	// start.
	Group string
	// BatchSize is the most messages stored in one transaction. Default
	// 500.
	BatchSize int
	// BatchTimeout is how long a batch waits for more messages once it has
	// one. Default 500ms.
	BatchTimeout time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// answering (a killed reader) before giving its partitions to another:
	// a restarted reader resumes after it. Default 10s; the broker's
	// group.min.session.timeout.ms (6s by default) is the least.
	SessionTimeout time.Duration
}

// Validate names the first missing setting.
func (c KafkaConfig) Validate() error {
	switch {
	case len(c.Kafka.Brokers) == 0:
		return errors.New(`feed: requires "from-kafka" brokers`)
	case c.Group == "":
		return errors.New(`feed: requires a consumer "group"`)
	}
	return c.Kafka.Validate()
}

// FromKafka reads the topic as a member of the consumer group until ctx
// ends, storing each batch in sink and then committing its offsets. A
// message that is not a record is logged and skipped (it stays in the
// topic); one in an encoding this build does not know stops the reader
// before its batch is committed. It returns nil when ctx ends, or the first error of the sink or
// of a commit: the uncommitted batch is read again on the next start.
func FromKafka(ctx context.Context, cfg KafkaConfig, sink Sink, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		return err
	}
	topic := cfg.Kafka.Topic
	if topic == "" {
		topic = kafka.DefaultTopic
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:        cfg.Kafka.Brokers,
		GroupID:        cfg.Group,
		Topic:          topic,
		Dialer:         dialer,
		MaxBytes:       16 << 20,
		MaxWait:        time.Second,
		StartOffset:    kafkago.FirstOffset,
		SessionTimeout: positiveOr(cfg.SessionTimeout, DefaultSessionTimeout),
		// Commits are explicit, after the batch is stored.
		CommitInterval: 0,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			logger.Warn("feed: kafka: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	size := positiveOr(cfg.BatchSize, DefaultBatchSize)
	wait := positiveOr(cfg.BatchTimeout, DefaultBatchTimeout)
	for {
		msgs, err := fetchBatch(ctx, r, size, wait)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("feed: kafka: read %s: %w", topic, err)
		}
		var recs []schema.Record
		for _, m := range msgs {
			got, err := kafka.DecodeMessage(m)
			switch {
			case errors.Is(err, kafka.ErrUnknownContentType):
				// A newer writer's encoding: skipping would lose its
				// records for good. Stop before committing; an upgraded
				// reader takes it from here.
				return fmt.Errorf("feed: kafka: %s partition %d: %w", topic, m.Partition, err)
			case err != nil:
				logger.Warn("feed: kafka: skipped a message that is not a record", "partition", m.Partition, "offset", m.Offset, "err", err)
				continue
			}
			recs = append(recs, got...)
		}
		if err := sink.Export(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("feed: kafka: store %d records: %w", len(recs), err)
		}
		if err := r.CommitMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("feed: kafka: commit %s: %w", topic, err)
		}
	}
}

// fetchBatch waits for one message, then takes what else arrives within
// wait, up to size.
func fetchBatch(ctx context.Context, r *kafkago.Reader, size int, wait time.Duration) ([]kafkago.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []kafkago.Message{m}
	bctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for len(msgs) < size {
		m, err := r.FetchMessage(bctx)
		if err != nil {
			if bctx.Err() != nil && ctx.Err() == nil {
				break // the batch's time is up
			}
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// FromFile stores every record of a JSON-lines file (one record per line,
// as the file sink writes and SIEM exports give back) in sink, batchSize
// at a time ("-" reads stdin). Blank lines are skipped; a line that is not
// a record is reported with its number and skipped. It returns the number
// of records read and of lines skipped.
func FromFile(ctx context.Context, path string, sink Sink, batchSize int, logger *slog.Logger) (read, skipped int, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, fmt.Errorf("feed: %w", err)
		}
		defer f.Close()
		in = f
	}
	size := positiveOr(batchSize, DefaultBatchSize)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	batch := make([]schema.Record, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := sink.Export(ctx, batch); err != nil {
			return fmt.Errorf("feed: %s: store: %w", path, err)
		}
		read += len(batch)
		batch = batch[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec schema.Record
		if err := json.Unmarshal(b, &rec); err != nil || rec.ID == "" {
			skipped++
			logger.Warn("feed: skipped a line that is not a record", "file", path, "line", line)
			continue
		}
		if batch = append(batch, rec); len(batch) == size {
			if err := flush(); err != nil {
				return read, skipped, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return read, skipped, fmt.Errorf("feed: %s: %w", path, err)
	}
	return read, skipped, flush()
}
