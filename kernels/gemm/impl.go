package gemm

import "sync/atomic"

// An impl is one implementation of the kernels: the portable Go reference
// or an instruction set's assembly.
type impl uint8

const (
	implGeneric impl = iota
	implAVX2
	implAVX512
	numImpls
)

var implNames = [numImpls]string{implGeneric: "generic", implAVX2: "avx2", implAVX512: "avx512"}

// implAvailable says which impls this build and CPU have; the asm build
// sets the CPU's at init.
var implAvailable = [numImpls]bool{implGeneric: true}

// implDisabled holds the impls the Disable hooks turned off.
var implDisabled [numImpls]atomic.Bool

// active returns the fastest available impl not disabled.
func active() impl {
	for i := numImpls - 1; i > implGeneric; i-- {
		if implAvailable[i] && !implDisabled[i].Load() {
			return i
		}
	}
	return implGeneric
}

// Impls returns the names of the implementations this build has on this
// CPU, fastest first: some of "avx512", "avx2" (amd64 without the noasm or
// purego tags) and always "generic", the portable Go code.
func Impls() []string {
	var names []string
	for i := numImpls - 1; ; i-- {
		if implAvailable[i] {
			names = append(names, implNames[i])
		}
		if i == implGeneric {
			return names
		}
	}
}

// Impl returns the name of the implementation calls use now.
func Impl() string { return implNames[active()] }

// DisableAVX512 makes the kernels fall back from AVX-512 (to AVX2 if the
// CPU has it) until the returned function restores the previous setting.
// It is meant for tests: calls running meanwhile may use either
// implementation, and overlapping disables must restore in reverse order.
func DisableAVX512() (restore func()) { return disable(implAVX512) }

// DisableAVX2 makes the kernels fall back from AVX2 to the generic Go code,
// as [DisableAVX512] does. It does not disable AVX-512: disable both to
// force the generic code.
func DisableAVX2() (restore func()) { return disable(implAVX2) }

func disable(i impl) func() {
	old := implDisabled[i].Swap(true)
	return func() { implDisabled[i].Store(old) }
}
