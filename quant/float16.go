package quant

import "math"

// MaxFloat16 is the largest finite IEEE 754 binary16 value.
const MaxFloat16 = 65504

// ToFloat16 converts f to the nearest IEEE 754 binary16 value (round to
// nearest, ties to even) and returns its bits. Values whose magnitude rounds
// above [MaxFloat16] (|f| >= 65520) become ±Inf, values below half the
// smallest subnormal (2⁻²⁵) become ±0, and NaNs stay NaNs (quiet, with the
// top 10 bits of the payload).
func ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal result (or zero): the value is m·2⁻²⁴ with
		// m = (man|1<<23) >> (14-e), rounded.
		if e < -10 {
			return sign // below 2⁻²⁵: rounds to zero
		}
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++ // may carry into the exponent: 0x400 is the smallest normal
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry into the exponent is correct, up to Inf
	}
	return sign | uint16(h)
}

// FromFloat16 returns the float32 value of the IEEE 754 binary16 bits h.
// Every binary16 value is exactly representable; NaNs keep their payload.
func FromFloat16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		// Zero or subnormal: man·2⁻²⁴, exact in float32.
		f := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(f) | sign)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// float16Adjacent returns the binary16 values on either side of f: lo and hi
// with |lo| <= |f| <= |hi|, both with f's sign, equal when f is
// representable. For |f| > MaxFloat16, hi is Inf. f must not be NaN.
func float16Adjacent(f float32) (lo, hi uint16) {
	h := ToFloat16(f)
	v := FromFloat16(h)
	switch {
	case v == f:
		return h, h
	case abs32(v) > abs32(f): // rounded away from zero
		return h&0x8000 | (h&0x7fff - 1), h
	default:
		return h, h&0x8000 | (h&0x7fff + 1)
	}
}

// float16Down returns the largest binary16 value <= f (f finite, with
// |f| <= MaxFloat16).
func float16Down(f float32) uint16 {
	lo, hi := float16Adjacent(f)
	if f < 0 {
		return hi
	}
	return lo
}

// float16Up returns the smallest binary16 value >= f (f finite, with
// |f| <= MaxFloat16).
func float16Up(f float32) uint16 {
	lo, hi := float16Adjacent(f)
	if f < 0 {
		return lo
	}
	return hi
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
