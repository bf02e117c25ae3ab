//go:build !unix

package artifact

import "os"

// mapFile reads the file into memory where mmap is not available.
func mapFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := f.ReadAt(b, 0)
	return b, err
}

func unmapFile([]byte) error { return nil }
