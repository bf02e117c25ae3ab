package quant_test

import (
	"testing"

	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/quant/quanttest"
)

// Error bounds of the built-in codecs with round to nearest (see their docs).
var (
	fp16Bound = quanttest.Relative(0x1p-11, 0x1p-25)
	int8Bound = quanttest.RowRange(255, 0x1p-20, 1e-36)
	int4Bound = quanttest.RowRange(15, 0x1p-9, 0x1p-24)
)

func TestFP32(t *testing.T) { quanttest.TestCodec(t, quant.FP32, quanttest.Exact) }
func TestFP16(t *testing.T) { quanttest.TestCodec(t, quant.FP16, fp16Bound) }
func TestInt8(t *testing.T) { quanttest.TestCodec(t, quant.Int8, int8Bound) }
func TestInt4(t *testing.T) { quanttest.TestCodec(t, quant.Int4, int4Bound) }

func FuzzFP32(f *testing.F) { quanttest.Fuzz(f, quant.FP32, quanttest.Exact) }
func FuzzFP16(f *testing.F) { quanttest.Fuzz(f, quant.FP16, fp16Bound) }
func FuzzInt8(f *testing.F) { quanttest.Fuzz(f, quant.Int8, int8Bound) }
func FuzzInt4(f *testing.F) { quanttest.Fuzz(f, quant.Int4, int4Bound) }
