package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Int8Codec is FBGEMM's "8-bit rowwise" format: each value is an unsigned
// 8-bit code q, and the row ends with its float32 scale and bias, so that
// x ≈ q·scale + bias.
//
//	bytes [0, dim)        q[j], uint8
//	bytes [dim, dim+4)    scale, float32 little-endian
//	bytes [dim+4, dim+8)  bias, float32 little-endian
//
// RowBytes is dim+8. Encoding sets bias = min(row) and
// scale = (max(row)-min(row))/255 rounded to float32 (0 for a constant row),
// so the codes span the row's range and the error is at most scale/2 plus
// float32 rounding. Values must be finite with |x| <= 2¹²⁰, else the error
// wraps [ErrRange].
type Int8Codec struct{}

// Int4Codec is FBGEMM's "4-bit rowwise" format: codes of 4 bits packed two
// per byte, value 2k in the low nibble of byte k and value 2k+1 in its high
// nibble (the last high nibble of an odd dim is zero), then the row's
// binary16 scale and bias, so that x ≈ q·scale + bias.
//
//	bytes [0, h)          packed q, h = ceil(dim/2)
//	bytes [h, h+2)        scale, binary16 little-endian
//	bytes [h+2, h+4)      bias, binary16 little-endian
//
// RowBytes is ceil(dim/2)+4. Encoding rounds min(row) down to binary16 for
// the bias and (max(row)-bias)/15 up for the scale, so that no code clips
// and the error is at most scale/2 plus rounding. Values must be finite with
// |x| <= [MaxFloat16], else the error wraps [ErrRange].
type Int4Codec struct{}

// The built-in integer codecs, registered as "int8" and "int4".
var (
	Int8 Int8Codec
	Int4 Int4Codec
)

// maxInt8Abs bounds the values int8 encodes, so that q·scale + bias cannot
// overflow float32.
const maxInt8Abs = 0x1p120

// Name returns "int8".
func (Int8Codec) Name() string { return "int8" }

// RowBytes returns dim+8.
func (Int8Codec) RowBytes(dim int) int { return dim + 8 }

// EncodeRow quantizes src with round to nearest (ties to even).
func (c Int8Codec) EncodeRow(dst []byte, src []float32) error {
	return c.encode(nil, dst, src)
}

// EncodeRowStochastic quantizes src with stochastic rounding: with
// v = (x-bias)/scale, the code is floor(v+u) for a uniform u in [0, 1).
func (c Int8Codec) EncodeRowStochastic(rng rand.Source, dst []byte, src []float32) error {
	return c.encode(rng, dst, src)
}

func (c Int8Codec) encode(rng rand.Source, dst []byte, src []float32) error {
	if err := checkRow(c, "encode", len(dst), len(src)); err != nil {
		return err
	}
	lo, hi, err := rowRange(c, src, maxInt8Abs)
	if err != nil {
		return err
	}
	scale := float32((float64(hi) - float64(lo)) / 255)
	quantize(rng, dst, src, 255, float64(scale), float64(lo), 8)
	d := len(src)
	binary.LittleEndian.PutUint32(dst[d:], math.Float32bits(scale))
	binary.LittleEndian.PutUint32(dst[d+4:], math.Float32bits(lo))
	return nil
}

// DecodeRow computes q·scale + bias for each code, in float32.
func (c Int8Codec) DecodeRow(dst []float32, src []byte) error {
	if err := checkRow(c, "decode", len(src), len(dst)); err != nil {
		return err
	}
	d := len(dst)
	scale := math.Float32frombits(binary.LittleEndian.Uint32(src[d:]))
	bias := math.Float32frombits(binary.LittleEndian.Uint32(src[d+4:]))
	for j, q := range src[:d] {
		dst[j] = float32(float32(q)*scale) + bias
	}
	return nil
}

// Name returns "int4".
func (Int4Codec) Name() string { return "int4" }

// RowBytes returns ceil(dim/2)+4.
func (Int4Codec) RowBytes(dim int) int { return (dim+1)/2 + 4 }

// EncodeRow quantizes src with round to nearest (ties to even).
func (c Int4Codec) EncodeRow(dst []byte, src []float32) error {
	return c.encode(nil, dst, src)
}

// EncodeRowStochastic quantizes src with stochastic rounding, as
// [Int8Codec.EncodeRowStochastic] does.
func (c Int4Codec) EncodeRowStochastic(rng rand.Source, dst []byte, src []float32) error {
	return c.encode(rng, dst, src)
}

func (c Int4Codec) encode(rng rand.Source, dst []byte, src []float32) error {
	if err := checkRow(c, "encode", len(dst), len(src)); err != nil {
		return err
	}
	lo, hi, err := rowRange(c, src, MaxFloat16)
	if err != nil {
		return err
	}
	biasH := float16Down(lo)
	bias := FromFloat16(biasH)
	s := (float64(hi) - float64(bias)) / 15
	s32 := float32(s)
	if float64(s32) < s {
		s32 = math.Nextafter32(s32, math.MaxFloat32)
	}
	scaleH := float16Up(s32)
	scale := FromFloat16(scaleH)
	quantize(rng, dst, src, 15, float64(scale), float64(bias), 4)
	h := (len(src) + 1) / 2
	binary.LittleEndian.PutUint16(dst[h:], scaleH)
	binary.LittleEndian.PutUint16(dst[h+2:], biasH)
	return nil
}

// DecodeRow computes q·scale + bias for each code, in float32.
func (c Int4Codec) DecodeRow(dst []float32, src []byte) error {
	if err := checkRow(c, "decode", len(src), len(dst)); err != nil {
		return err
	}
	h := (len(dst) + 1) / 2
	scale := FromFloat16(binary.LittleEndian.Uint16(src[h:]))
	bias := FromFloat16(binary.LittleEndian.Uint16(src[h+2:]))
	for j := range dst {
		q := src[j>>1] >> (4 * (j & 1)) & 0xf
		dst[j] = float32(float32(q)*scale) + bias
	}
	return nil
}

// rowRange returns the least and greatest values of src, or an error
// wrapping ErrRange if a value is NaN, infinite or beyond ±limit.
func rowRange(c Codec, src []float32, limit float32) (lo, hi float32, err error) {
	lo, hi = src[0], src[0]
	for j, x := range src {
		if !(abs32(x) <= limit) {
			return 0, 0, fmt.Errorf("quant: %s encode: element %d = %g outside ±%g: %w", c.Name(), j, x, limit, ErrRange)
		}
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return lo, hi, nil
}

// quantize writes the codes of src, q = round((x-bias)/scale) clamped to
// [0, levels], to dst: one per byte for bits 8, two per byte (low nibble
// first) for bits 4. rng nil rounds to nearest, else stochastically. A zero
// scale (a constant row) gives code 0 everywhere.
func quantize(rng rand.Source, dst []byte, src []float32, levels, scale, bias float64, bits int) {
	inv := 0.0
	if scale > 0 {
		inv = 1 / scale
	}
	if bits == 4 {
		clear(dst[:(len(src)+1)/2])
	}
	for j, x := range src {
		v := (float64(x) - bias) * inv
		var q float64
		if rng == nil {
			q = math.RoundToEven(v)
		} else {
			q = math.Floor(v + uniform(rng))
		}
		code := byte(min(max(q, 0), levels))
		if bits == 8 {
			dst[j] = code
		} else {
			dst[j>>1] |= code << (4 * (j & 1))
		}
	}
}
