package gemm

import "github.com/embtab/embtab/internal/cpuimpl"

// impl is one implementation of the kernels (package cpuimpl chooses).
type impl = cpuimpl.Level

const (
	implGeneric = cpuimpl.Generic
	implAVX2    = cpuimpl.AVX2
	implAVX512  = cpuimpl.AVX512
	numImpls    = cpuimpl.NumLevels
)

// impls are the implementations this build and CPU have; the asm build
// marks its own at init.
var impls cpuimpl.Set

// active returns the fastest available impl not disabled.
func active() impl { return impls.Active() }

// Impls returns the names of the implementations this build has on this
// CPU, fastest first: some of "avx512", "avx2" (amd64 without the noasm or
// purego tags) and always "generic", the portable Go reference. Tests and
// fuzzers run each one against the reference by disabling the faster ones.
func Impls() []string { return impls.Names() }

// Impl returns the name of the implementation calls use now.
func Impl() string { return impls.Name() }

// DisableAVX512 makes the kernels fall back from AVX-512 (to AVX2 if the
// CPU has it) until the returned function restores the previous setting.
// It is meant for tests and fuzzers: calls running meanwhile may use
// either implementation, and overlapping disables must restore in reverse
// order.
func DisableAVX512() (restore func()) { return impls.Disable(implAVX512) }

// DisableAVX2 makes the kernels fall back from AVX2 to the generic Go code,
// as [DisableAVX512] does. It does not disable AVX-512: disable both to
// force the generic code.
func DisableAVX2() (restore func()) { return impls.Disable(implAVX2) }
