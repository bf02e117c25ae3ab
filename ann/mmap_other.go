//go:build !unix

package ann

import (
	"os"
)

// mmapFile reads the file into aligned memory where mmap is not wired up.
func mmapFile(path string) ([]byte, func() error, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	words := make([]uint64, (len(raw)+7)/8)
	b := bytesOf(words)[:len(raw)]
	copy(b, raw)
	return b, func() error { return nil }, nil
}
