package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

// Stdout is the path Open takes to mean standard output.
const Stdout = "-"

// maxKeptBuffer bounds the encode buffer kept between batches, so one huge
// batch does not pin its memory for the life of the sink.
const maxKeptBuffer = 1 << 20

// ErrClosed is returned (wrapped) by Export after Close.
var ErrClosed = errors.New("file: sink closed")

// Sink writes records as JSON lines. Each Export is one Write of whole
// lines, so concurrent Exports never interleave within a line. It is safe
// for concurrent use. Make one with New or Open.
//
// Durability: for a file opened by Open, Export returns after an fsync, so
// the spool never lets go of a record a power loss could still take from
// the file. Writers given to New (and stdout) are not synced.
type Sink struct {
	mu     sync.Mutex
	w      io.Writer
	f      *os.File // set when the sink owns the file and must sync and close it
	name   string
	buf    bytes.Buffer
	closed bool
}

// New returns a sink writing to w. The sink does not own w: Close marks
// the sink closed but neither syncs nor closes w.
func New(w io.Writer) *Sink {
	return newSink(w, nil, "writer")
}

// Open returns a sink appending to the file at path, created with mode
// 0600 when missing (an existing file keeps its mode). Path "-" means
// standard output, which Close leaves open.
func Open(path string) (*Sink, error) {
	if path == Stdout {
		return newSink(os.Stdout, nil, "stdout"), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("file: open %s: %w", path, err)
	}
	return newSink(f, f, path), nil
}

func newSink(w io.Writer, f *os.File, name string) *Sink {
	// Records are read by people and log tools, not embedded in HTML:
	// AppendJSON does no HTML escaping.
	return &Sink{w: w, f: f, name: name}
}

// Export writes recs, one line each, in one Write. A record that cannot be
// encoded (an invalid json.RawMessage in Changes) is left out and reported
// as a Permanent error after the others are written: retrying cannot fix
// it. A failed Write is returned as is (retryable); part of the batch may
// have been written, so a retry may duplicate lines.
func (s *Sink) Export(ctx context.Context, recs []schema.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: export to %s: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("file: export to %s: %w", s.name, ErrClosed)
	}
	defer s.resetBuffer()
	var encErrs []error
	for i := range recs {
		// Appended into the buffer's spare room: no reflection, no copy.
		line, err := recs[i].AppendJSON(s.buf.AvailableBuffer())
		if err != nil {
			encErrs = append(encErrs, fmt.Errorf("record %s: %w", recs[i].ID, err))
			continue
		}
		s.buf.Write(append(line, '\n'))
	}
	if s.buf.Len() > 0 {
		if err := s.write(); err != nil {
			return err
		}
		if s.f != nil {
			if err := s.f.Sync(); err != nil {
				return fmt.Errorf("file: fsync %s: %w", s.name, err)
			}
		}
	}
	if len(encErrs) > 0 {
		return exporter.Permanent(fmt.Errorf("file: encode for %s: %w", s.name, errors.Join(encErrs...)))
	}
	return nil
}

// write writes the buffer in one Write. For a file it owns, a failed or
// short write (a full disk) is cut back off, so the retry does not glue its
// first line to a torn one; then the lines are fsynced.
func (s *Sink) write() error {
	var size int64 = -1
	if s.f != nil {
		if fi, err := s.f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		if size >= 0 {
			_ = s.f.Truncate(size)
		}
		return fmt.Errorf("file: write %s: %w", s.name, err)
	}
	return nil
}

func (s *Sink) resetBuffer() {
	if s.buf.Cap() > maxKeptBuffer {
		s.buf = bytes.Buffer{} // enc points at the field, not the old value
		return
	}
	s.buf.Reset()
}

// Close syncs and closes a file opened by Open; for standard output and
// for writers given to New it only marks the sink closed. Later Exports
// fail with ErrClosed; later Closes return nil.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	if err := errors.Join(s.f.Sync(), s.f.Close()); err != nil {
		return fmt.Errorf("file: close %s: %w", s.name, err)
	}
	return nil
}

var _ exporter.Sink = (*Sink)(nil)
