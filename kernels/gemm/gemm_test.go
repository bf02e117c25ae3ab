package gemm_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/kernels/gemm"
)

// useImpl makes the kernels use the implementation name until the test
// ends, by disabling the faster ones.
func useImpl(t testing.TB, name string) {
	t.Helper()
	switch name {
	case "avx512":
	case "avx2":
		t.Cleanup(gemm.DisableAVX512())
	case "generic":
		t.Cleanup(gemm.DisableAVX512())
		t.Cleanup(gemm.DisableAVX2())
	default:
		t.Fatalf("unknown impl %q", name)
	}
	if got := gemm.Impl(); got != name {
		t.Fatalf("Impl() = %q, want %q", got, name)
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// problem is one Sgemm call with its inputs.
type problem struct {
	tA, tB      gemm.Transpose
	m, n, k     int
	alpha, beta float32
	a, b, c0    []float32
	lda, ldb    int
	ldc         int
	ep          gemm.Epilogue
}

func (p *problem) name() string {
	return fmt.Sprintf("%v%v/%dx%dx%d", p.tA, p.tB, p.m, p.k, p.n)
}

// newProblem draws the operands of an m×k by k×n product; pad > 0 makes
// every leading dimension wider than its rows; ep selects epilogues.
func newProblem(rng *rand.Rand, tA, tB gemm.Transpose, m, n, k, pad int, alpha, beta float32, bias, relu, mask, colsum bool) *problem {
	p := &problem{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	aRows, aCols := m, k
	if tA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if tB {
		bRows, bCols = n, k
	}
	p.lda, p.ldb, p.ldc = max(aCols, 1)+pad, max(bCols, 1)+pad, max(n, 1)+pad
	p.a = randSlice(rng, aRows*p.lda)
	p.b = randSlice(rng, bRows*p.ldb)
	p.c0 = randSlice(rng, m*p.ldc)
	if bias {
		p.ep.Bias = randSlice(rng, n)
	}
	p.ep.ReLU = relu
	if mask {
		p.ep.LDMask = max(n, 1) + pad
		p.ep.Mask = randSlice(rng, m*p.ep.LDMask)
	}
	if colsum {
		p.ep.ColSum = make([]float32, n)
	}
	return p
}

// reference returns C and its column sums computed in float64, with
// per-value error bounds for float32 arithmetic.
func (p *problem) reference() (c, cBound, colsum, csBound []float64) {
	a := func(i, q int) float64 {
		if p.tA {
			return float64(p.a[q*p.lda+i])
		}
		return float64(p.a[i*p.lda+q])
	}
	b := func(q, j int) float64 {
		if p.tB {
			return float64(p.b[j*p.ldb+q])
		}
		return float64(p.b[q*p.ldb+j])
	}
	const u = 1.0 / (1 << 23)
	c = make([]float64, p.m*p.n)
	cBound = make([]float64, p.m*p.n)
	colsum = make([]float64, p.n)
	csBound = make([]float64, p.n)
	for i := range p.m {
		for j := range p.n {
			var s, abs float64
			for q := range p.k {
				s += a(i, q) * b(q, j)
				abs += math.Abs(a(i, q) * b(q, j))
			}
			alpha := float64(p.alpha)
			v := alpha * s
			scale := math.Abs(alpha) * abs
			if p.beta != 0 {
				c0 := float64(p.beta) * float64(p.c0[i*p.ldc+j])
				v += c0
				scale += math.Abs(c0)
			}
			if p.ep.Bias != nil {
				v += float64(p.ep.Bias[j])
				scale += math.Abs(float64(p.ep.Bias[j]))
			}
			bound := float64(p.k+4)*u*scale + 1e-30
			if p.ep.ReLU {
				v = max(v, 0)
			}
			if p.ep.Mask != nil && !(p.ep.Mask[i*p.ep.LDMask+j] > 0) {
				v, bound = 0, 0
			}
			c[i*p.n+j], cBound[i*p.n+j] = v, bound
			colsum[j] += v
			csBound[j] += bound + float64(p.m)*u*math.Abs(v)
		}
	}
	return c, cBound, colsum, csBound
}

// run calls Sgemm on a copy of C and returns it.
func (p *problem) run(t testing.TB, ctx *gemm.Context) []float32 {
	t.Helper()
	c := append([]float32(nil), p.c0...)
	if p.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN()) // must not be read
		}
	}
	if p.ep.ColSum != nil {
		for i := range p.ep.ColSum {
			p.ep.ColSum[i] = float32(math.NaN()) // must be overwritten
		}
	}
	if err := ctx.Sgemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc, &p.ep); err != nil {
		t.Fatalf("%s: %v", p.name(), err)
	}
	return c
}

