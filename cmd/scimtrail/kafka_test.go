package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
)

// Kafka in these tests is kfake, a Kafka-protocol broker in the test
// process on 127.0.0.1; records are read back with franz-go's kgo, not with
// kafka-go, which wrote them.

// freePort returns a loopback port nothing listens on: a broker that is
// down.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// broker is a kfake cluster of one broker on a fixed port; stop and a new
// startBroker on the same port and data dir make an outage.
type broker struct {
	c    *kfake.Cluster
	once sync.Once
}

func startBroker(t testing.TB, port int, dataDir string) *broker {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(4, kafka.DefaultTopic)}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{c: c}
	t.Cleanup(b.stop)
	return b
}

func (b *broker) stop() { b.once.Do(b.c.Close) }

func brokerAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// consume reads the topic from its start with kgo until done holds for
// what was read; a generous bound only guards against a hang.
func consume(t testing.TB, addr string, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(kafka.DefaultTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out []*kgo.Record
	for !done(out) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d Kafka records before the hang guard; the test wanted more", len(out))
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func atLeast(n int) func([]*kgo.Record) bool {
	return func(rs []*kgo.Record) bool { return len(rs) >= n }
}

// decode parses a Kafka value as a record.
func decode(t testing.TB, r *kgo.Record) schema.Record {
	t.Helper()
	var rec schema.Record
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		t.Fatalf("Kafka value is not a record: %v\n%s", err, r.Value)
	}
	return rec
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// createUsers POSTs n users as Okta would, numbered from first, and returns
// the status of each answer.
func createUsers(t testing.TB, base string, first, n int) []int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	codes := make([]int, 0, n)
	for i := first; i < first+n; i++ {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d@example.com",`+
			`"name":{"givenName":"U","familyName":"%d"},"emails":[{"primary":true,"value":"user%d@example.com","type":"work"}],`+
			`"externalId":"00u%d","active":true}`, i, i, i, i)
		req, _ := http.NewRequest(http.MethodPost, base+"/scim/v2/Users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+oktaToken)
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("User-Agent", scimtest.OktaUserAgent)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	return codes
}

// emails returns the user_email of each Kafka record, duplicates dropped by
// record id (delivery is at least once).
func emails(t testing.TB, rs []*kgo.Record) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	out := map[string]bool{}
	for _, r := range rs {
		rec := decode(t, r)
		if seen[rec.ID] {
			continue
		}
		seen[rec.ID] = true
		out[rec.UserEmail] = true
	}
	return out
}

func missing(got map[string]bool, first, n int) []string {
	var out []string
	for i := first; i < first+n; i++ {
		if e := fmt.Sprintf("user%d@example.com", i); !got[e] {
			out = append(out, e)
		}
	}
	return out
}

// Both IdPs' cycles reach Kafka as the file sink has them: same records,
// keyed by resource, with the contract's headers, each key's records in
// request order on one partition.
func TestE2E_KafkaKeysHeadersAndPerResourceOrder(t *testing.T) {
	port := freePort(t)
	startBroker(t, port, "")
	e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}})
	e.run(slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle()))
	file := e.records() // stops the stack: the spool is drained
	if len(file) < 20 {
		t.Fatalf("only %d records from the cycles", len(file))
	}
	rs := consume(t, brokerAddr(port), atLeast(len(file)))
	if len(rs) != len(file) {
		t.Fatalf("Kafka has %d records, the file %d", len(rs), len(file))
	}
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]schema.Record{}
	for _, r := range file {
		byID[r.ID] = r
	}
	partitionOf := map[string]int32{}
	orderOf := map[string][]string{}
	for _, r := range rs {
		if err := v.Validate(r.Value); err != nil {
			t.Fatalf("Kafka value does not match the schema: %v", err)
		}
		rec := decode(t, r)
		want, ok := byID[rec.ID]
		if !ok {
			t.Fatalf("Kafka record %s is not in the file", rec.ID)
		}
		if !jsonEqual(t, rec, want) {
			t.Fatalf("Kafka record differs from the file's:\n%+v\n%+v", rec, want)
		}
		key := want.ResourceID
		if key == "" {
			key = want.IdPResourceID
		}
		if key == "" {
			key = want.ID
		}
		if string(r.Key) != key {
			t.Fatalf("record %s has key %q, want %q", rec.ID, r.Key, key)
		}
		if header(r, "content-type") != "application/json" || header(r, "schema-version") != schema.Version || header(r, "record-id") != rec.ID {
			t.Fatalf("record %s headers = %v", rec.ID, r.Headers)
		}
		if p, seen := partitionOf[key]; seen && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", key, p, r.Partition)
		}
		partitionOf[key] = r.Partition
		orderOf[key] = append(orderOf[key], rec.ID) // kgo returns a partition in offset order
	}
	for key, got := range orderOf {
		var want []string
		for _, r := range file {
			if r.ResourceID == key || (r.ResourceID == "" && (r.IdPResourceID == key || r.ID == key)) {
				want = append(want, r.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("key %s: Kafka order %v, request order %v", key, got, want)
		}
	}
}

func jsonEqual(t testing.TB, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// The broker goes down, 1,000 requests go through, a broker comes back on
// the same port: all 1,000 records arrive.
func TestE2E_KafkaOutageLosesNothing(t *testing.T) {
	port := freePort(t)
	data := t.TempDir()
	b := startBroker(t, port, data)
	e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, noLogFile: true})
	createUsers(t, e.base, 0, 10)
	consume(t, brokerAddr(port), atLeast(10))

	b.stop()
	for i, code := range createUsers(t, e.base, 10, 1000) {
		if code != http.StatusCreated {
			t.Fatalf("request %d during the outage answered %d", i, code)
		}
	}
	// The proxy says which sink is behind.
	waitFor(t, "readyz to name the kafka sink behind", func() bool {
		body := httpGet(t, "http://"+e.st.adminAddr+"/readyz")
		return strings.Contains(body, "sink kafka: behind") && strings.Contains(body, "failing")
	})

	startBroker(t, port, data)
	got := emails(t, consume(t, brokerAddr(port), func(rs []*kgo.Record) bool {
		return len(missing(emails(t, rs), 0, 1010)) == 0
	}))
	if m := missing(got, 0, 1010); len(m) > 0 {
		t.Fatalf("%d records missing after the outage, first %s", len(m), m[0])
	}
	waitFor(t, "the spool to empty", func() bool { return e.st.spool.Len() == 0 })
}

