package gemm

//go:generate sh -c "cd _asm && go run . -out ../gen_gemm_amd64.s -stubs ../gen_gemm_amd64.go -pkg gemm"

import "fmt"

// Transpose selects op(X): X itself or its transpose.
type Transpose bool

const (
	NoTrans Transpose = false // op(X) = X
	Trans   Transpose = true  // op(X) = Xᵀ
)

func (t Transpose) String() string {
	if t {
		return "T"
	}
	return "N"
}

// Epilogue lists the operations Sgemm fuses into the writing of C, applied
// in field order to C = alpha·op(A)·op(B) + beta·C. The zero Epilogue does
// nothing.
type Epilogue struct {
	// Bias, if not nil, holds at least N values: C[i][j] += Bias[j].
	Bias []float32
	// ReLU sets C = max(C, 0) (NaN becomes 0).
	ReLU bool
	// Mask, if not nil, is an M×N matrix with leading dimension LDMask:
	// C[i][j] = 0 unless Mask[i·LDMask+j] > 0. With the output of a ReLU
	// layer as the mask this is its gradient.
	Mask   []float32
	LDMask int
	// ColSum, if not nil, holds at least N values and receives the column
	// sums of the final C: ColSum[j] = Σ_i C[i][j] (overwritten).
	ColSum []float32
}

// Blocking: KC columns of A (rows of B) per block, MC rows of A, NC
// columns of B. MC is a multiple of every kernel's MR, NC of every NR.
const (
	kcBlock = 256
	mcBlock = 168
	ncBlock = 2048
)

// minWorkPerThread is the number of multiply-adds below which Sgemm does
// not add a thread (tests lower it).
var minWorkPerThread = 1 << 18

// kernelSets are the micro-kernels by impl; the asm build sets its own.
var kernelSets = [numImpls]*kernelSet{implGeneric: &genericKernels}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, then applies ep (nil for
// none), where op(A) is M×K, op(B) K×N and C M×N, all row-major with
// leading dimensions lda, ldb, ldc (see the package doc). With beta = 0, C
// is only written. C must not overlap A, B or ep's slices.
//
// It returns an error wrapping ErrDims, ErrStride or ErrLength for
// inconsistent arguments, ErrClosed after Close; nothing is written then.
func (c *Context) Sgemm(tA, tB Transpose, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, cm []float32, ldc int, ep *Epilogue) error {
	e := c.e
	if e.closed {
		return ErrClosed
	}
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("%w: M, N, K = %d, %d, %d", ErrDims, m, n, k)
	}
	aRows, aCols := m, k
	if tA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if tB {
		bRows, bCols = n, k
	}
	var epi Epilogue
	if ep != nil {
		epi = *ep
	}
	if err := checkMatrix("A", a, aRows, aCols, lda); err != nil {
		return err
	}
	if err := checkMatrix("B", b, bRows, bCols, ldb); err != nil {
		return err
	}
	if err := checkMatrix("C", cm, m, n, ldc); err != nil {
		return err
	}
	if epi.Mask != nil {
		if err := checkMatrix("Mask", epi.Mask, m, n, epi.LDMask); err != nil {
			return err
		}
	}
	if epi.Bias != nil && len(epi.Bias) < n {
		return fmt.Errorf("%w: Bias has %d values, N = %d", ErrLength, len(epi.Bias), n)
	}
	if epi.ColSum != nil && len(epi.ColSum) < n {
		return fmt.Errorf("%w: ColSum has %d values, N = %d", ErrLength, len(epi.ColSum), n)
	}
	if n == 0 {
		return nil
	}
	if m == 0 {
		clear(epi.ColSum[:min(len(epi.ColSum), n)])
		return nil
	}

	ks := kernelSets[active()]
	j := &e.gemm
	*j = gemmJob{
		e: e, ks: ks, tA: tA, tB: tB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: cm, ldc: ldc, ep: epi,
	}
	if alpha == 0 {
		j.k = 0 // C = beta·C: do not read A and B
	}
	// Split the larger of M and N into runs of whole tiles.
	nt := e.threads
	if work := m * n * max(j.k, 1); work < nt*minWorkPerThread {
		nt = max(1, work/minWorkPerThread)
	}
	j.splitM = m >= n
	size, unit := n, ks.nr
	if j.splitM {
		size, unit = m, ks.mr
	}
	units := (size + unit - 1) / unit
	nt = min(nt, units)
	j.chunk = (units + nt - 1) / nt * unit
	nt = (size + j.chunk - 1) / j.chunk
	e.parallel(j, nt)
	if j.splitM && nt > 1 && epi.ColSum != nil {
		cs := epi.ColSum[:n]
		for t := 1; t < nt; t++ {
			for i, v := range e.ws[t].colsum[:n] {
				cs[i] += v
			}
		}
	}
	j.a, j.b, j.c, j.ep = nil, nil, nil, Epilogue{} // do not keep the caller's buffers
	return nil
}

