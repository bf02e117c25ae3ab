package kernels_test

import (
	"fmt"
	"syscall"
	"unsafe"
)

// hugePageBytes returns n bytes of anonymous memory starting on a 2 MiB
// boundary and advised MADV_HUGEPAGE before the first touch, which cuts
// the TLB misses of random gathers (THP must be "madvise" or "always" in
// /sys/kernel/mm/transparent_hugepage/enabled). It is never unmapped: the
// benchmark table lives as long as the process.
func hugePageBytes(n int) ([]byte, error) {
	const huge = 2 << 20
	raw, err := syscall.Mmap(-1, 0, n+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % huge); r != 0 {
		skip = huge - r
	}
	b := raw[skip : skip+n]
	if err := syscall.Madvise(b, syscall.MADV_HUGEPAGE); err != nil {
		return nil, fmt.Errorf("madvise(MADV_HUGEPAGE): %w", err)
	}
	return b, nil
}
