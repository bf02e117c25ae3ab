// Command _asm generates the amd64 assembly of package gemm with avo: the
// GEMM micro-kernels for AVX-512 and AVX2 and the AVX-512 pairwise-dot
// kernels. Run it through go generate in package gemm:
//
//	cd kernels/gemm && go generate
//
// It writes ../gen_gemm_amd64.s and the Go declarations in
// ../gen_gemm_amd64.go.
//
// # GEMM micro-kernels
//
// Every micro-kernel has the signature
//
//	func(a *float32, aStride int, b *float32, bStride int, c *float32, ldc int,
//	     kc, mr, nr, flags int, alpha float32,
//	     bias, mask *float32, ldm int, colsum *float32)
//
// (strides in bytes) and computes one MR×NR tile of C, of which it stores
// the top-left mr×nr corner (1 ≤ mr ≤ MR, 1 ≤ nr ≤ NR):
//
//	acc[r][j] = Σ_{p<kc} A(r, p)·B(p, j)
//
// B(p, j) is at b + p·bStride + 4j. The "P" kernels read A(r, p) at
// a + p·aStride + 4r (a packed panel, or a transposed A read in place); the
// "R" kernels read it at a + r·aStride + 4p (a row-major A read in place,
// all MR rows must exist). The AVX-512 kernels load B with the column mask
// of nr (so B needs only nr columns); the AVX2 kernels load NR columns
// (the caller packs the B panels narrower than NR, zero-padded).
//
// Then the epilogue, steps selected by flags (the flag* constants, which
// must match package gemm), in this order: acc *= alpha; acc += C;
// acc += bias[j]; acc = max(acc, 0); acc = 0 where mask[r·ldm + j] <= 0
// (bytes: mask + r·ldm + 4j); store C; colsum[j] += Σ_{r<mr} acc[r][j].
//
// AVX-512: MR=14, NR=32 (28 zmm accumulators, two B vectors and two
// broadcast registers). AVX2: MR=6, NR=16 (12 ymm accumulators).
//
// # Pairwise dots (AVX-512, dim 16)
//
// pairDotsAVX512 and pairDotsGradAVX512 implement gemm.PairDots and
// gemm.PairDotsGrad for vectors of 16 floats (one zmm each); see pairdots.go
// for their tables.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Epilogue flags: they must match the flag* constants of package gemm.
const (
	flagAccumulate = 1 << iota
	flagAlpha
	flagBias
	flagReLU
	flagMask
	flagColSum
)

// unroll is the unrolling of the micro-kernels' k loop.
const unroll = 4

const kernelSig = "func(a *float32, aStride int, b *float32, bStride int, c *float32, ldc int, kc int, mr int, nr int, flags int, alpha float32, bias *float32, mask *float32, ldm int, colsum *float32)"

var zmm = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

var ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

// isa describes one instruction set's micro-kernel shape.
type isa struct {
	name   string
	mr, nv int // rows, vectors per row
	width  int // bytes per vector
	avx512 bool
}

var isas = []isa{
	{name: "AVX512", mr: 14, nv: 2, width: 64, avx512: true},
	{name: "AVX2", mr: 6, nv: 2, width: 32},
}

var edgeMask, pairIdx1, pairIdx2 Mem

func main() {
	ConstraintExpr("!noasm,!purego")
	// edgeMask: 8 lanes of -1 then 8 of 0; the AVX2 lane mask of c columns
	// is the 8 int32 at edgeMask + 4·(8-c).
	edgeMask = GLOBL("edgeMask", RODATA|NOPTR)
	for i := range 16 {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
	// pairIdx1/2: byte offsets from a y row of the vectors in gather lanes
	// 0..15 (vector r = 1..15 is at (r-1)·64; lane 0, vector 0, is masked
	// off) and 16..31 (vector 16+r at (15+r)·64).
	pairIdx1 = GLOBL("pairIdx1", RODATA|NOPTR)
	for r := range 16 {
		DATA(4*r, U32(uint32(int32((r-1)*64))))
	}
	pairIdx2 = GLOBL("pairIdx2", RODATA|NOPTR)
	for r := range 16 {
		DATA(4*r, U32(uint32((15+r)*64)))
	}
	for _, s := range isas {
		gemmKernel(s, false)
		gemmKernel(s, true)
	}
	pairDots()
	pairDotsGrad()
	Generate()
}
