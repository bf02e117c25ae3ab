package gemm_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/kernels/gemm"
)

// pairCase is one PairDots problem: batch rows of n vectors of dim floats,
// every buffer wider than its row by pad.
type pairCase struct {
	n, dim, batch, pad int
	x, y, dz, dx0      []float32
	ldx, ldy, ldz, ldd int
}

func newPairCase(rng *rand.Rand, n, dim, batch, pad int) *pairCase {
	c := &pairCase{n: n, dim: dim, batch: batch, pad: pad}
	c.ldx, c.ldy, c.ldz = dim+pad, (n-1)*dim+pad, gemm.Pairs(n)+pad
	c.ldd = max(c.ldy, 1)
	c.ldy = max(c.ldy, 1)
	c.ldz = max(c.ldz, 1)
	c.x = randSlice(rng, batch*c.ldx)
	c.y = randSlice(rng, batch*c.ldy)
	c.dz = randSlice(rng, batch*c.ldz)
	c.dx0 = randSlice(rng, batch*c.ldx)
	return c
}

func (c *pairCase) String() string { return fmt.Sprintf("n=%d/dim=%d/batch=%d", c.n, c.dim, c.batch) }

func (c *pairCase) vec(b, i int) []float32 {
	if i == 0 {
		return c.x[b*c.ldx:][:c.dim]
	}
	return c.y[b*c.ldy+(i-1)*c.dim:][:c.dim]
}

// reference returns z, dx (dx0 plus dv_0) and dy in float64 with error
// bounds.
func (c *pairCase) reference() (z, zb, dx, dxb, dy, dyb []float64) {
	const u = 1.0 / (1 << 23)
	P := gemm.Pairs(c.n)
	z, zb = make([]float64, c.batch*P), make([]float64, c.batch*P)
	dx, dxb = make([]float64, c.batch*c.dim), make([]float64, c.batch*c.dim)
	dy, dyb = make([]float64, c.batch*(c.n-1)*c.dim), make([]float64, c.batch*(c.n-1)*c.dim)
	for b := range c.batch {
		pair := func(i, j int) float64 {
			if i > j {
				i, j = j, i
			}
			k := i*(c.n-1) - i*(i-1)/2 + j - i - 1
			return float64(c.dz[b*c.ldz+k])
		}
		k := 0
		for i := range c.n {
			for j := i + 1; j < c.n; j++ {
				var s, abs float64
				for d := range c.dim {
					p := float64(c.vec(b, i)[d]) * float64(c.vec(b, j)[d])
					s, abs = s+p, abs+math.Abs(p)
				}
				z[b*P+k], zb[b*P+k] = s, float64(c.dim+2)*u*abs
				k++
			}
		}
		for i := range c.n {
			for d := range c.dim {
				var s, abs float64
				if i == 0 {
					s = float64(c.dx0[b*c.ldx+d])
					abs = math.Abs(s)
				}
				for j := range c.n {
					if j != i {
						p := pair(i, j) * float64(c.vec(b, j)[d])
						s, abs = s+p, abs+math.Abs(p)
					}
				}
				bound := float64(c.n+3) * u * abs
				if i == 0 {
					dx[b*c.dim+d], dxb[b*c.dim+d] = s, bound
				} else {
					o := b*(c.n-1)*c.dim + (i-1)*c.dim + d
					dy[o], dyb[o] = s, bound
				}
			}
		}
	}
	return
}

func TestPairDots(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cases []*pairCase
	for _, n := range []int{1, 2, 3, 15, 16, 17, 27, 30, 31, 32, 33} {
		for _, dim := range []int{16, 3} {
			cases = append(cases, newPairCase(rng, n, dim, 1+rng.IntN(9), rng.IntN(2)*5))
		}
	}
	cases = append(cases, newPairCase(rng, 27, 16, 300, 0), newPairCase(rng, 27, 16, 257, 3))
	for _, impl := range gemm.Impls() {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", impl, threads), func(t *testing.T) {
				useImpl(t, impl)
				ctx := gemm.NewContext(threads)
				defer ctx.Close()
				for _, c := range cases {
					checkPairCase(t, ctx, c)
				}
			})
		}
	}
}

