//go:build !unix

package location

import (
	"fmt"
	"os"
)

// lockDir on systems without flock only opens the lock file: two servers
// sharing a data directory are not detected there.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("location: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) { f.Close() }
