package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData flushes f's data and the size that makes it readable, not its
// times (fdatasync), as bbolt does: a journal commit less per group under
// the always mode.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
