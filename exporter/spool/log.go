package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The spool's records live in an append-only log of segment files, as a
// Kafka partition does: a group of records is one write(2) at the end of
// the newest segment, and a segment is deleted whole once every sink is
// past it (or the size bound drops it). Nothing is rewritten in place, so
// a group costs one system call and the bytes it appends; a B+tree
// transaction (the spool's earlier bbolt file) rewrote pages and a 4 KiB
// meta page for each group, a seventh of the proxy's CPU.
//
// A frame is
//
//	len    uint32  length of data
//	crc    uint32  CRC-32C of seq, at and data
//	seq    uint64  the record's sequence number
//	at     int64   when it was appended, Unix nanoseconds
//	data   []byte  the record's JSON
//
// all big-endian. Opening scans every segment and keeps the offset of each
// frame in memory (4 bytes a record); a frame that is cut short or fails
// its CRC (a power loss under the interval sync) ends its segment, and the
// newest segment is truncated there so the next write follows whole
// frames.
const frameHeader = 24

// Segment files are named by the sequence number of their first record.
const segmentSuffix = ".seg"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one file of the log. Only the writer appends; offs and size
// are read under recordLog.mu.
type segment struct {
	first uint64 // sequence number of its first record
	path  string
	f     *os.File
	offs  []uint32 // offset of each record's frame
	size  int64    // end of the last whole frame
	// dirty is set by the writer after each write and cleared by the
	// syncer before its fsync, so neither waits for the other.
	dirty atomic.Bool
}

// lastSeq is the sequence number of its last record, first-1 when empty.
func (g *segment) lastSeq() uint64 { return g.first + uint64(len(g.offs)) - 1 }

// frameEnd is where frame i ends.
func (g *segment) frameEnd(i int) int64 {
	if i+1 < len(g.offs) {
		return int64(g.offs[i+1])
	}
	return g.size
}

// recordLog is the segmented log. append is called by one writer at a
// time; reads, sizes and drops are safe alongside it.
type recordLog struct {
	dir         string
	segmentSize int64
	log         *slog.Logger

	mu   sync.RWMutex
	segs []*segment // oldest first; the last is written to

	// syncMu serialises syncs; the writer never takes it, so a commit
	// does not wait for the syncer's fsync (the request path would).
	syncMu   sync.Mutex
	dirDirty atomic.Bool // a segment was created since the last sync

	buf []byte // the writer's frame buffer, reused
}

// openLog opens the segments in dir, repairing a torn end, or starts a log
// whose first record will be next.
func openLog(dir string, segmentSize int64, next uint64, logger *slog.Logger) (*recordLog, error) {
	l := &recordLog{dir: dir, segmentSize: segmentSize, log: logger}
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), segmentSuffix), 10, 64)
		if err != nil || first == 0 {
			continue // not one of ours
		}
		l.segs = append(l.segs, &segment{first: first, path: name})
	}
	slices.SortFunc(l.segs, func(a, b *segment) int { return cmpUint(a.first, b.first) })
	for i, g := range l.segs {
		limit := uint64(0) // no bound for the newest segment
		if i+1 < len(l.segs) {
			limit = l.segs[i+1].first
		}
		if err := l.load(g, limit, i == len(l.segs)-1); err != nil {
			l.close()
			return nil, err
		}
	}
	if len(l.segs) == 0 {
		if err := l.roll(max(next, 1)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// load opens g and indexes its frames. Frames at or past limit (when not
// 0) belong to the next segment: a write that failed before that segment
// was started may have left whole frames behind. In the newest segment,
// whatever follows the last whole frame is cut off.
func (l *recordLog) load(g *segment, limit uint64, newest bool) error {
	flag := os.O_RDONLY
	if newest {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(g.path, flag, 0o600)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	g.f = f
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", g.path, err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, info.Size()), 256<<10)
	var hdr [frameHeader]byte
	var data []byte
	var off int64
	reason := ""
	for off < info.Size() {
		if limit != 0 && g.lastSeq()+1 >= limit {
			reason = "frames of the next segment"
			break
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			reason = "a frame cut short"
			break
		}
		n := binary.BigEndian.Uint32(hdr[0:])
		seq := binary.BigEndian.Uint64(hdr[8:])
		if seq != g.lastSeq()+1 || int64(n) > info.Size()-off-frameHeader || off+frameHeader+int64(n) > 1<<32-1 {
			reason = "a frame out of sequence"
			break
		}
		data = slices.Grow(data[:0], int(n))[:n]
		if _, err := io.ReadFull(r, data); err != nil {
			reason = "a frame cut short"
			break
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:], castagnoli), castagnoli, data)
		if crc != binary.BigEndian.Uint32(hdr[4:]) {
			reason = "a frame that fails its checksum"
			break
		}
		g.offs = append(g.offs, uint32(off))
		off += frameHeader + int64(n)
	}
	g.size = off
	if off == info.Size() {
		return nil
	}
	l.log.Error("spool: segment damaged; records after the damage are lost",
		"segment", g.path, "found", reason, "kept_records", len(g.offs), "lost_bytes", info.Size()-off)
	if newest {
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("truncate %s: %w", g.path, err)
		}
	}
	return nil
}

