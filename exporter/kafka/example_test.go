package kafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/schema"
)

// Example writes one record to a Kafka topic and reads it back. A kfake
// cluster stands in for the brokers.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "scim-logs"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	sink, err := kafka.New(kafka.Config{
		Brokers: cluster.ListenAddrs(),
		// Everything else is the default: topic scim-logs, JSON values,
		// acks from all in-sync replicas.
	}, kafka.Options{})
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	ctx := context.Background()
	rec := schema.Record{
		ID:           "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10",
		Timestamp:    time.Date(2026, 11, 27, 13, 30, 0, 0, time.UTC),
		IdPName:      "okta",
		Action:       "POST",
		ResourceType: schema.ResourceUser,
		UserEmail:    "bjensen@example.com",
		ResourceID:   "2819c223",
		Outcome:      schema.OutcomeSuccess,
		StatusCode:   201,
		DurationMS:   4.5,
		Path:         "/scim/v2/Users",
		Events:       []string{"user.created"},
	}
	if err := sink.Export(ctx, []schema.Record{rec}); err != nil {
		panic(err) // the spool would retry unless exporter.IsPermanent(err)
	}

	// Any Kafka client reads it; franz-go here.
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.ConsumeTopics("scim-logs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for read := 0; read == 0; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read++
			fmt.Printf("key %s\n", r.Key)
			for _, h := range r.Headers {
				fmt.Printf("%s: %s\n", h.Key, h.Value)
			}
			fmt.Printf("%s\n", r.Value)
		})
	}
	// Output:
	// key 2819c223
	// content-type: application/json
	// schema-version: 1
	// record-id: 01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10
	// {"id":"01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10","timestamp":"2026-11-27T13:30:00Z","idp_name":"okta","action":"POST","resource_type":"USER","user_email":"bjensen@example.com","resource_id":"2819c223","outcome":"SUCCESS","status_code":201,"duration_ms":4.5,"path":"/scim/v2/Users","events":["user.created"]}
}
