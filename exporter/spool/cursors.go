package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// cursorFile keeps each sink's cursor (the last sequence number it
// acknowledged) in two fixed slots written in turn, as bbolt does with its
// meta pages: an acknowledgement is one write(2), never a rename, and a
// write torn by a power loss leaves the other slot, one acknowledgement
// older (its records are delivered again, which at-least-once allows).
//
// A slot is
//
//	gen  uint64  incremented by each write; the higher valid slot wins
//	len  uint32  length of the JSON
//	crc  uint32  CRC-32C of gen and the JSON
//	json         {"sink name": cursor, ...}
type cursorFile struct {
	f   *os.File
	gen uint64
}

const (
	cursorSlotSize   = 32 << 10
	cursorSlotHeader = 16
	// CursorFileName is the file of the sinks' cursors in Config.Dir.
	CursorFileName = "cursors"
)

// openCursors opens (or creates) the file and returns the cursors of its
// newest valid slot; none when neither is valid.
func openCursors(path string) (*cursorFile, map[string]uint64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open cursors: %w", err)
	}
	c := &cursorFile{f: f}
	cursors := map[string]uint64{}
	for slot := range 2 {
		gen, m, ok := readSlot(f, slot)
		if ok && gen > c.gen {
			c.gen, cursors = gen, m
		}
	}
	return c, cursors, nil
}

func readSlot(f *os.File, slot int) (uint64, map[string]uint64, bool) {
	buf := make([]byte, cursorSlotSize)
	n, err := f.ReadAt(buf, int64(slot*cursorSlotSize))
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, false
	}
	buf = buf[:n]
	if len(buf) < cursorSlotHeader {
		return 0, nil, false
	}
	gen := binary.BigEndian.Uint64(buf)
	size := int(binary.BigEndian.Uint32(buf[8:]))
	if size > len(buf)-cursorSlotHeader {
		return 0, nil, false
	}
	body := buf[cursorSlotHeader : cursorSlotHeader+size]
	if crc32.Update(crc32.Checksum(buf[:8], castagnoli), castagnoli, body) != binary.BigEndian.Uint32(buf[12:]) {
		return 0, nil, false
	}
	m := map[string]uint64{}
	if json.Unmarshal(body, &m) != nil {
		return 0, nil, false
	}
	return gen, m, true
}

// write stores cursors in the older slot. Calls must not overlap.
func (c *cursorFile) write(cursors map[string]uint64) error {
	body, err := json.Marshal(cursors)
	if err != nil {
		return fmt.Errorf("encode cursors: %w", err)
	}
	if len(body) > cursorSlotSize-cursorSlotHeader {
		return fmt.Errorf("cursors: %d bytes of sink names, over %d", len(body), cursorSlotSize-cursorSlotHeader)
	}
	gen := c.gen + 1
	buf := make([]byte, cursorSlotHeader, cursorSlotHeader+len(body))
	binary.BigEndian.PutUint64(buf, gen)
	binary.BigEndian.PutUint32(buf[8:], uint32(len(body)))
	binary.BigEndian.PutUint32(buf[12:], crc32.Update(crc32.Checksum(buf[:8], castagnoli), castagnoli, body))
	buf = append(buf, body...)
	if _, err := c.f.WriteAt(buf, int64(gen%2)*cursorSlotSize); err != nil {
		return fmt.Errorf("write cursors: %w", err)
	}
	c.gen = gen
	return nil
}

func (c *cursorFile) sync() error { return c.f.Sync() }

func (c *cursorFile) close() error { return c.f.Close() }