// roll starts a segment whose first record is first; the previous one is
// kept open for reading.
func (l *recordLog) roll(first uint64) error {
	path := filepath.Join(l.dir, fmt.Sprintf("%020d%s", first, segmentSuffix))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	g := &segment{first: first, path: path, f: f}
	g.dirty.Store(true)
	// Marked before the segment is listed: a sync that fsyncs its data
	// also fsyncs the directory entry created above.
	l.dirDirty.Store(true)
	l.mu.Lock()
	var replaced *segment
	if n := len(l.segs); n > 0 && l.segs[n-1].first == first {
		// The newest segment is empty (a write to it failed and could not
		// be cut back) and has this name: the file just truncated is its
		// file. Listed twice, the first copy would be deleted as soon as
		// the sinks were past it, unlinking the file the records go to.
		replaced = l.segs[n-1]
		l.segs[n-1] = g
	} else {
		l.segs = append(l.segs, g)
	}
	l.mu.Unlock()
	if replaced != nil {
		replaced.f.Close()
	}
	return nil
}

// first and last are the sequence numbers held; first > last when empty.
func (l *recordLog) bounds() (first, last uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[0].first, l.segs[len(l.segs)-1].lastSeq()
}

// append writes the records data[i] as first+i, appended at at, in one
// write. On failure nothing is kept: the segment is cut back to where it
// was, or, if that fails too, a new segment takes the next records.
func (l *recordLog) append(first uint64, at int64, data [][]byte) error {
	l.mu.RLock()
	g := l.segs[len(l.segs)-1]
	l.mu.RUnlock()
	if g.size >= l.segmentSize && len(g.offs) > 0 {
		if err := l.roll(first); err != nil {
			return err
		}
		l.mu.RLock()
		g = l.segs[len(l.segs)-1]
		l.mu.RUnlock()
	}
	if g.lastSeq()+1 != first {
		return fmt.Errorf("append %d after %d", first, g.lastSeq())
	}
	buf := l.buf[:0]
	offs := make([]uint32, len(data))
	for i, d := range data {
		offs[i] = uint32(g.size + int64(len(buf)))
		var hdr [frameHeader]byte
		binary.BigEndian.PutUint32(hdr[0:], uint32(len(d)))
		binary.BigEndian.PutUint64(hdr[8:], first+uint64(i))
		binary.BigEndian.PutUint64(hdr[16:], uint64(at))
		crc := crc32.Update(crc32.Checksum(hdr[8:], castagnoli), castagnoli, d)
		binary.BigEndian.PutUint32(hdr[4:], crc)
		buf = append(append(buf, hdr[:]...), d...)
	}
	if len(buf) < 1<<20 {
		l.buf = buf // a rare huge group is not kept
	}
	if g.size+int64(len(buf)) > 1<<32-1 {
		return errors.New("segment would pass 4 GiB")
	}
	if _, err := g.f.WriteAt(buf, g.size); err != nil {
		if terr := g.f.Truncate(g.size); terr != nil {
			// The tail is unknown: later records go to a new segment, and
			// opening stops reading this one at the next one's first.
			if rerr := l.roll(first); rerr != nil {
				return fmt.Errorf("write %s: %w (and %v)", g.path, err, rerr)
			}
		}
		return fmt.Errorf("write %s: %w", g.path, err)
	}
	// After the write: a sync that cleared the mark before the write
	// ended fsyncs the segment again next time.
	g.dirty.Store(true)
	l.mu.Lock()
	g.offs = append(g.offs, offs...)
	g.size += int64(len(buf))
	l.mu.Unlock()
	return nil
}