// check compares the result of run with the reference, and that the
// padding of C was left alone.
func (p *problem) check(t testing.TB, got []float32, ref, bound, cs, csBound []float64) {
	t.Helper()
	bad := 0
	for i := range p.m {
		for j := range p.ldc {
			g := float64(got[i*p.ldc+j])
			if j >= p.n {
				if orig := p.c0[i*p.ldc+j]; got[i*p.ldc+j] != orig && !(p.beta == 0 && math.IsNaN(g)) {
					t.Errorf("%s: padding C[%d][%d] changed to %v", p.name(), i, j, g)
					bad++
				}
				continue
			}
			if w := ref[i*p.n+j]; !(math.Abs(g-w) <= bound[i*p.n+j]) {
				t.Errorf("%s: C[%d][%d] = %v, want %v ± %.3g", p.name(), i, j, g, w, bound[i*p.n+j])
				bad++
			}
			if bad > 5 {
				t.FailNow()
			}
		}
	}
	if p.ep.ColSum != nil {
		for j := range p.n {
			if g := float64(p.ep.ColSum[j]); !(math.Abs(g-cs[j]) <= csBound[j]) {
				t.Errorf("%s: ColSum[%d] = %v, want %v ± %.3g", p.name(), j, g, cs[j], csBound[j])
			}
		}
	}
}

var ops = []struct{ tA, tB gemm.Transpose }{
	{gemm.NoTrans, gemm.NoTrans}, {gemm.NoTrans, gemm.Trans}, {gemm.Trans, gemm.NoTrans}, {gemm.Trans, gemm.Trans},
}

// TestSgemm compares every implementation, on 1 and 2 threads, with the
// float64 reference on random shapes around the register tiles and the
// cache blocks, with and without padding, alpha, beta and epilogues.
func TestSgemm(t *testing.T) {
	defer gemm.SetMinWorkPerThread(1)()
	rng := rand.New(rand.NewPCG(1, 2))
	dims := []int{1, 2, 3, 5, 6, 7, 13, 14, 15, 16, 17, 31, 32, 33, 47, 100, 169, 257, 300}
	var probs []*problem
	for _, mnk := range [][3]int{{1, 1, 1}, {3, 7, 5}, {0, 4, 3}, {4, 0, 3}, {4, 3, 0}, {168, 33, 257}} {
		for _, op := range ops {
			probs = append(probs, newProblem(rng, op.tA, op.tB, mnk[0], mnk[1], mnk[2], 0, 1, 0, false, false, false, false))
		}
	}
	for range 60 {
		op := ops[rng.IntN(len(ops))]
		m, n, k := dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))]
		alpha := []float32{1, 1, -0.5, 0}[rng.IntN(4)]
		beta := []float32{0, 0, 1, 0.75}[rng.IntN(4)]
		probs = append(probs, newProblem(rng, op.tA, op.tB, m, n, k, rng.IntN(3)*3, alpha, beta,
			rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(3) == 0, rng.IntN(2) == 0))
	}
	type result struct{ c, cb, cs, csb []float64 }
	refs := make([]result, len(probs))
	for i, p := range probs {
		refs[i].c, refs[i].cb, refs[i].cs, refs[i].csb = p.reference()
	}
	for _, impl := range gemm.Impls() {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", impl, threads), func(t *testing.T) {
				useImpl(t, impl)
				ctx := gemm.NewContext(threads)
				defer ctx.Close()
				for i, p := range probs {
					r := refs[i]
					p.check(t, p.run(t, ctx), r.c, r.cb, r.cs, r.csb)
				}
			})
		}
	}
}

