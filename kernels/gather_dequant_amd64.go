//go:build !noasm && !purego

package kernels

import "golang.org/x/sys/cpu"

func init() {
	// The kernels use AVX2 and FMA, and F16C for binary16 (which every
	// AVX2 CPU has, but x/sys/cpu does not report: hasF16C asks CPUID).
	// The AVX-512 kernels use AVX512F, and AVX512VL for ymm registers 16-31.
	avx2 := cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA && hasF16C()
	impls.SetAvailable(implAVX2, avx2)
	impls.SetAvailable(implAVX512, avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL)
}

// bagFunc is the signature of the generated bag kernels (see
// _asm/gen.go): out[0:cols] = post · Σ_{i<n} w_i · decode(row idx[i])[0:cols].
type bagFunc func(out *float32, cols int, base *byte, stride int, rowBytes int, idx *byte, n int, npf int, w *float32, wstep int, post float32)

// bagFuncs are the generated kernels by impl, format and index size.
var bagFuncs = [numImpls][numFormats][2]bagFunc{
	implAVX2: {
		fmtFP32: {bagFP32AVX2I32, bagFP32AVX2I64},
		fmtFP16: {bagFP16AVX2I32, bagFP16AVX2I64},
		fmtInt8: {bagInt8AVX2I32, bagInt8AVX2I64},
		fmtInt4: {bagInt4AVX2I32, bagInt4AVX2I64},
	},
	implAVX512: {
		fmtFP32: {bagFP32AVX512I32, bagFP32AVX512I64},
		fmtFP16: {bagFP16AVX512I32, bagFP16AVX512I64},
		fmtInt8: {bagInt8AVX512I32, bagInt8AVX512I64},
		fmtInt4: {bagInt4AVX512I32, bagInt4AVX512I64},
	},
}

// asmKernel returns impl i's kernel for format f and 4-byte (or, with
// wide, 8-byte) indices; nil for the generic impl.
func asmKernel(i impl, f format, wide bool) bagFunc {
	w := 0
	if wide {
		w = 1
	}
	return bagFuncs[i][f][w]
}
