package gemm

import "fmt"

// Pairs returns the number of pairs i < j of n vectors, n(n-1)/2: the
// width of a PairDots output row.
func Pairs(n int) int { return n * (n - 1) / 2 }

// pairOff returns the index of pair (i, i+1) in the row-major upper
// triangle of n vectors; pair (i, j > i) is at pairOff(n, i) + j-i-1.
func pairOff(n, i int) int { return i*(n-1) - i*(i-1)/2 }

// pairEntry is the assembly kernels' view of vector i: off is the byte
// offset from a z row of the (virtual) pair (i, 0), 4·(pairOff(n, i)-i-1),
// so that pair (i, j) is at off + 4j; m1 and m2 mask the lanes j in [0, 16)
// and [16, 32) with i < j < n. The layout must match _asm/kernels.go.
type pairEntry struct {
	off    int64
	m1, m2 uint32
}

type pairTable [32]pairEntry

func (t *pairTable) fill(n int) {
	*t = pairTable{}
	for i := range min(n, len(t)) {
		var m uint32
		for j := i + 1; j < n; j++ {
			m |= 1 << j
		}
		t[i] = pairEntry{off: int64(4 * (pairOff(n, i) - i - 1)), m1: m & 0xffff, m2: m >> 16}
	}
}

// Limits of the assembly pair-dot kernels: vectors of 16 floats, up to 32
// of them forward (two 16-lane blocks of the Gram matrix) and 30 backward
// (all vectors in registers).
const (
	pairAsmDim           = 16
	pairAsmMaxN          = 32
	pairAsmMaxNGrad      = 30
	minRowsPerPairThread = 64
)

// PairDots computes DLRM's dot interaction for batch rows. Row b has n
// vectors of dim floats: v_0 = x[b·ldx:][:dim] and, for i ≥ 1,
// v_i = y[b·ldy+(i-1)·dim:][:dim] (so y holds the n-1 embedding vectors of
// an example back to back, and x can be a column range of a wider buffer).
// It writes the Pairs(n) dot products
//
//	z[b·ldz + k] = <v_i, v_j>
//
// for the pairs i < j in row-major upper-triangle order (k = 0 is (0, 1),
// like torch.triu_indices(n, n, 1)). z must not overlap x or y.
//
// It returns an error wrapping ErrDims, ErrStride or ErrLength for
// inconsistent arguments, ErrClosed after Close.
func (c *Context) PairDots(n, dim, batch int, x []float32, ldx int, y []float32, ldy int, z []float32, ldz int) error {
	e := c.e
	if e.closed {
		return ErrClosed
	}
	if err := checkPairArgs(n, dim, batch, x, ldx, y, ldy); err != nil {
		return err
	}
	if err := checkMatrix("z", z, batch, Pairs(n), ldz); err != nil {
		return err
	}
	if n < 2 || batch == 0 {
		return nil
	}
	j := &e.pair
	*j = pairJob{e: e, n: n, dim: dim, batch: batch, x: x, ldx: ldx, y: y, ldy: ldy, z: z, ldz: ldz}
	j.asm = hasPairDotsAsm(active()) && dim == pairAsmDim && n <= pairAsmMaxN
	e.runPair(j)
	return nil
}

// PairDotsGrad back-propagates PairDots: given dz = dL/dz (batch rows of
// Pairs(n) values, leading dimension ldz) and the same vectors, it computes
// dL/dv_i = Σ_{j≠i} dz_{pair(i,j)}·v_j. dL/dv_0 is added to
// dx[b·lddx:][:dim] (in DLRM v_0 also feeds the top MLP, whose gradient dx
// already holds); dL/dv_i for i ≥ 1 is written to dy[b·lddy+(i-1)·dim:]
// (overwritten). dx and dy must not overlap x, y or dz.
//
// Errors are as for PairDots.
func (c *Context) PairDotsGrad(n, dim, batch int, x []float32, ldx int, y []float32, ldy int,
	dz []float32, ldz int, dx []float32, lddx int, dy []float32, lddy int) error {
	e := c.e
	if e.closed {
		return ErrClosed
	}
	if err := checkPairArgs(n, dim, batch, x, ldx, y, ldy); err != nil {
		return err
	}
	if err := checkMatrix("dz", dz, batch, Pairs(n), ldz); err != nil {
		return err
	}
	if err := checkMatrix("dx", dx, batch, dim, lddx); err != nil {
		return err
	}
	if err := checkMatrix("dy", dy, batch, (n-1)*dim, lddy); err != nil {
		return err
	}
	if n < 2 || batch == 0 {
		return nil
	}
	j := &e.pair
	*j = pairJob{e: e, grad: true, n: n, dim: dim, batch: batch, x: x, ldx: ldx, y: y, ldy: ldy,
		z: dz, ldz: ldz, dx: dx, lddx: lddx, dy: dy, lddy: lddy}
	j.asm = hasPairDotsAsm(active()) && dim == pairAsmDim && n <= pairAsmMaxNGrad
	e.runPair(j)
	return nil
}

