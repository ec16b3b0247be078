//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The stress runs check what the sinks delivered by reading it back: the
// file sink's lines, and the Kafka topic with franz-go's kgo, not with
// kafka-go, which wrote it, so that a fault shared by writer and reader
// cannot hide a loss.

// recordKeys are the two keys of a record the checks need.
type recordKeys struct {
	ID        string `json:"id"`
	UserEmail string `json:"user_email"`
}

// tally counts records as delivered: all of them, duplicates included
// (delivery is at least once), and the distinct ids and e-mails.
type tally struct {
	records int64
	ids     map[string]struct{}
	emails  map[string]struct{}
}

func newTally() *tally {
	return &tally{ids: map[string]struct{}{}, emails: map[string]struct{}{}}
}

// add counts one record, a JSON object; one without an id is an error.
func (t *tally) add(value []byte) error {
	var k recordKeys
	if err := json.Unmarshal(value, &k); err != nil {
		return fmt.Errorf("not a record: %w", err)
	}
	if k.ID == "" {
		return errors.New(`a record without "id"`)
	}
	t.records++
	t.ids[k.ID] = struct{}{}
	if k.UserEmail != "" {
		t.emails[k.UserEmail] = struct{}{}
	}
	return nil
}

// duplicates is the records delivered more than once.
func (t *tally) duplicates() int64 { return t.records - int64(len(t.ids)) }

// readRecordFile tallies the file sink's output, a record per line.
func readRecordFile(path string) (*tally, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := newTally()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if err := t.add(sc.Bytes()); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// readTopic tallies every record of topic on the broker at addr, from the
// start of each partition to its end as the broker reports it before the
// read: what was produced up to now, and nothing more is waited for.
func readTopic(ctx context.Context, addr, topic string, timeout time.Duration) (*tally, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return nil, fmt.Errorf("kafka reader: %w", err)
	}
	defer cl.Close()
	end, err := endOffsets(ctx, cl, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka reader: %w", err)
	}
	next := make(map[int32]int64, len(end))
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	t := newTally()
	var lastErr error
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			read := 0
			for _, n := range next {
				read += int(n)
			}
			return nil, fmt.Errorf("kafka reader: read up to %d of the topic's offsets in %s (last fetch error: %v): %w", read, timeout, lastErr, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			if err := t.add(r.Value); err != nil && bad == nil {
				bad = fmt.Errorf("kafka partition %d offset %d: %w", r.Partition, r.Offset, err)
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	return t, nil
}

// endOffsets is the offset after the last record of each partition of
// topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata: %d topics for %q", len(mresp.Topics), topic)
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("metadata of %q: %w", topic, err)
	}
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1 // the latest offset: the end
		lt.Partitions = append(lt.Partitions, lp)
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.Topics = append(lreq.Topics, lt)
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	end := map[int32]int64{}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, err)
			}
			end[p.Partition] = p.Offset
		}
	}
	if len(end) != len(mresp.Topics[0].Partitions) {
		return nil, fmt.Errorf("list offsets: %d of %d partitions", len(end), len(mresp.Topics[0].Partitions))
	}
	return end, nil
}
