package collectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/kafka/configkafka"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

const (
	topic      = "scim-logs"
	partitions = 3
	// receiveWithin bounds the wait for the receiver: it joins a consumer
	// group and fetches from the start, which takes well under a second
	// here, so reaching this means it is stuck, not slow.
	receiveWithin = 60 * time.Second
)

// TestCollectorKafkaReceiver_ReadsOTLPProtoRecords writes records with
// scimtrail's Kafka sink (otlp_proto) and reads them with the Collector's
// own kafka receiver, as a Collector configured with
//
//	receivers:
//	  kafka:
//	    brokers: [...]
//	    logs: {topics: [scim-logs], encoding: otlp_proto}
//
// would: the contract in design.md is that such a Collector gets every
// record back whole.
func TestCollectorKafkaReceiver_ReadsOTLPProtoRecords(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)

	want := records()
	sink, err := kafka.New(kafka.Config{
		Brokers:  cluster.ListenAddrs(),
		Topic:    topic,
		Encoding: kafka.EncodingOTLPProto,
	}, kafka.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Two Exports, as the spool makes them one after the other: per-key
	// order must hold across them too.
	for _, part := range [][]schema.Record{want[:3], want[3:]} {
		if err := sink.Export(t.Context(), part); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	got := receive(t, cluster.ListenAddrs(), len(want))

	byID := make(map[string]schema.Record, len(want))
	for _, r := range want {
		byID[r.ID] = r
	}
	seen := map[string]bool{}
	var order []string // record ids in the order the receiver delivered them
	for i, ld := range got {
		rls := ld.ResourceLogs()
		if rls.Len() != 1 {
			t.Fatalf("message %d: %d resources, want 1", i, rls.Len())
		}
		if v, ok := rls.At(0).Resource().Attributes().Get("service.name"); !ok || v.Str() != "scimtrail" {
			t.Errorf("message %d: resource service.name = %v (present %v), want scimtrail", i, v.AsString(), ok)
		}
		recs, err := schema.RecordsFromLogs(ld)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(recs) != 1 {
			t.Fatalf("message %d: %d records, want 1 (the sink writes one per message)", i, len(recs))
		}
		r := recs[0]
		w, ok := byID[r.ID]
		if !ok || seen[r.ID] {
			t.Fatalf("message %d: record %q was not produced or came twice", i, r.ID)
		}
		seen[r.ID] = true
		order = append(order, r.ID)
		if !reflect.DeepEqual(r, w) {
			t.Errorf("record %s changed on the way through the receiver:\ngot  %s\nwant %s", r.ID, asJSON(t, r), asJSON(t, w))
		}
		// Beyond the Record: the semantic-convention attributes, severity,
		// event name, observed timestamp and scope that Collector pipelines
		// filter and route on must arrive as the sink made them. The
		// protobuf encoding of pdata is deterministic, so equal bytes mean
		// equal logs.
		if gotPB, wantPB := marshal(t, ld), marshal(t, schema.NewLogs(schema.Resource{}, []schema.Record{w})); !bytes.Equal(gotPB, wantPB) {
			t.Errorf("record %s: the receiver's plog.Logs differs from what the sink encoded", r.ID)
		}
	}

	// One partition is consumed in order and one resource's records share a
	// partition (the key is resource_id), so each resource's records must
	// arrive in the order they were produced.
	for key, ids := range idsByKey(want) {
		var gotIDs []string
		for _, id := range order {
			if key == messageKey(byID[id]) {
				gotIDs = append(gotIDs, id)
			}
		}
		if !reflect.DeepEqual(gotIDs, ids) {
			t.Errorf("records of key %q arrived as %v, produced as %v", key, gotIDs, ids)
		}
	}
}

// receive runs the Collector's kafka receiver on the topic until it has
// delivered n log records, and returns what it delivered, one plog.Logs
// per Kafka message, in delivery order. It shuts the receiver down before
// returning.
func receive(t *testing.T, brokers []string, n int) []plog.Logs {
	t.Helper()
	factory := kafkareceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*kafkareceiver.Config)
	cfg.ClientConfig.Brokers = brokers
	cfg.Logs.Topics = []string{topic}
	cfg.Logs.Encoding = "otlp_proto"
	// The records were written before the receiver joined; a new group
	// starts at the end by default and would see none of them.
	cfg.ConsumerConfig.InitialOffset = configkafka.EarliestOffset
	// A group of its own, so no committed offset of another run or test
	// applies.
	cfg.ConsumerConfig.GroupID = "scimtrail-collectortest-" + t.Name()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	logs := new(consumertest.LogsSink)
	rcv, err := factory.CreateLogs(t.Context(), receivertest.NewNopSettings(factory.Type()), cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(t.Context(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// t.Context is already done when deferred calls of a helper run
		// during a Fatal, so Shutdown gets its own bound.
		ctx, cancel := context.WithTimeout(context.Background(), receiveWithin)
		defer cancel()
		if err := rcv.Shutdown(ctx); err != nil {
			t.Errorf("receiver Shutdown: %v", err)
		}
	}()

	// The sink offers no notification, so poll it; the interval only
	// sets how soon after delivery the test notices.
	deadline := time.NewTimer(receiveWithin)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for logs.LogRecordCount() < n {
		select {
		case <-deadline.C:
			t.Fatalf("the receiver delivered %d of %d log records within %v", logs.LogRecordCount(), n, receiveWithin)
		case <-t.Context().Done():
			t.Fatalf("the receiver delivered %d of %d log records: %v", logs.LogRecordCount(), n, t.Context().Err())
		case <-tick.C:
		}
	}
	if c := logs.LogRecordCount(); c != n {
		t.Fatalf("the receiver delivered %d log records, %d were produced", c, n)
	}
	return logs.AllLogs()
}

// asJSON shows a record as log readers see it; %+v would print
// json.RawMessage as bytes.
func asJSON(t *testing.T, r schema.Record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshal(t *testing.T, ld plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// messageKey is the sink's Kafka key: resource_id, else idp_resource_id,
// else id.
func messageKey(r schema.Record) string {
	for _, k := range []string{r.ResourceID, r.IdPResourceID} {
		if k != "" {
			return k
		}
	}
	return r.ID
}

// idsByKey lists each key's record ids in production order.
func idsByKey(recs []schema.Record) map[string][]string {
	m := map[string][]string{}
	for _, r := range recs {
		k := messageKey(r)
		m[k] = append(m[k], r.ID)
	}
	return m
}

// records returns records that fill every field between them: USER and
// GROUP, SUCCESS and ERROR, changes with and without an old and a new
// value, active true and false, members added and removed, notes, events,
// a no-op, a truncated body, a query, and two resources with more than one
// record each, so per-key order is tested.
func records() []schema.Record {
	at := func(i int) time.Time { return time.Date(2026, 11, 27, 13, 30, i, 123456789, time.UTC) }
	id := func(i int) string { return fmt.Sprintf("01936f3e-8b7a-7cc4-9c39-%012d", i) }
	yes, no := true, false
	return []schema.Record{
		{
			ID: id(1), Timestamp: at(1), IdPName: "okta", Action: "POST", ResourceType: schema.ResourceUser,
			UserEmail: "bjensen@example.com", UserName: "bjensen", ResourceID: "2819c223-7f76-453a-919d-413861904646",
			IdPResourceID: "00u1a2b3c4", Outcome: schema.OutcomeSuccess, StatusCode: 201,
			RequestBody: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","active":true,"password":"REDACTED"}`,
			DurationMS:  12.75, Path: "/scim/v2/Users", UserAgent: "Okta SCIM Client 1.0.0", ClientIP: "203.0.113.9",
			Active: &yes,
			Changes: []schema.Change{
				{Op: "replace", Attribute: "userName", New: json.RawMessage(`"bjensen"`)},
				{Op: "replace", Attribute: "active", New: json.RawMessage(`true`)},
				{Op: "replace", Attribute: "password", New: json.RawMessage(`"REDACTED"`)},
			},
			Events: []string{"user.created"},
		},
		{
			ID: id(2), Timestamp: at(2), IdPName: "entra", Action: "POST", ResourceType: schema.ResourceGroup,
			GroupName: "Engineering", ResourceID: "e9e30dba-f08f-4109-8486-d5c6a331660a", IdPResourceID: "grp-eng",
			Outcome: schema.OutcomeSuccess, StatusCode: 201,
			RequestBody: `{"displayName":"Engineering","members":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}`,
			DurationMS:  3.5, Path: "/scim/v2/Groups", UserAgent: "Azure AD SCIM", ClientIP: "198.51.100.7",
			MembersAdded: []string{"2819c223-7f76-453a-919d-413861904646"},
			Changes: []schema.Change{
				{Op: "replace", Attribute: "displayName", New: json.RawMessage(`"Engineering"`)},
				{Op: "add", Attribute: "members", New: json.RawMessage(`[{"value":"2819c223-7f76-453a-919d-413861904646"}]`)},
			},
			Events: []string{"group.created", "group.member_added"},
		},
		{
			ID: id(3), Timestamp: at(3), IdPName: "okta", Action: "PATCH", ResourceType: schema.ResourceUser,
			UserEmail: "bjensen@example.com", UserName: "bjensen", ResourceID: "2819c223-7f76-453a-919d-413861904646",
			IdPResourceID: "00u1a2b3c4", Outcome: schema.OutcomeSuccess, StatusCode: 200,
			RequestBody: `{"Operations":[{"op":"replace","path":"active","value":false},{"op":"remove","path":"nickName"}]}`,
			DurationMS:  0.25, Path: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", UserAgent: "Okta SCIM Client 1.0.0",
			ClientIP: "203.0.113.9", Active: &no, UserDisplayName: "Barbara Jensen",
			Changes: []schema.Change{
				{Op: "replace", Attribute: "active", Old: json.RawMessage(`true`), New: json.RawMessage(`false`)},
				{Op: "remove", Attribute: "nickName"},
			},
			Events: []string{"user.updated", "user.deactivated"},
		},
		{
			ID: id(4), Timestamp: at(4), IdPName: "entra", Action: "PATCH", ResourceType: schema.ResourceGroup,
			GroupName: "Engineering", ResourceID: "e9e30dba-f08f-4109-8486-d5c6a331660a", IdPResourceID: "grp-eng",
			Outcome: schema.OutcomeError, StatusCode: 400, ErrorDetail: "member 'ghost' does not exist",
			SCIMType: "invalidValue", BodyTruncated: true,
			RequestBody: `{"Operations":[{"op":"add","path":"members","value":[{"value":"ghost"}]},{"op":"remove","path":"members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]}`,
			DurationMS:  41, Path: "/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", Query: "attributes=members",
			UserAgent: "Azure AD SCIM", ClientIP: "2001:db8::17",
			MembersAdded:   []string{"ghost"},
			MembersRemoved: []string{"2819c223-7f76-453a-919d-413861904646"},
			Changes: []schema.Change{
				{Op: "add", Attribute: "members", New: json.RawMessage(`[{"value":"ghost"}]`)},
				{Op: "remove", Attribute: `members[value eq "2819c223-7f76-453a-919d-413861904646"]`},
			},
			Notes: []string{"response body truncated at 65536 bytes", "identity of member ghost unknown"},
		},
		{
			ID: id(5), Timestamp: at(5), IdPName: "unknown", Action: "DELETE", ResourceType: schema.ResourceUser,
			IdPResourceID: "00u9z8y7x6", Outcome: schema.OutcomeError, StatusCode: 404,
			ErrorDetail: "Resource 00u9z8y7x6 not found", DurationMS: 1.125,
			Path: "/scim/v2/Users/00u9z8y7x6", UserAgent: "curl/8.5.0", ClientIP: "192.0.2.1",
			Notes: []string{"identity unknown: no earlier record of this resource"},
		},
		{
			ID: id(6), Timestamp: at(6), IdPName: "okta", Action: "PUT", ResourceType: schema.ResourceUser,
			UserEmail: "bjensen@example.com", UserName: "bjensen", ResourceID: "2819c223-7f76-453a-919d-413861904646",
			IdPResourceID: "00u1a2b3c4", Outcome: schema.OutcomeSuccess, StatusCode: 200,
			RequestBody: `{"userName":"bjensen","active":true,"emails":[{"value":"bjensen@example.com","primary":true}]}`,
			DurationMS:  7.0625, Path: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", UserAgent: "Okta SCIM Client 1.0.0",
			ClientIP: "203.0.113.9", Active: &yes,
			Changes: []schema.Change{
				{Op: "replace", Attribute: "active", New: json.RawMessage(`true`)},
				{Op: "replace", Attribute: "emails", New: json.RawMessage(`[{"value":"bjensen@example.com","primary":true}]`)},
			},
			Events: []string{"user.updated", "user.reactivated"},
		},
		{
			ID: id(7), Timestamp: at(7), IdPName: "entra", Action: "DELETE", ResourceType: schema.ResourceGroup,
			GroupName: "Engineering", ResourceID: "e9e30dba-f08f-4109-8486-d5c6a331660a", IdPResourceID: "grp-eng",
			Outcome: schema.OutcomeSuccess, StatusCode: 204, DurationMS: 2,
			Path: "/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", UserAgent: "Azure AD SCIM", ClientIP: "198.51.100.7",
			Events: []string{"group.deleted"},
		},
		{
			ID: id(8), Timestamp: at(8), IdPName: "okta", Action: "PATCH", ResourceType: schema.ResourceUser,
			UserEmail: "bjensen@example.com", UserName: "bjensen", UserDisplayName: "Barbara Jensen",
			ResourceID: "2819c223-7f76-453a-919d-413861904646", IdPResourceID: "00u1a2b3c4",
			Outcome: schema.OutcomeSuccess, StatusCode: 204,
			RequestBody: `{"Operations":[{"op":"replace","value":{"active":true}}]}`,
			DurationMS:  0.5, Path: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", UserAgent: "Okta SCIM Client 1.0.0",
			ClientIP: "203.0.113.9", Active: &yes, NoOp: true,
		},
	}
}