// TestSgemmLarge checks the MLP shapes of dlrm-small (and a transposed
// one), where the blocking and the thread split matter.
func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large products")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var probs []*problem
	for _, s := range []struct {
		tA, tB  gemm.Transpose
		m, k, n int
		relu    bool
	}{
		{gemm.NoTrans, gemm.NoTrans, 2048, 367, 256, true},
		{gemm.NoTrans, gemm.Trans, 2048, 256, 367, false},
		{gemm.Trans, gemm.NoTrans, 367, 2048, 256, false},
		{gemm.NoTrans, gemm.NoTrans, 367, 256, 2048, false},
	} {
		probs = append(probs, newProblem(rng, s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0, s.relu, s.relu, !s.relu, true))
	}
	for _, p := range probs {
		c, cb, cs, csb := p.reference()
		for _, impl := range gemm.Impls() {
			t.Run(impl+"/"+p.name(), func(t *testing.T) {
				useImpl(t, impl)
				ctx := gemm.NewContext(2)
				defer ctx.Close()
				p.check(t, p.run(t, ctx), c, cb, cs, csb)
			})
		}
	}
}

// TestSgemmThreadsAgree checks that C does not depend on the thread count
// (each value is summed in the same order whatever the split).
func TestSgemmThreadsAgree(t *testing.T) {
	defer gemm.SetMinWorkPerThread(1)()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, impl := range gemm.Impls() {
		t.Run(impl, func(t *testing.T) {
			useImpl(t, impl)
			for _, op := range ops {
				p := newProblem(rng, op.tA, op.tB, 301, 77, 263, 1, 1, 0, true, true, false, false)
				one, two := gemm.NewContext(1), gemm.NewContext(2)
				c1, c2 := p.run(t, one), p.run(t, two)
				one.Close()
				two.Close()
				for i := range c1 {
					if c1[i] != c2[i] && !(math.IsNaN(float64(c1[i])) && math.IsNaN(float64(c2[i]))) {
						t.Fatalf("%s: C[%d] = %v on 1 thread, %v on 2", p.name(), i, c1[i], c2[i])
					}
				}
			}
		})
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ctx := gemm.NewContext(2)
	defer ctx.Close()
	p := newProblem(rng, gemm.NoTrans, gemm.Trans, 200, 150, 300, 0, 1, 0, true, true, false, true)
	c := make([]float32, len(p.c0))
	call := func() {
		if err := ctx.Sgemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc, &p.ep); err != nil {
			t.Fatal(err)
		}
	}
	call()
	if n := testing.AllocsPerRun(20, call); n != 0 {
		t.Errorf("Sgemm allocates %.1f times per call", n)
	}
}

func TestSgemmErrors(t *testing.T) {
	ctx := gemm.NewContext(1)
	buf := make([]float32, 100)
	for _, tc := range []struct {
		name        string
		m, n, k     int
		a, b, c     []float32
		lda, ldb, l int
		ep          *gemm.Epilogue
		want        error
	}{
		{"negative", -1, 2, 2, buf, buf, buf, 2, 2, 2, nil, gemm.ErrDims},
		{"lda", 3, 4, 5, buf, buf, buf, 4, 4, 4, nil, gemm.ErrStride},
		{"ldc", 3, 4, 5, buf, buf, buf, 5, 4, 3, nil, gemm.ErrStride},
		{"short A", 3, 4, 5, buf[:14], buf, buf, 5, 4, 4, nil, gemm.ErrLength},
		{"short C", 3, 4, 5, buf, buf, buf[:11], 5, 4, 4, nil, gemm.ErrLength},
		{"short bias", 3, 4, 5, buf, buf, buf, 5, 4, 4, &gemm.Epilogue{Bias: buf[:3]}, gemm.ErrLength},
		{"short mask", 3, 4, 5, buf, buf, buf, 5, 4, 4, &gemm.Epilogue{Mask: buf[:8], LDMask: 4}, gemm.ErrLength},
		{"mask stride", 3, 4, 5, buf, buf, buf, 5, 4, 4, &gemm.Epilogue{Mask: buf, LDMask: 3}, gemm.ErrStride},
		{"short colsum", 3, 4, 5, buf, buf, buf, 5, 4, 4, &gemm.Epilogue{ColSum: buf[:2]}, gemm.ErrLength},
	} {
		if err := ctx.Sgemm(gemm.NoTrans, gemm.NoTrans, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.l, tc.ep); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	ctx.Close()
	if err := ctx.Sgemm(gemm.NoTrans, gemm.NoTrans, 1, 1, 1, 1, buf, 1, buf, 1, 0, buf, 1, nil); !errors.Is(err, gemm.ErrClosed) {
		t.Errorf("closed: got %v", err)
	}
}
