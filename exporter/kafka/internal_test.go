package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

func TestConfig_ZeroMeansDefaults(t *testing.T) {
	var c Config
	for name, tc := range map[string]struct{ got, want any }{
		"topic":           {c.topic(), "scim-logs"},
		"encoding":        {c.encoding(), "json"},
		"compression":     {c.compression(), "none"},
		"required acks":   {c.acks(), kafkago.RequireAll},
		"codec":           {c.codec(), kafkago.Compression(0)},
		"max bytes":       {c.maxMessageBytes(), 1_000_000},
		"batch size":      {c.batchSize(), 512},
		"batch timeout":   {c.batchTimeout(), time.Microsecond},
		"write timeout":   {c.writeTimeout(), 10 * time.Second},
		"dial timeout":    {c.dialTimeout(), 5 * time.Second},
		"client id":       {c.clientID(), "scimtrail"},
		"content type":    {c.contentType(), "application/json"},
		"message limit":   {c.messageLimit(), 1_000_000 - 512 - 512*8},
		"auto-create off": {c.AllowAutoTopicCreation, false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", name, tc.got, tc.want)
		}
	}
}

// TestNew_WriterSettings pins the kafka-go settings the package doc and
// the comments in New promise.
func TestNew_WriterSettings(t *testing.T) {
	s, err := New(Config{
		Brokers: []string{"127.0.0.1:9093", "127.0.0.2:9093"},
		TLS:     TLSConfig{Enabled: true, ServerName: "kafka.internal"},
		SASL:    SASLConfig{Mechanism: "scram-sha-256", Username: "u", Password: "p"},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.w
	if _, ok := w.Balancer.(*kafkago.Murmur2Balancer); !ok {
		t.Errorf("balancer %T, want the Java-compatible murmur2", w.Balancer)
	}
	if w.MaxAttempts != 1 || w.Async || w.RequiredAcks != kafkago.RequireAll {
		t.Errorf("MaxAttempts %d, Async %v, RequiredAcks %v; want 1, false, all", w.MaxAttempts, w.Async, w.RequiredAcks)
	}
	if w.BatchBytes != int64(s.limit) || w.BatchSize != 512 || w.BatchTimeout != time.Microsecond {
		t.Errorf("BatchBytes %d (limit %d), BatchSize %d, BatchTimeout %v", w.BatchBytes, s.limit, w.BatchSize, w.BatchTimeout)
	}
	if w.Addr.String() != "127.0.0.1:9093,127.0.0.2:9093" {
		t.Errorf("Addr %s", w.Addr)
	}
	tr, ok := w.Transport.(*kafkago.Transport)
	if !ok || tr == kafkago.DefaultTransport || tr != s.transport {
		t.Fatalf("transport %T: want the sink's own", w.Transport)
	}
	if tr.ClientID != "scimtrail" || tr.DialTimeout != 5*time.Second || tr.Dial == nil || len(tr.MetadataTopics) != 1 || tr.MetadataTopics[0] != "scim-logs" {
		t.Errorf("transport ClientID %q, DialTimeout %v, Dial set %v, MetadataTopics %v", tr.ClientID, tr.DialTimeout, tr.Dial != nil, tr.MetadataTopics)
	}
	if tr.TLS == nil || tr.TLS.MinVersion != tls.VersionTLS12 || tr.TLS.ServerName != "kafka.internal" || tr.TLS.InsecureSkipVerify {
		t.Errorf("TLS %+v: want verified TLS 1.2+ for kafka.internal", tr.TLS)
	}
	if tr.SASL == nil || tr.SASL.Name() != "SCRAM-SHA-256" {
		t.Errorf("SASL %v, want SCRAM-SHA-256", tr.SASL)
	}
}

// TestMessageSize_MatchesKafkaGo: the sink's limit is only safe if it
// counts a message exactly as kafka-go does against BatchBytes. kafka-go
// checks sizes before it contacts a broker, so a writer with a closed
// transport and a cancelled context tells which side of the limit a
// message is on.
func TestMessageSize_MatchesKafkaGo(t *testing.T) {
	s, err := New(Config{Brokers: []string{"127.0.0.1:1"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := schema.Record{ID: "id", ResourceID: strings.Repeat("k", 200), RequestBody: strings.Repeat("b", 300)}
	msg, err := s.encode(&rec)
	if err != nil {
		t.Fatal(err)
	}
	msg.Headers = append(msg.Headers, kafkago.Header{Key: strings.Repeat("h", 130), Value: make([]byte, 20000)})
	size := messageSize(&msg)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		batchBytes int
		tooLarge   bool
	}{{size - 1, true}, {size, false}} {
		tr := &kafkago.Transport{}
		w := &kafkago.Writer{Addr: kafkago.TCP("127.0.0.1:1"), Topic: "t", BatchBytes: int64(tc.batchBytes), Transport: tr}
		err := w.WriteMessages(ctx, msg)
		w.Close()
		tr.CloseIdleConnections()
		var tooLarge kafkago.MessageTooLargeError
		if errors.As(err, &tooLarge) != tc.tooLarge {
			t.Errorf("BatchBytes %d for a message we count as %d: kafka-go says %v", tc.batchBytes, size, err)
		}
	}
}

// TestJSONWidth_MatchesEncodingJSON: cutBody's exact cut rests on knowing
// what each rune costs in encoding/json, read backwards as cutBody does.
func TestJSONWidth_MatchesEncodingJSON(t *testing.T) {
	var all strings.Builder
	for b := range 0x80 {
		all.WriteByte(byte(b))
	}
	for _, s := range []string{
		all.String(),
		`{"a":"<b>&amp;\"q\"</b>"}`,
		"é€𝄞 \u2028\u2029 \ufffd",
		"\xff\xfe valid \xe2\x82 cut rune \xe2\x82\xac",
		"\x80\x80\xc3",
	} {
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := buf.Len() - len("\"\"\n")
		got := 0
		for n := len(s); n > 0; {
			c, size := utf8.DecodeLastRuneInString(s[:n])
			got += jsonWidth(c, size)
			n -= size
		}
		if got != want {
			t.Errorf("%q: widths add up to %d, encoding/json writes %d", s, got, want)
		}
	}
}

func TestWriteError_PermanentOnlyWhenEveryFailureIs(t *testing.T) {
	s := &Sink{topic: "scim-logs"}
	net := &netError{}
	for name, tc := range map[string]struct {
		err       error
		permanent bool
		want      string
	}{
		"all refused for good": {
			kafkago.WriteErrors{nil, kafkago.TopicAuthorizationFailed, kafkago.TopicAuthorizationFailed, kafkago.MessageSizeTooLarge},
			true, "kafka: write scim-logs: 3 of 4 records failed: not authorized to write to topic \"scim-logs\": ",
		},
		"one for now": {
			kafkago.WriteErrors{kafkago.TopicAuthorizationFailed, net},
			false, "kafka: write scim-logs: 2 of 2 records failed: not authorized",
		},
		"network":                     {net, false, "kafka: write scim-logs: connection reset"},
		"unknown topic, no auto":      {kafkago.UnknownTopicOrPartition, true, `kafka: write scim-logs: topic "scim-logs" does not exist and auto-create is off`},
		"message too large, wrapped":  {kafkago.MessageTooLargeError{}, true, "kafka: write scim-logs: the broker refused a batch as too large"},
		"SASL failure is the admin's": {kafkago.SASLAuthenticationFailed, false, "kafka: write scim-logs: [58] SASL Authentication Failed"},
		"closed":                      {io.ErrClosedPipe, false, "kafka: write scim-logs: kafka: sink closed"},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.writeError(tc.err)
			if exporter.IsPermanent(err) != tc.permanent {
				t.Errorf("%v: permanent %v, want %v", err, !tc.permanent, tc.permanent)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	auto := &Sink{topic: "scim-logs", cfg: Config{AllowAutoTopicCreation: true}}
	if err := auto.writeError(kafkago.UnknownTopicOrPartition); exporter.IsPermanent(err) {
		t.Errorf("unknown topic with auto-create on: %v is permanent; the topic may be on its way", err)
	}
	if err := s.writeError(kafkago.WriteErrors{kafkago.TopicAuthorizationFailed}); !errors.Is(err, kafkago.TopicAuthorizationFailed) {
		t.Errorf("%v: errors.Is does not find the Kafka error", err)
	}
}

type netError struct{}

func (*netError) Error() string   { return "connection reset" }
func (*netError) Timeout() bool   { return false }
func (*netError) Temporary() bool { return true }
