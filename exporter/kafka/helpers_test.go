package kafka_test

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

const topic = "scim-logs"

// startCluster starts a one-broker kfake cluster on 127.0.0.1 (kfake binds
// nothing else) and closes it when the test ends.
func startCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newSink makes a sink and closes it when the test ends.
func newSink(t testing.TB, cfg kafka.Config, opts kafka.Options) *kafka.Sink {
	t.Helper()
	s, err := kafka.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// consume reads the first n records of topic from the start with franz-go,
// a client independent of the one under test, then checks through the
// broker that the topic holds exactly n records (no duplicates, nothing
// extra). It waits for as long as the test may run.
func consume(t *testing.T, c *kfake.Cluster, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(t.Context())
		if err := t.Context().Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	var total int64
	for _, p := range c.PartitionInfos(topic) {
		total += p.HighWatermark
	}
	if len(out) != n || total != int64(n) {
		t.Fatalf("topic holds %d records (consumed %d), want %d", total, len(out), n)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func decodeJSON(t *testing.T, r *kgo.Record) schema.Record {
	t.Helper()
	var rec schema.Record
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		t.Fatalf("value is not a record: %v\n%s", err, r.Value)
	}
	return rec
}

func record(i int, resourceID string) schema.Record {
	active := i%2 == 0
	return schema.Record{
		ID:            fmt.Sprintf("01936f3e-8b7a-7cc4-9c39-%012d", i),
		Timestamp:     time.Date(2026, 11, 27, 13, 30, 0, i*1000, time.UTC),
		IdPName:       "okta",
		Action:        "PATCH",
		ResourceType:  schema.ResourceUser,
		UserEmail:     "bjensen@example.com",
		UserName:      "bjensen",
		ResourceID:    resourceID,
		IdPResourceID: "00u" + resourceID,
		Outcome:       schema.OutcomeSuccess,
		StatusCode:    200,
		RequestBody:   fmt.Sprintf(`{"Operations":[{"op":"replace","path":"active","value":%v}]}`, active),
		DurationMS:    float64(i) + 0.5,
		Path:          "/scim/v2/Users/" + resourceID,
		UserAgent:     "Okta SCIM Client 1.0.0",
		ClientIP:      "203.0.113.9",
		Active:        &active,
		Changes:       []schema.Change{{Op: "replace", Attribute: "active", New: json.RawMessage(fmt.Sprint(active))}},
		Events:        []string{"user.updated"},
	}
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// silentBroker accepts connections and never answers; accepted is closed
// at the first connection. Connections close when the test ends.
func silentBroker(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if conns = append(conns, c); len(conns) == 1 {
				close(ch)
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}
