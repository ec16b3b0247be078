package proxy

import (
	"context"

	"github.com/scimtrail/scimtrail/scim"
)

// Recorder receives what the proxy captured of each exchange. Both proxy
// modes (reverse and egress) feed the same Recorder, so a record does not
// depend on the engine that carried the request.
type Recorder interface {
	// Prepare is called before the request is forwarded, with the request
	// facts filled in (no response yet). It may use fetch to read the
	// resource from the upstream before it changes (e.g. before a DELETE).
	// It must not keep ex.
	Prepare(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc)
	// Record is called with the whole exchange once the upstream has
	// answered: after the answer was relayed to the client, or, with
	// WithRecordBeforeResponse, before (the answer waits). It runs on the
	// request's goroutine before the handler returns; fetch may be used to
	// complete the record. An error means the record was not kept; under
	// WithStrictRecording a held answer to a change is then replaced by
	// 503.
	Record(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) error
}
