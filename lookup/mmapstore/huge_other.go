//go:build !linux

package mmapstore

import (
	"errors"
	"fmt"
	"runtime"
)

var errNoHugePages = errors.New("transparent huge pages are Linux-only")

func hugeCopy([]byte) (mem, raw []byte, err error) {
	return nil, nil, fmt.Errorf("%s: %w", runtime.GOOS, errNoHugePages)
}

func hugeFree([]byte) error { return nil }
