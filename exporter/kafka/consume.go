package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/schema"
)

// Dialer is a kafka-go dialer with the Config's TLS, SASL, client id and
// dial timeout, for the readers of the topic (scimtrail registry
// --from-kafka) to connect the way the sink does.
func (c Config) Dialer() (*kafkago.Dialer, error) {
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	mech, err := c.saslMechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &kafkago.Dialer{
		Timeout:       c.dialTimeout(),
		DualStack:     true,
		ClientID:      c.clientID(),
		TLS:           tlsCfg,
		SASLMechanism: mech,
		Resolver:      &net.Resolver{},
	}, nil
}

// ErrUnknownContentType is returned by DecodeMessage for a message whose
// content-type header names an encoding this build does not read (a
// newer writer's): a reader should stop rather than skip past it.
var ErrUnknownContentType = errors.New("kafka: unknown content-type")

// DecodeMessage reads the records of one message the sink wrote, in either
// encoding: the content-type header says which, and without it a value
// starting with '{' is JSON and anything else otlp_proto.
func DecodeMessage(m kafkago.Message) ([]schema.Record, error) {
	ct := ""
	for _, h := range m.Headers {
		if h.Key == HeaderContentType {
			ct = string(h.Value)
		}
	}
	switch {
	case ct == contentTypes[EncodingJSON], ct == "" && bytes.HasPrefix(bytes.TrimSpace(m.Value), []byte("{")):
		var rec schema.Record
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			return nil, fmt.Errorf("kafka: message at offset %d: json: %w", m.Offset, err)
		}
		return []schema.Record{rec}, nil
	case ct == contentTypes[EncodingOTLPProto], ct == "":
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(m.Value); err != nil {
			return nil, fmt.Errorf("kafka: message at offset %d: otlp_proto: %w", m.Offset, err)
		}
		recs, err := schema.RecordsFromLogs(req.Logs())
		if err != nil {
			return nil, fmt.Errorf("kafka: message at offset %d: %w", m.Offset, err)
		}
		return recs, nil
	}
	return nil, fmt.Errorf("message at offset %d: %w %q", m.Offset, ErrUnknownContentType, ct)
}
