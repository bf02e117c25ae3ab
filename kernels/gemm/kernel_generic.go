package gemm

import "unsafe"

// Epilogue flags of a micro-kernel call. They must match _asm/gen.go.
const (
	flagAccumulate = 1 << iota // C += result (else C = result)
	flagAlpha                  // multiply the product by alpha
	flagBias                   // add bias[j]
	flagReLU                   // max(·, 0)
	flagMask                   // zero where mask <= 0
	flagColSum                 // colsum[j] += Σ_r C[r][j]
)

// tile is one micro-kernel call: it computes an MR×NR tile of C and stores
// its top-left mr×nr corner. Strides are in elements.
//
//	acc[r][j] = Σ_{p<kc} A(r, p)·B(p, j)
//
// where B(p, j) = b[p·bStride + j] and A(r, p) = a[p·aStride + r] for the
// p kernels, a[r·aStride + p] for the r kernels (which need all MR rows).
// The epilogue then applies, as flags select and in this order: acc *=
// alpha; acc += C; acc += bias[j]; acc = max(acc, 0); acc = 0 where
// mask[r·ldm + j] <= 0 (not > 0, so NaN masks zero too); C = acc (rows
// r < mr, columns j < nr); colsum[j] += Σ_{r<mr} acc[r][j].
type tile struct {
	a          *float32
	aStride    int
	b          *float32
	bStride    int
	c          *float32
	ldc        int
	kc, mr, nr int
	flags      int
	alpha      float32
	bias, mask *float32
	ldm        int
	colsum     *float32
}

// kernelSet is one implementation's micro-kernels.
type kernelSet struct {
	mr, nr int
	// maskedB: the kernels read only nr columns of B. Without it a B panel
	// narrower than NR must be packed and zero-padded to NR.
	maskedB bool
	p, r    func(t *tile)
}

// Tile of the generic kernels.
const (
	genericMR = 4
	genericNR = 16
)

var genericKernels = kernelSet{
	mr: genericMR, nr: genericNR, maskedB: true,
	p: func(t *tile) { genericKernel(t, false) },
	r: func(t *tile) { genericKernel(t, true) },
}

// at returns the float32 at p + i elements.
func at(p *float32, i int) *float32 {
	return (*float32)(unsafe.Add(unsafe.Pointer(p), 4*i))
}

// row returns the n floats at p + i elements.
func row(p *float32, i, n int) []float32 {
	return unsafe.Slice(at(p, i), n)
}

// genericKernel is the portable micro-kernel and the specification of the
// tile semantics (see tile).
func genericKernel(t *tile, rowMajorA bool) {
	var acc [genericMR][genericNR]float32
	for p := range t.kc {
		bp := row(t.b, p*t.bStride, t.nr)
		for r := range t.mr {
			var av float32
			if rowMajorA {
				av = *at(t.a, r*t.aStride+p)
			} else {
				av = *at(t.a, p*t.aStride+r)
			}
			ar := acc[r][:len(bp)]
			for j, bv := range bp {
				ar[j] += av * bv
			}
		}
	}
	var bias, cs []float32
	if t.flags&flagBias != 0 {
		bias = row(t.bias, 0, t.nr)
	}
	if t.flags&flagColSum != 0 {
		cs = row(t.colsum, 0, t.nr)
	}
	var sum [genericNR]float32
	for r := range t.mr {
		cr := row(t.c, r*t.ldc, t.nr)
		var mr []float32
		if t.flags&flagMask != 0 {
			mr = row(t.mask, r*t.ldm, t.nr)
		}
		for j := range cr {
			v := acc[r][j]
			if t.flags&flagAlpha != 0 {
				v *= t.alpha
			}
			if t.flags&flagAccumulate != 0 {
				v += cr[j]
			}
			if bias != nil {
				v += bias[j]
			}
			if t.flags&flagReLU != 0 && !(v > 0) {
				v = 0
			}
			if mr != nil && !(mr[j] > 0) {
				v = 0
			}
			cr[j] = v
			sum[j] += v
		}
	}
	for j := range cs {
		cs[j] += sum[j]
	}
}
