//go:build !linux

package kernels_test

import "errors"

func adviseHugePages([]byte) error {
	return errors.New("EMBTAB_KERNELS_HUGEPAGES: huge pages are advised on Linux only")
}
