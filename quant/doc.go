// Package quant stores embedding rows in fewer bits: row-wise codecs
// ([Codec]), a quantized table of n rows of one codec ([Table]) built by
// post-training quantization of an fp32 row matrix ([Quantize]), and the
// error statistics of that quantization ([Stats]).
//
// # Codecs
//
// A codec encodes one row of dim float32 values to RowBytes(dim) bytes and
// back. Every row carries what it needs to be decoded on its own (its scale
// and bias), so rows can be read, written and gathered independently. The
// built-in codecs, registered by name for manifests ([Lookup], [Codecs]):
//
//	name  RowBytes(dim)    layout (little-endian)                       decode
//	fp32  4·dim            dim binary32                                 x
//	fp16  2·dim            dim binary16                                 x
//	int8  dim+8            dim uint8 q, binary32 scale, binary32 bias   q·scale + bias
//	int4  ceil(dim/2)+4    packed 4-bit q (value 2k in the low nibble   q·scale + bias
//	                       of byte k), binary16 scale, binary16 bias
//
// int8 and int4 are FBGEMM's "8-bit rowwise" and "4-bit rowwise" formats
// (scale and bias after the codes). Decoding evaluates q·scale + bias in
// float32 as a product rounded to float32 and then a sum, never as a fused
// multiply-add, so it gives the same bits on every platform. The codec
// types ([Int8Codec], ...) document the encoders' choice of scale and bias
// and their error bounds. Other packages may add codecs with [Register];
// package kernels has fused kernels for the four built-in ones only.
//
// Encoding rounds to nearest. Codecs that implement [StochasticEncoder] (all
// built-in ones) also round stochastically with a caller-seeded
// [math/rand/v2.Source], for tables trained in low precision: the expected
// decoded value is then the input value.
//
// # Tables
//
// A [Table] keeps its rows contiguous at a fixed stride (RowBytes rounded up
// to [Options.Align], so 64 aligns rows to cache lines for mmap). [NewTable]
// wraps existing bytes, such as an mmap'ed file, without copying. Row
// indices are int: mapping ids to rows is the embedding table's job, and
// [Table.GatherRows] is the lookup such a table calls.
//
// # Units
//
// Sizes are in bytes (RowBytes, Stride, Bytes) and rows; dims count values.
// Errors in [Stats] are in the units of the values.
//
// # Concurrency
//
// Codecs are stateless and safe for concurrent use. A Table can be read
// from many goroutines at once; SetRow on one row must not overlap other
// access to that row. [QuantizeWith] uses [Options.Threads] goroutines and
// gives results that do not depend on their number. Decoding and encoding a
// row do not allocate.
//
// # Non-goals
//
// No codebooks, product quantization or mixed-precision rows: every row of
// a table has one codec. No file format: the artifact writer puts
// [Table.Data] in its files and records codec, dim, rows and stride in its
// manifest. Fused gather-dequantize-pool loops live in package kernels.
//
// The conformance suite in quant/quanttest checks any codec.
package quant
