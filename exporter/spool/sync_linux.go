package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData flushes f's data and the size that makes it readable, not its
// times (fdatasync), as bbolt does: a journal commit less per group under
// the always mode. The descriptor is used through Control, which keeps it
// open while the call runs: a segment deleted meanwhile is closed after,
// and one closed before fails here instead of fsyncing a descriptor
// number the process may have reused.
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
