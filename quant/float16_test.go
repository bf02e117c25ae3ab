package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// halfValues returns every finite non-negative binary16 value, ascending
// (bits 0x0000..0x7bff are ordered by value).
func halfValues() []float64 {
	v := make([]float64, 0x7c00)
	for h := range v {
		e, m := h>>10, float64(h&0x3ff)
		if e == 0 {
			v[h] = m * 0x1p-24
		} else {
			v[h] = (1 + m/1024) * math.Ldexp(1, e-15)
		}
	}
	return v
}

// nearestHalf is the specification of ToFloat16 for finite f: the nearest
// binary16 value, ties to the even code, Inf at 65520 and beyond.
func nearestHalf(vals []float64, f float32) uint16 {
	a := math.Abs(float64(f))
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	if a >= 65520 {
		return sign | 0x7c00
	}
	i, _ := slices.BinarySearch(vals, a) // vals[i-1] < a <= vals[i]
	if i == len(vals) {
		return sign | 0x7bff
	}
	if vals[i] == a || i == 0 {
		return sign | uint16(i)
	}
	lo, hi := a-vals[i-1], vals[i]-a
	if lo < hi || lo == hi && (i-1)%2 == 0 {
		return sign | uint16(i-1)
	}
	return sign | uint16(i)
}

func TestFloat16AllValues(t *testing.T) {
	for h := range 1 << 16 {
		f := FromFloat16(uint16(h))
		back := ToFloat16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %#04x -> %v -> %#04x", h, f, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestToFloat16Rounding(t *testing.T) {
	vals := halfValues()
	check := func(f float32) {
		if got, want := ToFloat16(f), nearestHalf(vals, f); got != want {
			t.Fatalf("ToFloat16(%v = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	// Every midpoint between neighbours and its float32 neighbours.
	for i := 1; i < len(vals); i++ {
		mid := float32((vals[i-1] + vals[i]) / 2)
		for _, f := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9)} {
			check(f)
			check(-f)
		}
	}
	for _, f := range []float32{0, 65504, 65519.99, 65520, 1e10, 0x1p-25, 0x1p-26, 0x1.8p-25, 0x1p-24} {
		check(f)
		check(-f)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		f := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		check(f)
	}
	for range 1 << 20 { // values in binary16's range
		check(float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-25))))
	}
}

func TestFloat16Specials(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000},
	} {
		if got := ToFloat16(c.f); got != c.h {
			t.Errorf("ToFloat16(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := ToFloat16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("ToFloat16(NaN) = %#04x", h)
	}
}

func TestFloat16Directed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1 << 16 {
		f := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(36)-26)))
		if abs32(f) > MaxFloat16 {
			continue
		}
		d, u := FromFloat16(float16Down(f)), FromFloat16(float16Up(f))
		if !(d <= f && f <= u) {
			t.Fatalf("%v: down %v up %v", f, d, u)
		}
		lo, hi := float16Adjacent(f)
		if d == u {
			if lo != hi {
				t.Fatalf("%v representable but adjacent %#04x %#04x", f, lo, hi)
			}
			continue
		}
		// Neighbours: no binary16 value strictly between.
		if next := ToFloat16(d); next&0x7fff+1 != ToFloat16(u)&0x7fff && next&0x7fff != ToFloat16(u)&0x7fff+1 {
			t.Fatalf("%v: %v and %v are not neighbours", f, d, u)
		}
	}
}
