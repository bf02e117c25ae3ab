package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ZipfMandelbrot is the law P(k) ∝ (k+Q)^-S over the ranks k = 1..N, with
// any exponent S > 0 (math/rand's Zipf needs S > 1, and a field whose
// vocabulary keeps growing over 45M rows needs S near or below 1 on a
// finite support). Its zero value is not usable: see NewZipfMandelbrot.
type ZipfMandelbrot struct {
	S, Q float64
	N    uint64

	hx1, hxN float64 // the bounds of the inverted integral, see Sample
}

// NewZipfMandelbrot checks the parameters and precomputes the sampler's
// bounds.
func NewZipfMandelbrot(s, q float64, n uint64) (*ZipfMandelbrot, error) {
	if !(s > 0) || math.IsInf(s, 0) || !(q >= 0) || math.IsInf(q, 0) || n < 1 {
		return nil, fmt.Errorf("zipf-mandelbrot: want s > 0, q >= 0, n >= 1; got s=%g q=%g n=%d", s, q, n)
	}
	z := &ZipfMandelbrot{S: s, Q: q, N: n}
	z.hx1 = z.hIntegral(1.5) - z.h(1)
	z.hxN = z.hIntegral(float64(n) + 0.5)
	return z, nil
}

func (z *ZipfMandelbrot) h(x float64) float64 { return math.Exp(-z.S * math.Log(x+z.Q)) }

// hIntegral is a primitive of h: ((x+Q)^(1-S) - 1)/(1-S), log(x+Q) at S = 1,
// written so that it is accurate for S near 1.
func (z *ZipfMandelbrot) hIntegral(x float64) float64 {
	t := math.Log(x + z.Q)
	return expm1over(((1 - z.S) * t)) * t
}

// hIntegralInverse inverts hIntegral.
func (z *ZipfMandelbrot) hIntegralInverse(u float64) float64 {
	y := (1 - z.S) * u
	if y <= -1 { // only rounding can get here: the far end of the support
		return float64(z.N) + 0.5
	}
	return math.Exp(log1pover(y)*u) - z.Q
}

// expm1over is expm1(y)/y, 1 at y = 0.
func expm1over(y float64) float64 {
	if math.Abs(y) < 1e-8 {
		return 1 + y/2
	}
	return math.Expm1(y) / y
}

// log1pover is log1p(y)/y, 1 at y = 0.
func log1pover(y float64) float64 {
	if math.Abs(y) < 1e-8 {
		return 1 - y/2
	}
	return math.Log1p(y) / y
}

// Sample draws a rank in 1..N by rejection-inversion (Hörmann and
// Derflinger 1996): a uniform u over the area under the hat h on
// [0.5, N+0.5] (the first rank's cell cut to exactly h(1)) is inverted to x;
// the rank k nearest x is kept when u falls in the part of k's cell whose
// area is h(k). h is convex, so each cell holds at least h(k) and the
// accepted ranks follow h exactly. Fewer than 1.2 tries on average.
func (z *ZipfMandelbrot) Sample(rng *rand.Rand) uint64 {
	for {
		u := z.hxN + rng.Float64()*(z.hx1-z.hxN)
		x := z.hIntegralInverse(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > float64(z.N) {
			k = float64(z.N)
		}
		if k == 1 || u >= z.hIntegral(k+0.5)-z.h(k) {
			return uint64(k)
		}
	}
}

// zmHead is how many leading ranks the expectations below sum exactly; the
// rest are integrated (the summands are smooth there).
const zmHead = 400

// norm returns the normalising sum Σ_k h(k).
func (z *ZipfMandelbrot) norm() float64 {
	head := min(z.N, zmHead)
	var s float64
	for k := uint64(1); k <= head; k++ {
		s += z.h(float64(k))
	}
	if z.N > head {
		s += z.hIntegral(float64(z.N)+0.5) - z.hIntegral(float64(head)+0.5)
	}
	return s
}

// Prob returns P(k).
func (z *ZipfMandelbrot) Prob(k uint64) float64 { return z.h(float64(k)) / z.norm() }

// Expect returns, for n independent draws, the expected number of distinct
// ranks, of ranks drawn exactly once, and the probability mass of the ten
// most likely ranks (the head share). The count of draws of rank k is taken
// as Poisson(n·P(k)), which is exact to O(P(k)) per rank.
func (z *ZipfMandelbrot) Expect(n float64) (distinct, singletons, top10 float64) {
	c := n / z.norm()
	head := min(z.N, zmHead)
	for k := uint64(1); k <= head; k++ {
		m := c * z.h(float64(k))
		distinct -= math.Expm1(-m)
		singletons += m * math.Exp(-m)
		if k <= 10 {
			top10 += m / n
		}
	}
	if z.N > head {
		// Σ_{k=head+1}^{N} f(k) ≈ ∫_{head+.5}^{N+.5} f, over t = log(x+Q)
		// by Simpson's rule (the integrand is smooth in t).
		a, b := math.Log(float64(head)+0.5+z.Q), math.Log(float64(z.N)+0.5+z.Q)
		const steps = 256
		dt := (b - a) / steps
		for i := 0; i <= steps; i++ {
			t := a + float64(i)*dt
			w := 2.0
			switch {
			case i == 0 || i == steps:
				w = 1
			case i%2 == 1:
				w = 4
			}
			m := c * math.Exp(-z.S*t)
			jac := math.Exp(t) * dt / 3 * w
			distinct -= math.Expm1(-m) * jac
			singletons += m * math.Exp(-m) * jac
		}
	}
	return distinct, singletons, top10
}
