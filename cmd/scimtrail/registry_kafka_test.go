package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/registry/feed"
	"github.com/scimtrail/scimtrail/schema"
)

// feedTopic fills a kfake topic of three partitions with the records of
// users users (created, renamed, deactivated, added to and removed from a
// group), written by franz-go, a client other than the reader under test:
// keyed by resource id as the sink keys them, every third message in
// otlp_proto, plus one message that is not a record. It returns the
// broker address and the number of records.
func feedTopic(t *testing.T, users int) (string, int) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, kafka.DefaultTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(kafka.DefaultTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := feedRecords(users)
	var msgs []*kgo.Record
	for i, r := range recs {
		m := &kgo.Record{Key: []byte(r.ResourceID)}
		if i%3 == 0 {
			b, err := plogotlp.NewExportRequestFromLogs(schema.NewLogs(schema.Resource{ServiceName: "scimtrail"}, []schema.Record{r})).MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			m.Value, m.Headers = b, []kgo.RecordHeader{{Key: kafka.HeaderContentType, Value: []byte("application/x-protobuf")}}
		} else {
			m.Value, _ = json.Marshal(r)
			m.Headers = []kgo.RecordHeader{{Key: kafka.HeaderContentType, Value: []byte("application/json")}}
		}
		msgs = append(msgs, m)
	}
	msgs = append(msgs, &kgo.Record{Key: []byte("x"), Value: []byte("not a record")})
	if err := cl.ProduceSync(t.Context(), msgs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return c.ListenAddrs()[0], len(recs)
}

func feedRecords(users int) []schema.Record {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var out []schema.Record
	n := 0
	add := func(r schema.Record) {
		n++
		r.ID = fmt.Sprintf("rec-%06d", n)
		r.Timestamp = t0.Add(time.Duration(n) * time.Millisecond)
		r.IdPName, r.Outcome, r.StatusCode, r.Path = "okta", schema.OutcomeSuccess, 200, "/scim/v2/x"
		out = append(out, r)
	}
	active, inactive := true, false
	for u := range users {
		id, email := fmt.Sprintf("u%05d", u), fmt.Sprintf("user%05d@example.com", u)
		add(schema.Record{Action: "POST", ResourceType: schema.ResourceUser, ResourceID: id, UserEmail: email, UserName: email, Active: &active, Events: []string{"user.created"}})
		add(schema.Record{Action: "POST", ResourceType: schema.ResourceGroup, ResourceID: "g" + id, GroupName: "Team " + id, MembersAdded: []string{id}, Events: []string{"group.created", "group.member_added"}})
		add(schema.Record{Action: "PATCH", ResourceType: schema.ResourceUser, ResourceID: id, UserEmail: "new." + email, Events: []string{"user.updated"},
			Changes: []schema.Change{{Op: "replace", Attribute: "emails", Old: json.RawMessage(`"` + email + `"`), New: json.RawMessage(`"new.` + email + `"`)}}})
		add(schema.Record{Action: "PATCH", ResourceType: schema.ResourceGroup, ResourceID: "g" + id, GroupName: "Team " + id, MembersRemoved: []string{id}, Events: []string{"group.member_removed"}})
		add(schema.Record{Action: "PATCH", ResourceType: schema.ResourceUser, ResourceID: id, UserEmail: "new." + email, Active: &inactive, Events: []string{"user.deactivated"}})
	}
	return out
}

// countingSink counts what reaches the registry through it.
type countingSink struct {
	reg *registry.Registry
	n   atomic.Int64
}

func (s *countingSink) Export(ctx context.Context, recs []schema.Record) error {
	err := s.reg.Export(ctx, recs)
	if err == nil {
		s.n.Add(int64(len(recs)))
	}
	return err
}

// readAll runs a consumer group over the whole topic into reg.
func readAll(t *testing.T, reg *registry.Registry, broker, group string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	sink := &countingSink{reg: reg}
	done := make(chan error, 1)
	go func() {
		done <- feed.FromKafka(ctx, feed.KafkaConfig{Kafka: kafka.Config{Brokers: []string{broker}}, Group: group, BatchTimeout: 50 * time.Millisecond}, sink, nil)
	}()
	for sink.n.Load() < int64(want) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sink.n.Load(); got != int64(want) {
		t.Fatalf("group %s read %d records, want %d", group, got, want)
	}
}

// registryState is everything the registry answers about the fed users,
// as one string.
func registryState(t *testing.T, reg *registry.Registry, users int) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	n, err := reg.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "%d records\n", n)
	for u := range users {
		id := fmt.Sprintf("u%05d", u)
		user, _, err := reg.User(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := reg.UserTimeline(ctx, "", id, 0)
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := reg.Group(ctx, "", "g"+id)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal([]any{user, tl, g})
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRegistryFromKafka_ReplayYieldsTheSameState(t *testing.T) {
	broker, n := feedTopic(t, 40)
	reg, err := registry.Open(t.Context(), filepath.Join(t.TempDir(), "r.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	readAll(t, reg, broker, "first", n)
	first := registryState(t, reg, 40)
	if !strings.HasPrefix(first, fmt.Sprintf("%d records\n", n)) {
		t.Fatalf("after the first read: %.40s, want %d records", first, n)
	}
	// The state is what the records say: the last e-mail, inactive, the
	// membership added then removed, on the user's timeline.
	u, _, _ := reg.User(t.Context(), "", "u00007")
	tl, _ := reg.UserTimeline(t.Context(), "", "u00007", 0)
	if u.Email != "new.user00007@example.com" || u.Active == nil || *u.Active || len(u.Groups) != 0 || len(tl) != 5 ||
		tl[1].Membership != "removed" || tl[3].Membership != "added" {
		t.Errorf("u00007 = %+v, timeline of %d", u, len(tl))
	}
	// A second group reads the same topic from the start: nothing changes.
	readAll(t, reg, broker, "second", n)
	if again := registryState(t, reg, 40); again != first {
		t.Errorf("state changed on replay")
	}
}

// TestRegistryFromKafka_KilledMidwayResumesWithoutLossOrDuplicates runs the
// real "scimtrail registry --from-kafka", kills it with SIGKILL while it
// is storing, and starts it again on the same database and group: it
// resumes from the committed offsets, and the registry ends with every
// record once and the same state as a registry that read without a crash.
func TestRegistryFromKafka_KilledMidwayResumesWithoutLossOrDuplicates(t *testing.T) {
	bin := buildBinary(t)
	const users = 2000
	broker, n := feedTopic(t, users)
	path := filepath.Join(t.TempDir(), "registry.db")
	args := []string{"registry", "--registry", path, "--from-kafka", broker, "--group", "g", "--session-timeout", "6s", "--admin-listen", "127.0.0.1:0", "--log-format", "json"}

	reg, err := registry.Open(t.Context(), path, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	count := func() int64 {
		c, err := reg.Count(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	first := startRegistryBinary(t, bin, args)
	deadline := time.Now().Add(time.Minute)
	for count() < int64(n)/5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL, the process this test started
		t.Fatal(err)
	}
	first.Wait()
	stored := count()
	if stored == 0 || stored >= int64(n) {
		t.Fatalf("killed with %d of %d records stored: not midway", stored, n)
	}

	second := startRegistryBinary(t, bin, args)
	for count() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := count(); got != int64(n) {
		t.Fatalf("registry holds %d records after the restart, want %d", got, n)
	}
	// Same state as a registry fed without a crash.
	clean, err := registry.Open(t.Context(), filepath.Join(t.TempDir(), "clean.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	readAll(t, clean, broker, "clean", n)
	if a, b := registryState(t, reg, users), registryState(t, clean, users); a != b {
		t.Errorf("state after kill and resume differs from a clean read")
	}
}

// startRegistryBinary starts "scimtrail registry" and waits until it reads
// Kafka.
func startRegistryBinary(t *testing.T, bin string, args []string) *exec.Cmd {
	t.Helper()
	return startProcess(t, bin, args, func(line []byte) bool { return bytes.Contains(line, []byte("reading Kafka")) })
}
