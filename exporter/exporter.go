package exporter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// Sink delivers records somewhere. Export returns after the records are
// handed over (written or acknowledged); an error means the batch may not
// have been delivered and the caller may retry it, so a sink may deliver a
// record twice (records carry a unique id for consumers to drop duplicates).
// Errors that retrying cannot fix are marked with Permanent.
//
// Export must return promptly once ctx is done. Callers do not call Export
// concurrently on one Sink unless its documentation says it is safe.
type Sink interface {
	Export(ctx context.Context, recs []schema.Record) error
}

// Permanent marks an error that retrying will not fix (a record the sink
// cannot encode, a destination that refuses it for good). The result wraps
// err: errors.Is/As see through it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Throttle marks an error after which the destination asked to be left
// alone for at least delay (HTTP Retry-After, gRPC RetryInfo). The retry
// layer waits the longer of delay and its own backoff. The result wraps
// err; Throttle(nil, d) is nil.
func Throttle(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &throttleError{err: err, delay: max(delay, 0)}
}

// ThrottleDelay returns the delay asked for by the Throttle error in err's
// chain, and whether there is one.
func ThrottleDelay(err error) (time.Duration, bool) {
	var t *throttleError
	if errors.As(err, &t) {
		return t.delay, true
	}
	return 0, false
}

type throttleError struct {
	err   error
	delay time.Duration
}

func (e *throttleError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.err, e.delay)
}
func (e *throttleError) Unwrap() error { return e.err }