// checkMatrix checks that x holds a rows×cols matrix with leading
// dimension ld.
func checkMatrix(name string, x []float32, rows, cols, ld int) error {
	if ld < max(cols, 1) {
		return fmt.Errorf("%w: %s is %d×%d with leading dimension %d", ErrStride, name, rows, cols, ld)
	}
	if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		return fmt.Errorf("%w: %s is %d×%d with leading dimension %d: needs %d values, has %d",
			ErrLength, name, rows, cols, ld, (rows-1)*ld+cols, len(x))
	}
	return nil
}

// gemmJob is one Sgemm call, split over threads by runs of chunk rows
// (splitM) or columns.
type gemmJob struct {
	e       *engine
	ks      *kernelSet
	tA, tB  Transpose
	m, n, k int
	alpha   float32
	a       []float32
	lda     int
	b       []float32
	ldb     int
	beta    float32
	c       []float32
	ldc     int
	ep      Epilogue
	splitM  bool
	chunk   int
}

func (j *gemmJob) run(tid, nt int) {
	w := j.e.ws[tid]
	lo := tid * j.chunk
	if j.splitM {
		hi := min(lo+j.chunk, j.m)
		colsum := j.ep.ColSum
		if colsum != nil {
			if tid > 0 {
				w.colsum = grow(w.colsum, j.n)
				colsum = w.colsum
			}
			clear(colsum[:j.n])
		}
		w.gemm(j, lo, hi, 0, j.n, colsum)
		return
	}
	hi := min(lo+j.chunk, j.n)
	if j.ep.ColSum != nil {
		clear(j.ep.ColSum[lo:hi])
	}
	w.gemm(j, 0, j.m, lo, hi, j.ep.ColSum)
}