// A full spool under drop-oldest drops the oldest records and counts
// exactly what it dropped; under block it answers 503 and forwards nothing
// it could not record.
func TestE2E_FullSpool(t *testing.T) {
	const n = 60
	t.Run("drop-oldest", func(t *testing.T) {
		port := freePort(t) // the broker is down until the end
		e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, noLogFile: true,
			spool: spool.Config{MaxBytes: 16 << 10, FullPolicy: spool.DropOldest}})
		for i, code := range createUsers(t, e.base, 0, n) {
			if code != http.StatusCreated {
				t.Fatalf("request %d answered %d", i, code)
			}
		}
		// The IdP has its answer before the record is in the spool (the
		// handler takes it next), so the last one may still be on its way.
		var dropped, held int
		waitFor(t, "every record dropped or held", func() bool {
			dropped = int(e.metric("scimtrail_spool_dropped_records_total", `reason="full"`))
			held = int(e.st.spool.Len())
			return dropped+held == n
		})
		if dropped == 0 || dropped+held != n {
			t.Fatalf("dropped %d + held %d != %d requests", dropped, held, n)
		}
		startBroker(t, port, "")
		got := emails(t, consume(t, brokerAddr(port), atLeast(held)))
		waitFor(t, "the spool to empty", func() bool { return e.st.spool.Len() == 0 })
		if len(got) != held || len(missing(got, n-held, held)) != 0 {
			t.Fatalf("Kafka has %d records, want the newest %d", len(got), held)
		}
	})
	t.Run("block", func(t *testing.T) {
		port := freePort(t)
		e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, noLogFile: true,
			spool: spool.Config{MaxBytes: 16 << 10, FullPolicy: spool.Block}})
		before := len(e.backend.Requests())
		codes := createUsers(t, e.base, 0, n)
		var created, refused int
		for _, c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusServiceUnavailable:
				refused++
			default:
				t.Fatalf("unexpected status %d", c)
			}
		}
		if refused == 0 || created == 0 || refused+created != n {
			t.Fatalf("created %d, refused %d of %d", created, refused, n)
		}
		if slices.Index(codes, http.StatusServiceUnavailable) != created {
			t.Fatalf("a request was admitted after a refusal: %v", codes)
		}
		if got := len(e.backend.Requests()) - before; got != created {
			t.Fatalf("the SCIM service saw %d requests, but only %d were admitted", got, created)
		}
		if got := e.metric("scimtrail_requests_refused_total", ""); int(got) != refused {
			t.Fatalf("scimtrail_requests_refused_total = %v, want %d", got, refused)
		}
		startBroker(t, port, "")
		got := emails(t, consume(t, brokerAddr(port), atLeast(created)))
		if m := missing(got, 0, created); len(m) > 0 || len(got) != created {
			t.Fatalf("Kafka has %d records, want the %d admitted; missing %v", len(got), created, m)
		}
		waitFor(t, "admission again", func() bool { return createUsers(t, e.base, n, 1)[0] == http.StatusCreated })
		e.stop() // drains the spool while the broker is up; fails the test if it cannot
	})
}

