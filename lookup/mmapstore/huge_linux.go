package mmapstore

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the transparent huge page size on the platforms we serve.
const hugePage = 2 << 20

// hugeCopy returns memory holding a copy of b (mem, len(b) bytes) in an
// anonymous private mapping (raw, to free with hugeFree) whose pages
// start on a 2 MiB boundary and are advised MADV_HUGEPAGE, then made
// read-only.
func hugeCopy(b []byte) (mem, raw []byte, err error) {
	n := max((len(b)+hugePage-1)/hugePage*hugePage, hugePage)
	// One huge page more, so the region can start on a 2 MiB boundary,
	// which the fault path needs to map a huge page.
	raw, err = unix.Mmap(-1, 0, n+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % hugePage); r != 0 {
		skip = hugePage - r
	}
	region := raw[skip : skip+n]
	if err := unix.Madvise(region, unix.MADV_HUGEPAGE); err != nil {
		_ = unix.Munmap(raw)
		return nil, nil, fmt.Errorf("madvise(MADV_HUGEPAGE): %w", err)
	}
	copy(region, b)
	if err := unix.Mprotect(region, unix.PROT_READ); err != nil {
		_ = unix.Munmap(raw)
		return nil, nil, fmt.Errorf("mprotect: %w", err)
	}
	return region[:len(b)], raw, nil
}

// hugeFree unmaps a hugeCopy mapping.
func hugeFree(raw []byte) error { return unix.Munmap(raw) }
