package ttrec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var contractionShapes = []contraction{
	{d1: 4, d2: 1, d3: 4, r: 5},
	{d1: 2, d2: 2, d3: 2, r: 3},
	{d1: 1, d2: 3, d3: 2, r: 4},
	{d1: 2, d2: 1, d3: 2, r: 1},
	{d1: 3, d2: 2, d3: 1, r: 7},
}

func (k contraction) floats() int { return k.d1*k.r + k.r*k.d2*k.r + k.r*k.d3 }
func (k contraction) dim() int    { return k.d1 * k.d2 * k.d3 }

func randFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

// reference is the tensor-train product written as the plain quadruple
// sum, in float64.
func (k contraction) reference(rows []float32) []float64 {
	g1, g2, g3 := k.split(rows)
	out := make([]float64, k.dim())
	for a := range k.d1 {
		for b := range k.d2 {
			for c := range k.d3 {
				var s float64
				for p := range k.r {
					for q := range k.r {
						s += float64(g1[a*k.r+p]) * float64(g2[(p*k.d2+b)*k.r+q]) * float64(g3[q*k.d3+c])
					}
				}
				out[(a*k.d2+b)*k.d3+c] = s
			}
		}
	}
	return out
}

func TestComputeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range contractionShapes {
		t.Run(fmt.Sprintf("%dx%dx%d/r%d", k.d1, k.d2, k.d3, k.r), func(t *testing.T) {
			rows := randFloats(rng, k.floats())
			out := make([]float32, k.dim())
			k.Compute(0, rows, out)
			for i, want := range k.reference(rows) {
				if math.Abs(float64(out[i])-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("out[%d] = %v, want %v", i, out[i], want)
				}
			}
		})
	}
}

// TestBackwardNumerical checks Backward against central differences of
// L(rows) = dout · Compute(rows). L is linear in each single entry of the
// rows (an entry appears at most once in each product term), so the
// difference with a step of 1 is exact up to the float32 rounding of
// Compute.
func TestBackwardNumerical(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range contractionShapes {
		t.Run(fmt.Sprintf("%dx%dx%d/r%d", k.d1, k.d2, k.d3, k.r), func(t *testing.T) {
			rows := randFloats(rng, k.floats())
			dout := randFloats(rng, k.dim())
			drows := make([]float32, len(rows))
			for i := range drows {
				drows[i] = 99 // Backward must overwrite, not add
			}
			k.Backward(0, rows, dout, drows)
			out := make([]float32, k.dim())
			loss := func() float64 {
				k.Compute(0, rows, out)
				var s float64
				for i, g := range dout {
					s += float64(g) * float64(out[i])
				}
				return s
			}
			const h = 1
			for j := range rows {
				x := rows[j]
				rows[j] = x + h
				lp := loss()
				rows[j] = x - h
				lm := loss()
				rows[j] = x
				num := (lp - lm) / (2 * h)
				if math.Abs(num-float64(drows[j])) > 1e-4*(1+math.Abs(num)) {
					t.Fatalf("d rows[%d] = %v, finite differences %v", j, drows[j], num)
				}
			}
		})
	}
}

func TestRowWidth(t *testing.T) {
	for _, c := range []struct {
		dim  int
		d    [3]int
		r, w int
	}{
		{16, [3]int{4, 1, 4}, 8, 16},  // slices 32, 64, 32
		{16, [3]int{4, 1, 4}, 6, 12},  // 24, 36, 24
		{16, [3]int{4, 1, 4}, 7, 7},   // 28, 49, 28
		{4, [3]int{2, 1, 2}, 16, 4},   // 32, 256, 32: capped at dim
		{8, [3]int{2, 2, 2}, 3, 6},    // 6, 18, 6
		{10, [3]int{1, 10, 1}, 3, 3},  // 3, 90, 3
		{16, [3]int{4, 1, 4}, 1, 1},   // 4, 1, 4
		{32, [3]int{4, 2, 4}, 8, 32},  // 32, 128, 32
		{64, [3]int{8, 1, 8}, 12, 48}, // 96, 144, 96
	} {
		if got := rowWidth(c.dim, c.d, c.r); got != c.w {
			t.Errorf("rowWidth(%d, %v, %d) = %d, want %d", c.dim, c.d, c.r, got, c.w)
		}
	}
}

func TestDefaultDimsAndCoreRows(t *testing.T) {
	for dim, want := range map[int][3]int{16: {4, 1, 4}, 8: {2, 2, 2}, 32: {4, 2, 4}, 64: {8, 1, 8}, 4: {2, 1, 2}, 12: {2, 3, 2}, 7: {1, 7, 1}, 1: {1, 1, 1}} {
		if got := DefaultDims(dim); got != want {
			t.Errorf("DefaultDims(%d) = %v, want %v", dim, got, want)
		}
	}
	for _, n := range []int64{0, 1, 2, 7, 8, 9, 1000, 1001, 12345, 1 << 20, 10_000_000} {
		c := CoreRows(n)
		space := int64(c[0]) * int64(c[1]) * int64(c[2])
		if space < max(n, 1) {
			t.Errorf("CoreRows(%d) = %v: space %d < n", n, c, space)
		}
		if c[1] > c[0] || c[1] > c[2] {
			t.Errorf("CoreRows(%d) = %v: the middle core is not the smallest", n, c)
		}
		if n >= 1000 && float64(space) > 1.1*float64(n) {
			t.Errorf("CoreRows(%d) = %v: space %d wastes more than 10%%", n, c, space)
		}
	}
}
