package kernels_test

import (
	"fmt"
	"syscall"
)

// adviseHugePages asks Linux to back b with transparent huge pages, which
// cuts the TLB misses of random gathers (THP must be "madvise" or
// "always" in /sys/kernel/mm/transparent_hugepage/enabled).
func adviseHugePages(b []byte) error {
	if err := syscall.Madvise(b, syscall.MADV_HUGEPAGE); err != nil {
		return fmt.Errorf("madvise(MADV_HUGEPAGE): %w", err)
	}
	return nil
}
