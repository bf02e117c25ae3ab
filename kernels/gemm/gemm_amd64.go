//go:build !noasm && !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

func init() {
	// The AVX2 kernels use AVX2 and FMA; the AVX-512 ones AVX512F (and
	// BZHI from BMI2 for the column masks).
	avx2 := cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	impls.SetAvailable(implAVX2, avx2)
	impls.SetAvailable(implAVX512, avx2 && cpu.X86.HasAVX512F && cpu.X86.HasBMI2)
	kernelSets[implAVX2] = &avx2Kernels
	kernelSets[implAVX512] = &avx512Kernels
}

var avx512Kernels = kernelSet{
	mr: 14, nr: 32, maskedB: true,
	p: func(t *tile) {
		gemmAVX512P(t.a, 4*t.aStride, t.b, 4*t.bStride, t.c, 4*t.ldc, t.kc, t.mr, t.nr, t.flags, t.alpha, t.bias, t.mask, 4*t.ldm, t.colsum)
	},
	r: func(t *tile) {
		gemmAVX512R(t.a, 4*t.aStride, t.b, 4*t.bStride, t.c, 4*t.ldc, t.kc, t.mr, t.nr, t.flags, t.alpha, t.bias, t.mask, 4*t.ldm, t.colsum)
	},
}

var avx2Kernels = kernelSet{
	mr: 6, nr: 16,
	p: func(t *tile) {
		gemmAVX2P(t.a, 4*t.aStride, t.b, 4*t.bStride, t.c, 4*t.ldc, t.kc, t.mr, t.nr, t.flags, t.alpha, t.bias, t.mask, 4*t.ldm, t.colsum)
	},
	r: func(t *tile) {
		gemmAVX2R(t.a, 4*t.aStride, t.b, 4*t.bStride, t.c, 4*t.ldc, t.kc, t.mr, t.nr, t.flags, t.alpha, t.bias, t.mask, 4*t.ldm, t.colsum)
	},
}

// hasPairDotsAsm says whether impl i has pair-dot kernels.
func hasPairDotsAsm(i impl) bool { return i == implAVX512 }

// pairDotsAsm runs the AVX-512 forward pair-dot kernel on rows batch rows
// (strides in elements).
func pairDotsAsm(n, rows int, x *float32, ldx int, y *float32, ldy int, z *float32, ldz int, tab *pairTable) {
	pairDotsAVX512(n, rows, x, 4*ldx, y, 4*ldy, z, 4*ldz, (*byte)(unsafe.Pointer(tab)))
}

// pairDotsGradAsm runs the AVX-512 backward pair-dot kernel; u is a zeroed
// 32×32 scratch.
func pairDotsGradAsm(n, rows int, x *float32, ldx int, y *float32, ldy int, dz *float32, ldz int, dx *float32, lddx int, dy *float32, lddy int, tab *pairTable, u *[32 * 32]float32) {
	pairDotsGradAVX512(n, rows, x, 4*ldx, y, 4*ldy, dz, 4*ldz, dx, 4*lddx, dy, 4*lddy, (*byte)(unsafe.Pointer(tab)), &u[0])
}