// sync fsyncs every segment written since the last sync, and the directory
// when a segment was created.
func (l *recordLog) sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	segs := slices.Clone(l.segs)
	l.mu.RUnlock()
	for _, g := range segs {
		// Cleared before the fsync: a write that ends after it marks the
		// segment again.
		if !g.dirty.Swap(false) {
			continue
		}
		if err := syncData(g.f); err != nil {
			if !l.holds(g) {
				// Deleted (and closed) since the list was copied: its
				// records are gone from the log, nothing of it needs to
				// last.
				continue
			}
			g.dirty.Store(true)
			return fmt.Errorf("fsync %s: %w", g.path, err)
		}
	}
	if l.dirDirty.Swap(false) {
		if err := syncDir(l.dir); err != nil {
			l.dirDirty.Store(true)
			return err
		}
	}
	return nil
}

// holds reports whether g is still one of the log's segments.
func (l *recordLog) holds(g *segment) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Contains(l.segs, g)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// find returns the segment holding seq, or the first one after it (a gap
// left by a damaged segment), nil when none.
func (l *recordLog) find(seq uint64) *segment {
	i, _ := slices.BinarySearchFunc(l.segs, seq, func(g *segment, s uint64) int {
		if g.lastSeq() < s {
			return -1
		}
		if g.first > s {
			return 1
		}
		return 0
	})
	for ; i < len(l.segs); i++ {
		if len(l.segs[i].offs) > 0 && l.segs[i].lastSeq() >= seq {
			return l.segs[i]
		}
	}
	return nil
}

// span returns the bytes of the records from through to (inclusive).
func (l *recordLog) span(from, to uint64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for seq := from; seq <= to; {
		g := l.find(seq)
		if g == nil || g.first > to {
			break
		}
		i := int(max(seq, g.first) - g.first)
		j := int(min(to, g.lastSeq()) - g.first)
		n += g.frameEnd(j) - int64(g.offs[i])
		seq = g.lastSeq() + 1
	}
	return n
}

// frame is one record read back.
type frame struct {
	seq  uint64
	at   int64
	data []byte // nil when the frame failed its checksum
}

// read returns the frames from seq (or the first held after it) up to
// through, in one segment, stopping once maxBytes are in (one frame at
// least).
func (l *recordLog) read(seq, through uint64, maxBytes int) ([]frame, error) {
	l.mu.RLock()
	g := l.find(seq)
	if g == nil || g.first > through {
		l.mu.RUnlock()
		return nil, nil
	}
	i := int(max(seq, g.first) - g.first)
	j := int(min(through, g.lastSeq()) - g.first)
	from := int64(g.offs[i])
	end := g.frameEnd(i)
	for k := i + 1; k <= j && end-from < int64(maxBytes); k++ {
		end = g.frameEnd(k)
	}
	f := g.f
	l.mu.RUnlock()
	buf := make([]byte, end-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", g.path, from, err)
	}
	var out []frame
	for len(buf) >= frameHeader {
		n := int(binary.BigEndian.Uint32(buf[0:]))
		if n > len(buf)-frameHeader {
			return out, fmt.Errorf("read %s: frame past the data read", g.path)
		}
		fr := frame{seq: binary.BigEndian.Uint64(buf[8:]), at: int64(binary.BigEndian.Uint64(buf[16:]))}
		data := buf[frameHeader : frameHeader+n]
		if crc32.Update(crc32.Checksum(buf[8:frameHeader], castagnoli), castagnoli, data) == binary.BigEndian.Uint32(buf[4:]) {
			fr.data = data
		}
		out = append(out, fr)
		buf = buf[frameHeader+n:]
	}
	return out, nil
}

// appendedAt returns when the first record at or after seq was appended.
func (l *recordLog) appendedAt(seq uint64) (int64, bool) {
	frames, err := l.read(seq, seq, 1)
	if err != nil || len(frames) == 0 {
		return 0, false
	}
	return frames[0].at, true
}

// dropBefore deletes the segments whose records all come before seq; the
// newest segment is kept, as it is written to and holds the last sequence
// number.
func (l *recordLog) dropBefore(seq uint64) {
	l.mu.Lock()
	var gone []*segment
	for len(l.segs) > 1 && l.segs[0].lastSeq() < seq {
		gone = append(gone, l.segs[0])
		l.segs = l.segs[1:]
	}
	l.mu.Unlock()
	for _, g := range gone {
		// A read that found g before it left the list fails on the
		// closed file; its records were dropped, so it moves on.
		g.f.Close()
		if err := os.Remove(g.path); err != nil {
			l.log.Warn("spool: remove segment", "segment", g.path, "error", err)
		}
	}
}

func (l *recordLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, g := range l.segs {
		if g.f != nil {
			if err := g.f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