func checkPairCase(t *testing.T, ctx *gemm.Context, c *pairCase) {
	t.Helper()
	P := gemm.Pairs(c.n)
	z0, zb, dx0, dxb, dy0, dyb := c.reference()
	nan := float32(math.NaN())
	z := make([]float32, c.batch*c.ldz)
	for i := range z {
		z[i] = nan
	}
	if err := ctx.PairDots(c.n, c.dim, c.batch, c.x, c.ldx, c.y, c.ldy, z, c.ldz); err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	errs := 0
	cmp := func(what string, got float32, want, bound float64) {
		if !(math.Abs(float64(got)-want) <= bound) {
			t.Errorf("%v: %s = %v, want %v ± %.3g", c, what, got, want, bound)
			if errs++; errs > 5 {
				t.FailNow()
			}
		}
	}
	for b := range c.batch {
		for k := range c.ldz {
			if k >= P {
				if !math.IsNaN(float64(z[b*c.ldz+k])) && c.n > 1 {
					t.Errorf("%v: z padding [%d][%d] written", c, b, k)
				}
				continue
			}
			cmp(fmt.Sprintf("z[%d][%d]", b, k), z[b*c.ldz+k], z0[b*P+k], zb[b*P+k])
		}
	}
	dx := append([]float32(nil), c.dx0...)
	dy := make([]float32, c.batch*c.ldd)
	for i := range dy {
		dy[i] = nan
	}
	if err := ctx.PairDotsGrad(c.n, c.dim, c.batch, c.x, c.ldx, c.y, c.ldy, c.dz, c.ldz, dx, c.ldx, dy, c.ldd); err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	W := (c.n - 1) * c.dim
	for b := range c.batch {
		for d := range c.ldx {
			if d >= c.dim {
				if dx[b*c.ldx+d] != c.dx0[b*c.ldx+d] {
					t.Errorf("%v: dx padding [%d][%d] written", c, b, d)
				}
				continue
			}
			cmp(fmt.Sprintf("dx[%d][%d]", b, d), dx[b*c.ldx+d], dx0[b*c.dim+d], dxb[b*c.dim+d])
		}
		for q := range c.ldd {
			if q >= W {
				if !math.IsNaN(float64(dy[b*c.ldd+q])) {
					t.Errorf("%v: dy padding [%d][%d] written", c, b, q)
				}
				continue
			}
			cmp(fmt.Sprintf("dy[%d][%d]", b, q), dy[b*c.ldd+q], dy0[b*W+q], dyb[b*W+q])
		}
	}
}

func TestPairDotsNoAllocs(t *testing.T) {
	ctx := gemm.NewContext(2)
	defer ctx.Close()
	c := newPairCase(rand.New(rand.NewPCG(1, 1)), 27, 16, 512, 0)
	z := make([]float32, c.batch*c.ldz)
	dx, dy := make([]float32, len(c.x)), make([]float32, len(c.y))
	call := func() {
		if err := ctx.PairDots(c.n, c.dim, c.batch, c.x, c.ldx, c.y, c.ldy, z, c.ldz); err != nil {
			t.Fatal(err)
		}
		if err := ctx.PairDotsGrad(c.n, c.dim, c.batch, c.x, c.ldx, c.y, c.ldy, c.dz, c.ldz, dx, c.ldx, dy, c.ldy); err != nil {
			t.Fatal(err)
		}
	}
	call()
	if n := testing.AllocsPerRun(10, call); n != 0 {
		t.Errorf("PairDots+PairDotsGrad allocate %.1f times per call", n)
	}
}

func TestPairDotsErrors(t *testing.T) {
	ctx := gemm.NewContext(1)
	buf := make([]float32, 1000)
	if err := ctx.PairDots(0, 16, 1, buf, 16, buf, 16, buf, 1); !errors.Is(err, gemm.ErrDims) {
		t.Errorf("n=0: got %v", err)
	}
	if err := ctx.PairDots(3, 4, 2, buf, 3, buf, 8, buf, 3); !errors.Is(err, gemm.ErrStride) {
		t.Errorf("ldx: got %v", err)
	}
	if err := ctx.PairDots(3, 4, 2, buf, 4, buf[:10], 8, buf, 3); !errors.Is(err, gemm.ErrLength) {
		t.Errorf("short y: got %v", err)
	}
	if err := ctx.PairDotsGrad(3, 4, 2, buf, 4, buf, 8, buf, 3, buf, 4, buf[:9], 8); !errors.Is(err, gemm.ErrLength) {
		t.Errorf("short dy: got %v", err)
	}
	ctx.Close()
	if err := ctx.PairDots(3, 4, 2, buf, 4, buf, 8, buf, 3); !errors.Is(err, gemm.ErrClosed) {
		t.Errorf("closed: got %v", err)
	}
}
