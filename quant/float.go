package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// FP32Codec stores rows unchanged: dim little-endian IEEE 754 binary32
// values, 4·dim bytes. It is the identity against which the other codecs
// are measured, and encodes every float32 (NaN and Inf included) exactly.
type FP32Codec struct{}

// FP16Codec stores rows as dim little-endian IEEE 754 binary16 values,
// 2·dim bytes, with no scale or bias (binary16 has its own exponent).
// Encoding rounds to nearest, ties to even; a finite value that would round
// to Inf (|x| >= 65520) is an [ErrRange] error, while NaN and ±Inf are
// stored as they are. Relative error is at most 2⁻¹¹ for |x| >= 2⁻¹⁴;
// smaller values have an absolute error of at most 2⁻²⁵.
type FP16Codec struct{}

// The built-in float codecs, registered as "fp32" and "fp16".
var (
	FP32 FP32Codec
	FP16 FP16Codec
)

// Name returns "fp32".
func (FP32Codec) Name() string { return "fp32" }

// RowBytes returns 4·dim.
func (FP32Codec) RowBytes(dim int) int { return 4 * dim }

// EncodeRow stores src exactly.
func (c FP32Codec) EncodeRow(dst []byte, src []float32) error {
	if err := checkRow(c, "encode", len(dst), len(src)); err != nil {
		return err
	}
	for j, x := range src {
		binary.LittleEndian.PutUint32(dst[4*j:], math.Float32bits(x))
	}
	return nil
}

// EncodeRowStochastic is EncodeRow (fp32 is exact); it still draws one
// value of rng per element, as [StochasticEncoder] specifies.
func (c FP32Codec) EncodeRowStochastic(rng rand.Source, dst []byte, src []float32) error {
	if err := c.EncodeRow(dst, src); err != nil {
		return err
	}
	for range src {
		rng.Uint64()
	}
	return nil
}

// DecodeRow loads the row in src.
func (c FP32Codec) DecodeRow(dst []float32, src []byte) error {
	if err := checkRow(c, "decode", len(src), len(dst)); err != nil {
		return err
	}
	for j := range dst {
		dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
	}
	return nil
}

// Name returns "fp16".
func (FP16Codec) Name() string { return "fp16" }

// RowBytes returns 2·dim.
func (FP16Codec) RowBytes(dim int) int { return 2 * dim }

// EncodeRow rounds src to binary16, to nearest.
func (c FP16Codec) EncodeRow(dst []byte, src []float32) error {
	if err := checkRow(c, "encode", len(dst), len(src)); err != nil {
		return err
	}
	for j, x := range src {
		h := ToFloat16(x)
		if h&0x7fff == 0x7c00 && !math.IsInf(float64(x), 0) {
			return fmt.Errorf("quant: fp16 encode: element %d = %g overflows binary16: %w", j, x, ErrRange)
		}
		binary.LittleEndian.PutUint16(dst[2*j:], h)
	}
	return nil
}

// EncodeRowStochastic rounds each value of src to one of the two binary16
// values around it, with probabilities that make the result unbiased. Values
// with 65504 < |x| < 65520 become ±65504; larger finite values are an
// [ErrRange] error, as in EncodeRow.
func (c FP16Codec) EncodeRowStochastic(rng rand.Source, dst []byte, src []float32) error {
	if err := checkRow(c, "encode", len(dst), len(src)); err != nil {
		return err
	}
	for j, x := range src {
		u := uniform(rng)
		var h uint16
		switch ax := abs32(x); {
		case ax != ax || ax > math.MaxFloat32: // NaN or Inf
			h = ToFloat16(x)
		case ax >= 65520:
			return fmt.Errorf("quant: fp16 encode: element %d = %g overflows binary16: %w", j, x, ErrRange)
		case ax > MaxFloat16:
			h = ToFloat16(x) &^ 0x7fff
			h |= 0x7bff
		default:
			lo, hi := float16Adjacent(x)
			h = lo
			if lo != hi {
				a, b := math.Abs(float64(FromFloat16(lo))), math.Abs(float64(FromFloat16(hi)))
				if u*(b-a) < float64(ax)-a {
					h = hi
				}
			}
		}
		binary.LittleEndian.PutUint16(dst[2*j:], h)
	}
	return nil
}

// DecodeRow widens the binary16 values in src exactly.
func (c FP16Codec) DecodeRow(dst []float32, src []byte) error {
	if err := checkRow(c, "decode", len(src), len(dst)); err != nil {
		return err
	}
	for j := range dst {
		dst[j] = FromFloat16(binary.LittleEndian.Uint16(src[2*j:]))
	}
	return nil
}
