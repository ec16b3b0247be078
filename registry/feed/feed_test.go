package feed_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/registry/feed"
	"github.com/scimtrail/scimtrail/schema"
)

func TestFromFile_StoresRecordsOnceAndSkipsWhatIsNotARecord(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
		b, _ := json.Marshal(schema.Record{
			ID: "r" + string(rune('1'+i)), Timestamp: time.Date(2026, 11, 2, 9, i, 0, 0, time.UTC), IdPName: "okta",
			Action: "POST", ResourceType: schema.ResourceUser, ResourceID: "u" + string(rune('1'+i)), UserEmail: email,
			Outcome: schema.OutcomeSuccess, StatusCode: 201, Path: "/scim/v2/Users",
		})
		lines = append(lines, string(b))
	}
	// A SIEM export: blank lines, a line that is not JSON, a JSON object
	// without an id, and a record given twice.
	lines = append(lines, "", "not json", `{"hello":"world"}`, lines[0])
	path := filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(t.Context(), filepath.Join(dir, "r.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for run := range 2 { // a second run is a replay
		read, skipped, err := feed.FromFile(t.Context(), path, reg, 2, nil)
		if err != nil || read != 4 || skipped != 2 {
			t.Fatalf("run %d: read %d, skipped %d, err %v; want 4, 2, nil", run, read, skipped, err)
		}
		if n, _ := reg.Count(t.Context()); n != 3 {
			t.Fatalf("run %d: registry holds %d records, want 3", run, n)
		}
	}
	if u, ok, err := reg.User(t.Context(), "", "u2"); err != nil || !ok || u.Email != "bob@example.com" {
		t.Errorf("u2 = %+v, %v, %v", u, ok, err)
	}
	if _, _, err := feed.FromFile(t.Context(), filepath.Join(dir, "missing.jsonl"), reg, 0, nil); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestFromKafka_RefusesAnIncompleteConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  feed.KafkaConfig
		want string
	}{
		{feed.KafkaConfig{Group: "g"}, `requires "from-kafka" brokers`},
		{feed.KafkaConfig{Kafka: kafka.Config{Brokers: []string{"127.0.0.1:9092"}}}, `requires a consumer "group"`},
	} {
		err := feed.FromKafka(context.Background(), tc.cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromKafka(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
