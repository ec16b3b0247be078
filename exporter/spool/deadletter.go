package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// deadLetter appends records a sink refused for good to a JSON-lines file,
// one object per line: {"time", "sink", "error", "record"}. Each line is
// fsynced before the record leaves the spool. The file is opened on first
// use, so a healthy spool has none.
type deadLetter struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	closed bool // by Shutdown: no more writes
}

type deadLetterLine struct {
	Time   time.Time     `json:"time"`
	Sink   string        `json:"sink"`
	Error  string        `json:"error"`
	Record schema.Record `json:"record"`
}

func (d *deadLetter) write(sink string, rec schema.Record, cause error, now time.Time) error {
	line, err := json.Marshal(deadLetterLine{Time: now.UTC(), Sink: sink, Error: cause.Error(), Record: rec})
	if err != nil {
		return fmt.Errorf("spool: dead letter %s: %w", rec.ID, err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		// Shutdown has passed: the record stays in the spool for the
		// next start, which sets it aside again.
		return fmt.Errorf("spool: dead letter %s: %w", rec.ID, ErrClosed)
	}
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("spool: dead letter: %w", err)
		}
		d.f = f
	}
	if _, err := d.f.Write(line); err != nil {
		return fmt.Errorf("spool: dead letter %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("spool: dead letter %s: %w", d.path, err)
	}
	return nil
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("spool: dead letter: close %s: %w", d.path, err)
	}
	return nil
}
