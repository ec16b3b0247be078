package exporter

import (
	"context"
	"errors"

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