// gemm computes rows [m0, m1) and columns [n0, n1) of C; colsum (indexed
// by column, zeroed) receives their column sums if the epilogue asks.
func (w *workspace) gemm(j *gemmJob, m0, m1, n0, n1 int, colsum []float32) {
	ks := j.ks
	MR, NR := ks.mr, ks.nr
	if j.beta != 0 && j.beta != 1 {
		for i := m0; i < m1; i++ {
			r := j.c[i*j.ldc+n0 : i*j.ldc+n1]
			for q := range r {
				r[q] *= j.beta
			}
		}
	}
	var epFlags int
	if j.ep.Bias != nil {
		epFlags |= flagBias
	}
	if j.ep.ReLU {
		epFlags |= flagReLU
	}
	if j.ep.Mask != nil {
		epFlags |= flagMask
	}
	if colsum != nil {
		epFlags |= flagColSum
	}
	t := &w.t
	for jc := n0; jc < n1; jc += ncBlock {
		nc := min(ncBlock, n1-jc)
		for pc := 0; ; pc += kcBlock {
			kc := min(kcBlock, j.k-pc)
			last := pc+kc >= j.k
			flags := 0
			if pc > 0 || j.beta != 0 {
				flags |= flagAccumulate
			}
			if j.alpha != 1 {
				flags |= flagAlpha
			}
			if last {
				flags |= epFlags
			}
			// B: packed when transposed, else in place (AVX2: pack the
			// panel narrower than NR).
			packedB := bool(j.tB)
			if packedB {
				w.packBT(j, pc, kc, jc, nc, NR)
			} else if !ks.maskedB && nc%NR != 0 && kc > 0 {
				w.packBEdge(j, pc, kc, jc+nc-nc%NR, nc%NR, NR)
			}
			for ic := m0; ic < m1; ic += mcBlock {
				mc := min(mcBlock, m1-ic)
				full := mc - mc%MR // rows in whole MR panels
				if full < mc && kc > 0 {
					w.packAEdge(j, pc, kc, ic+full, mc-full, MR)
				}
				for jr := 0; jr < nc; jr += NR {
					nr := min(NR, nc-jr)
					t.b, t.bStride = nil, 0
					if kc > 0 {
						switch {
						case packedB:
							t.b, t.bStride = &w.bpack[jr*kc], NR
						case nr < NR && !ks.maskedB:
							t.b, t.bStride = &w.bpack[0], NR
						default:
							t.b, t.bStride = &j.b[pc*j.ldb+jc+jr], j.ldb
						}
					}
					for ir := 0; ir < mc; ir += MR {
						i := ic + ir
						t.kc, t.mr, t.nr, t.flags, t.alpha = kc, min(MR, mc-ir), nr, flags, j.alpha
						t.c, t.ldc = &j.c[i*j.ldc+jc+jr], j.ldc
						if flags&flagBias != 0 {
							t.bias = &j.ep.Bias[jc+jr]
						}
						if flags&flagMask != 0 {
							t.mask, t.ldm = &j.ep.Mask[i*j.ep.LDMask+jc+jr], j.ep.LDMask
						}
						if flags&flagColSum != 0 {
							t.colsum = &colsum[jc+jr]
						}
						kern := ks.p
						switch {
						case kc == 0:
							t.a, t.aStride = nil, 0
						case ir >= full:
							t.a, t.aStride = &w.apack[0], MR
						case bool(j.tA):
							t.a, t.aStride = &j.a[pc*j.lda+i], j.lda
						default:
							t.a, t.aStride, kern = &j.a[i*j.lda+pc], j.lda, ks.r
						}
						kern(t)
					}
				}
			}
			if last {
				break
			}
		}
	}
	*t = tile{} // do not keep the caller's buffers
}

// packAEdge packs rows [i0, i0+mr) (mr < MR) and columns [pc, pc+kc) of
// op(A) into w.apack, p-major and zero-padded to MR rows.
func (w *workspace) packAEdge(j *gemmJob, pc, kc, i0, mr, MR int) {
	w.apack = grow(w.apack, kc*MR)
	ap := w.apack
	clear(ap)
	for r := range mr {
		i := i0 + r
		if bool(j.tA) {
			for p := range kc {
				ap[p*MR+r] = j.a[(pc+p)*j.lda+i]
			}
		} else {
			for p, v := range j.a[i*j.lda+pc : i*j.lda+pc+kc] {
				ap[p*MR+r] = v
			}
		}
	}
}

// packBT packs rows [pc, pc+kc) and columns [jc, jc+nc) of op(B) = Bᵀ into
// NR-wide p-major panels (panel q at q·NR·kc), zero-padded to NR columns.
func (w *workspace) packBT(j *gemmJob, pc, kc, jc, nc, NR int) {
	panels := (nc + NR - 1) / NR
	w.bpack = grow(w.bpack, panels*NR*kc)
	bp := w.bpack
	for q := range panels {
		panel := bp[q*NR*kc : (q+1)*NR*kc]
		cols := min(NR, nc-q*NR)
		if cols < NR {
			clear(panel)
		}
		for jj := range cols {
			src := j.b[(jc+q*NR+jj)*j.ldb+pc:][:kc]
			for p, v := range src {
				panel[p*NR+jj] = v
			}
		}
	}
}

// packBEdge packs rows [pc, pc+kc) and columns [j0, j0+nr) (nr < NR) of a
// row-major op(B) into w.bpack, zero-padded to NR columns.
func (w *workspace) packBEdge(j *gemmJob, pc, kc, j0, nr, NR int) {
	w.bpack = grow(w.bpack, kc*NR)
	bp := w.bpack
	for p := range kc {
		dst := bp[p*NR : (p+1)*NR]
		copy(dst, j.b[(pc+p)*j.ldb+j0:][:nr])
		clear(dst[nr:])
	}
}
