//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; on this system no lock is taken, so two
// processes must not be given the same spool directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
