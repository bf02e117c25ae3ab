//go:build !linux

package kernels_test

import "errors"

func hugePageBytes(int) ([]byte, error) {
	return nil, errors.New("EMBTAB_KERNELS_HUGEPAGES: huge pages are advised on Linux only")
}
