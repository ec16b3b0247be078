package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// LegacyFileName is the bbolt file earlier releases kept the spool in. Open
// moves what it still holds into the log, so an upgrade delivers every
// record a sink had not acknowledged.
const LegacyFileName = "spool.db"

var (
	legacyRecords = []byte("records")
	legacyCursors = []byte("cursors")
	legacyMeta    = []byte("meta")
	legacyLast    = []byte("last")
)

// legacyBatch bounds the records moved in one append.
const legacyBatch = 512

// migrateLegacy moves the records and cursors of dir's spool.db, if there
// is one, into the log. Into a log that never held a record, sequence
// numbers, append times and cursors are kept, so each sink resumes where it
// was. Into a log that has (a move cut short, or an upgrade, a downgrade
// that started a new spool.db and an upgrade again), its records are
// appended after the log's, numbered on, for every sink: some may be
// delivered twice, none is lost. The log is fsynced before spool.db is
// removed.
func (s *Spool) migrateLegacy() error {
	path := filepath.Join(s.cfg.Dir, LegacyFileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		aside := fmt.Sprintf("%s.unreadable-%d", path, s.now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return fmt.Errorf("move aside unreadable %s: %w", path, rerr)
		}
		s.log.Error("spool: earlier spool file unreadable, moved aside", "path", path, "moved_to", aside, "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	if _, last := s.rlog.bounds(); last > 0 {
		moved, err := s.appendLegacy(db, last+1)
		if err != nil {
			return fmt.Errorf("move %s into the log: %w", path, err)
		}
		if err := s.rlog.sync(); err != nil {
			return err
		}
		db.Close()
		return s.removeLegacy(path, moved, 0)
	}
	// The log is new: it holds one empty segment, replaced by the move.
	if err := s.rlog.close(); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(s.cfg.Dir, "*"+segmentSuffix))
	for _, name := range old {
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	cursors := map[string]uint64{}
	var first, last uint64
	var moved int
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(legacyCursors); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
				if len(v) == 8 {
					cursors[string(k)] = binary.BigEndian.Uint64(v)
				}
				return nil
			})
		}
		if b := tx.Bucket(legacyMeta); b != nil {
			if v := b.Get(legacyLast); len(v) == 8 {
				last = binary.BigEndian.Uint64(v)
			}
		}
		b := tx.Bucket(legacyRecords)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, _ := c.First()
		if k == nil {
			return nil
		}
		first = binary.BigEndian.Uint64(k)
		if s.rlog, err = openLog(s.cfg.Dir, s.segmentSize(), first, s.log); err != nil {
			return err
		}
		var batch [][]byte
		var batchFirst uint64
		var batchAt int64
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := s.rlog.append(batchFirst, batchAt, batch)
			moved += len(batch)
			batch = batch[:0]
			return err
		}
		// Each record keeps its sequence number; a gap (records the old
		// spool had already removed) starts a new append.
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if len(v) < 8 {
				continue
			}
			if len(batch) == legacyBatch || (len(batch) > 0 && seq != batchFirst+uint64(len(batch))) {
				if err := flush(); err != nil {
					return err
				}
			}
			if len(batch) == 0 {
				batchFirst, batchAt = seq, int64(binary.BigEndian.Uint64(v))
				if seq != s.rlog.segs[len(s.rlog.segs)-1].lastSeq()+1 {
					if err := s.rlog.roll(seq); err != nil {
						return err
					}
				}
			}
			batch = append(batch, v[8:])
		}
		return flush()
	})
	if err != nil {
		return fmt.Errorf("move %s into the log: %w", path, err)
	}
	if first == 0 {
		if s.rlog, err = openLog(s.cfg.Dir, s.segmentSize(), last+1, s.log); err != nil {
			return err
		}
	}
	if err := s.cursors.write(cursors); err != nil {
		return err
	}
	s.stored = cursors
	if err := errors.Join(s.rlog.sync(), s.cursors.sync()); err != nil {
		return err
	}
	db.Close()
	return s.removeLegacy(path, moved, len(cursors))
}

// appendLegacy appends db's records after the log's, from next on, and
// returns how many.
func (s *Spool) appendLegacy(db *bolt.DB, next uint64) (int, error) {
	moved := 0
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(legacyRecords)
		if b == nil {
			return nil
		}
		var batch [][]byte
		var at int64
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := s.rlog.append(next, at, batch)
			next += uint64(len(batch))
			moved += len(batch)
			batch = batch[:0]
			return err
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 8 {
				continue
			}
			if len(batch) == 0 {
				at = int64(binary.BigEndian.Uint64(v))
			}
			batch = append(batch, v[8:])
			if len(batch) == legacyBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	return moved, err
}

// removeLegacy removes spool.db once its records are in the log.
func (s *Spool) removeLegacy(path string, moved, sinks int) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s after moving it: %w", path, err)
	}
	// The removal must last before the log takes records: a spool.db back
	// after a power loss would be moved again, its records delivered
	// twice. Nothing else fsyncs the directory until a segment is created.
	if err := syncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("after removing %s: %w", path, err)
	}
	s.log.Info("spool: moved the earlier spool file into the log", "records", moved, "cursors_kept", sinks)
	return nil
}