// waitFor polls cond; the bound only guards against a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric returns the value of the named counter or gauge whose labels, as
// `k="v"` pairs, contain match ("" matches any); 0 when absent.
func (e *e2e) metric(name, match string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			if !strings.Contains(strings.Join(labels, ","), match) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// A topic that does not exist (auto-create off) is a permanent error: the
// records go to the dead-letter file, naming the topic, instead of blocking
// the sink forever.
func TestE2E_KafkaMissingTopicGoesToDeadLetterFile(t *testing.T) {
	port := freePort(t)
	startBroker(t, port, "")
	e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, noLogFile: true, kafkaTopic: "no-such-topic"})
	createUsers(t, e.base, 0, 3)
	e.stop()
	raw := mustRead(t, filepath.Join(e.stateDir, "spool", spool.DeadLetterFileName))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d dead letters, want 3:\n%s", len(lines), raw)
	}
	for _, l := range lines {
		var dl struct {
			Sink   string        `json:"sink"`
			Error  string        `json:"error"`
			Record schema.Record `json:"record"`
		}
		if err := json.Unmarshal([]byte(l), &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Sink != "kafka" || !strings.Contains(dl.Error, `"no-such-topic"`) || dl.Record.UserEmail == "" {
			t.Fatalf("dead letter = %s", l)
		}
	}
	if got := e.metric("scimtrail_sink_records_dead_lettered_total", `sink="kafka"`); got != 3 {
		t.Fatalf("dead_lettered_total = %v, want 3", got)
	}
}

// With --kafka-encoding otlp_proto each value is an OTLP
// ExportLogsServiceRequest that pdata decodes back to the file's records.
func TestE2E_KafkaOTLPProtoDecodesToTheRecords(t *testing.T) {
	port := freePort(t)
	startBroker(t, port, "")
	e := startE2E(t, e2eOptions{kafka: []string{brokerAddr(port)}, kafkaEncoding: kafka.EncodingOTLPProto})
	e.run(scimtest.EntraCycle())
	file := e.records()
	rs := consume(t, brokerAddr(port), atLeast(len(file)))
	byID := map[string]schema.Record{}
	for _, r := range file {
		byID[r.ID] = r
	}
	for _, r := range rs {
		if header(r, "content-type") != "application/x-protobuf" {
			t.Fatalf("content-type %q", header(r, "content-type"))
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(r.Value); err != nil {
			t.Fatalf("value is not an ExportLogsServiceRequest: %v", err)
		}
		if sn, _ := req.Logs().ResourceLogs().At(0).Resource().Attributes().Get("service.name"); sn.Str() != "scimtrail" {
			t.Fatalf("service.name = %q", sn.Str())
		}
		recs, err := schema.RecordsFromLogs(req.Logs())
		if err != nil || len(recs) != 1 {
			t.Fatalf("RecordsFromLogs: %d records, %v", len(recs), err)
		}
		if want := byID[recs[0].ID]; !jsonEqual(t, recs[0], want) {
			t.Fatalf("decoded record differs from the file's:\n%+v\n%+v", recs[0], want)
		}
		delete(byID, recs[0].ID)
	}
	if len(byID) != 0 {
		t.Fatalf("%d records of the file are not in Kafka", len(byID))
	}
}
