package file_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/exporter/file"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/schema"
)

func fullRecord(id string) schema.Record {
	active := false
	return schema.Record{
		ID:             id,
		Timestamp:      time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
		IdPName:        "okta",
		Action:         "PATCH",
		ResourceType:   schema.ResourceGroup,
		UserEmail:      "bjensen@example.com",
		UserName:       "bjensen",
		GroupName:      "R&D <eng>", // HTML-special characters survive unescaped
		ResourceID:     "2819c223-7f76-453a-919d-413861904646",
		IdPResourceID:  "00u1abcd",
		Outcome:        schema.OutcomeError,
		StatusCode:     409,
		ErrorDetail:    "uniqueness violated",
		SCIMType:       "uniqueness",
		RequestBody:    `{"Operations":[{"op":"add","path":"members","value":[{"value":"u1"}]}]}`,
		BodyTruncated:  true,
		DurationMS:     12.5,
		Path:           "/scim/v2/Groups/2819c223",
		Query:          "attributes=members",
		UserAgent:      "Okta SCIM Client 1.0.0",
		ClientIP:       "203.0.113.9",
		Active:         &active,
		MembersAdded:   []string{"u1", "u2"},
		MembersRemoved: []string{"u3"},
		Changes: []schema.Change{
			{Op: "add", Attribute: "members", New: json.RawMessage(`[{"value":"u1"}]`)},
			{Op: "remove", Attribute: "members[value eq \"u3\"]"},
		},
		Events: []string{"group.member_added", "group.member_removed"},
		Notes:  []string{"line one\nline two"}, // a newline must not split the line
	}
}

func decodeLines(t *testing.T, data []byte) []schema.Record {
	t.Helper()
	var out []schema.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var compact bytes.Buffer
		if err := json.Compact(&compact, line); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(out)+1, err, line)
		}
		if !bytes.Equal(compact.Bytes(), line) {
			t.Fatalf("line %d is not compact JSON:\n%s", len(out)+1, line)
		}
		var r schema.Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d does not decode to a Record: %v", len(out)+1, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatal("output does not end in a newline")
	}
	return out
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestSink_WritesJSONLinesThatDecodeBack(t *testing.T) {
	var w countingWriter
	s := file.New(&w)
	want := []schema.Record{fullRecord("a"), {ID: "b", Action: "GET", Outcome: schema.OutcomeSuccess, StatusCode: 200, Path: "/scim/v2/Users"}, fullRecord("c")}
	if err := s.Export(t.Context(), want[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Export(t.Context(), want[2:]); err != nil {
		t.Fatal(err)
	}
	if w.writes != 2 {
		t.Fatalf("%d Write calls for 2 batches, want one per batch", w.writes)
	}
	if strings.Contains(w.String(), `\u003c`) || strings.Contains(w.String(), `\u0026`) {
		t.Fatalf("HTML escaping in output: %s", w.String())
	}
	got := decodeLines(t, w.Bytes())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded records differ\n got %+v\nwant %+v", got, want)
	}
	if err := s.Export(t.Context(), nil); err != nil || w.writes != 2 {
		t.Fatalf("empty Export: err %v, writes %d; want nil and no Write", err, w.writes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Export(t.Context(), want); !errors.Is(err, file.ErrClosed) {
		t.Fatalf("Export after Close = %v, want ErrClosed", err)
	}
}

func TestSink_UnencodableRecordIsPermanentOthersWritten(t *testing.T) {
	var buf bytes.Buffer
	s := file.New(&buf)
	bad := fullRecord("bad")
	bad.Changes[0].New = json.RawMessage(`{not json`)
	err := s.Export(t.Context(), []schema.Record{fullRecord("a"), bad, fullRecord("c")})
	if !exporter.IsPermanent(err) || !strings.Contains(err.Error(), "record bad") {
		t.Fatalf("Export = %v, want a permanent error naming record bad", err)
	}
	got := decodeLines(t, buf.Bytes())
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Fatalf("written %+v, want records a and c", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSink_WriteErrorIsRetryable(t *testing.T) {
	s := file.New(failingWriter{})
	err := s.Export(t.Context(), []schema.Record{fullRecord("a")})
	if err == nil || exporter.IsPermanent(err) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Export = %v, want a retryable error carrying the cause", err)
	}
}

func TestSink_CancelledContextWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	s := file.New(&buf)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Export(ctx, []schema.Record{fullRecord("a")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Export = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %q with a cancelled context", buf.String())
	}
}

func TestSink_ConcurrentExportsNeverInterleaveLines(t *testing.T) {
	var buf bytes.Buffer // not safe for concurrent use on its own: the sink serialises
	s := file.New(&buf)
	const workers, batches, perBatch = 8, 20, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]schema.Record, perBatch)
				for i := range recs {
					recs[i] = fullRecord(fmt.Sprintf("%d-%d-%d", w, b, i))
				}
				if err := s.Export(context.Background(), recs); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := decodeLines(t, buf.Bytes())
	if len(got) != workers*batches*perBatch {
		t.Fatalf("%d lines, want %d", len(got), workers*batches*perBatch)
	}
	// Each batch is one Write, so its records are consecutive.
	for i := 0; i < len(got); i += perBatch {
		var w, b, n int
		if _, err := fmt.Sscanf(got[i].ID, "%d-%d-%d", &w, &b, &n); err != nil {
			t.Fatal(err)
		}
		for j := range perBatch {
			if want := fmt.Sprintf("%d-%d-%d", w, b, j); got[i+j].ID != want {
				t.Fatalf("line %d is %s, want %s: batches interleaved", i+j, got[i+j].ID, want)
			}
		}
	}
}

func TestOpen_AppendsWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for _, id := range []string{"first", "second"} {
		s, err := file.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Export(t.Context(), []schema.Record{fullRecord(id)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeLines(t, data)
	if len(got) != 2 || got[0].ID != "first" || got[1].ID != "second" {
		t.Fatalf("file holds %v, want first then second (append, not truncate)", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("mode %v, want 0600", perm)
	}
}

func TestOpen_MissingDirectoryIsAWrappedError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "audit.jsonl")
	_, err := file.Open(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "file: open "+path) {
		t.Fatalf("Open = %v, want a wrapped not-exist error naming the path", err)
	}
}

func TestOpen_DashIsStdoutAndCloseLeavesItOpen(t *testing.T) {
	s, err := file.Open("-")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Fatalf("stdout unusable after Close: %v", err)
	}
}

func TestSink_UnderSpool(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.jsonl")
	s, err := file.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, err := spool.Open(spool.Config{Dir: dir}, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.AddSink(spool.SinkConfig{Name: "file", Sink: s}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []schema.Record{fullRecord("1"), fullRecord("2"), fullRecord("3")}
	for _, r := range want {
		if err := sp.Take(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeLines(t, raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func ExampleNew() {
	s := file.New(os.Stdout)
	_ = s.Export(context.Background(), []schema.Record{{
		ID: "0190b1a0-0000-7000-8000-000000000001", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		IdPName: "okta", Action: "DELETE", ResourceType: schema.ResourceUser, Outcome: schema.OutcomeSuccess,
		StatusCode: 204, Path: "/scim/v2/Users/42", ResourceID: "42",
	}})
	// Output: {"id":"0190b1a0-0000-7000-8000-000000000001","timestamp":"2025-01-02T03:04:05Z","idp_name":"okta","action":"DELETE","resource_type":"USER","resource_id":"42","outcome":"SUCCESS","status_code":204,"duration_ms":0,"path":"/scim/v2/Users/42"}
}