func checkPairArgs(n, dim, batch int, x []float32, ldx int, y []float32, ldy int) error {
	if n < 1 || dim < 1 || batch < 0 {
		return fmt.Errorf("%w: n, dim, batch = %d, %d, %d", ErrDims, n, dim, batch)
	}
	if err := checkMatrix("x", x, batch, dim, ldx); err != nil {
		return err
	}
	return checkMatrix("y", y, batch, (n-1)*dim, ldy)
}

func (e *engine) runPair(j *pairJob) {
	if j.asm {
		j.tab.fill(j.n)
	}
	nt := max(1, min(e.threads, j.batch/minRowsPerPairThread))
	j.chunk = (j.batch + nt - 1) / nt
	nt = (j.batch + j.chunk - 1) / j.chunk
	e.parallel(j, nt)
	j.x, j.y, j.z, j.dx, j.dy = nil, nil, nil, nil, nil
}

// pairJob is one PairDots (z) or PairDotsGrad (z is dz) call, split over
// threads by runs of chunk rows.
type pairJob struct {
	e             *engine
	grad, asm     bool
	n, dim, batch int
	x             []float32
	ldx           int
	y             []float32
	ldy           int
	z             []float32
	ldz           int
	dx            []float32
	lddx          int
	dy            []float32
	lddy          int
	tab           pairTable
	chunk         int
}

func (j *pairJob) run(tid, _ int) {
	lo := tid * j.chunk
	hi := min(lo+j.chunk, j.batch)
	if lo >= hi {
		return
	}
	w := j.e.ws[tid]
	switch {
	case j.asm && !j.grad:
		pairDotsAsm(j.n, hi-lo, &j.x[lo*j.ldx], j.ldx, &j.y[lo*j.ldy], j.ldy, &j.z[lo*j.ldz], j.ldz, &j.tab)
	case j.asm:
		clear(w.pairU[:])
		pairDotsGradAsm(j.n, hi-lo, &j.x[lo*j.ldx], j.ldx, &j.y[lo*j.ldy], j.ldy, &j.z[lo*j.ldz], j.ldz,
			&j.dx[lo*j.lddx], j.lddx, &j.dy[lo*j.lddy], j.lddy, &j.tab, &w.pairU)
	case !j.grad:
		for b := lo; b < hi; b++ {
			j.dotsRow(b)
		}
	default:
		w.vec = grow(w.vec, j.dim)
		for b := lo; b < hi; b++ {
			j.gradRow(b, w.vec)
		}
	}
}

// vector returns v_i of batch row b.
func (j *pairJob) vector(b, i int) []float32 {
	if i == 0 {
		return j.x[b*j.ldx:][:j.dim]
	}
	return j.y[b*j.ldy+(i-1)*j.dim:][:j.dim]
}

// dotsRow is the generic forward pass of row b.
func (j *pairJob) dotsRow(b int) {
	z := j.z[b*j.ldz:][:Pairs(j.n)]
	k := 0
	for i := range j.n {
		vi := j.vector(b, i)
		for jj := i + 1; jj < j.n; jj++ {
			vj := j.vector(b, jj)[:len(vi)]
			var s float32
			for d, v := range vi {
				s += v * vj[d]
			}
			z[k] = s
			k++
		}
	}
}

// gradRow is the generic backward pass of row b; acc is scratch of dim
// floats.
func (j *pairJob) gradRow(b int, acc []float32) {
	dz := j.z[b*j.ldz:][:Pairs(j.n)]
	for i := range j.n {
		clear(acc)
		for jj := range j.n {
			if jj == i {
				continue
			}
			var s float32
			if i < jj {
				s = dz[pairOff(j.n, i)+jj-i-1]
			} else {
				s = dz[pairOff(j.n, jj)+i-jj-1]
			}
			for d, v := range j.vector(b, jj)[:len(acc)] {
				acc[d] += s * v
			}
		}
		if i == 0 {
			dx := j.dx[b*j.lddx:][:len(acc)]
			for d, v := range acc {
				dx[d] += v
			}
		} else {
			copy(j.dy[b*j.lddy+(i-1)*j.dim:][:len(acc)], acc)
		}
	}
}
