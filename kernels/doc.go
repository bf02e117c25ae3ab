// Package kernels holds the hot loops of serving quantized embedding
// tables: [GatherDequant], a fused gather-dequantize-pool over rows stored
// with quant's codecs, the operation of PyTorch's EmbeddingBag and FBGEMM's
// embedding_bag_byte/4bit_rowwise_offsets.
//
// Given a [Table] (raw row bytes, row stride, dim, codec), [Bags] of row
// indices in CSR form (int32 or int64, with optional per-index weights) and
// a [Pooling] mode, it writes float32 outputs, one row of Dim values per bag
// (Sum, Mean) or per index (None), without materialising the decoded rows.
//
// # Implementations
//
// gather_dequant.go holds the portable Go code, which is also the
// specification: the reference row kernels (accFP32, accFP16, accInt8,
// accInt4) define every result bit for bit. On amd64 there are assembly
// kernels for AVX2 (with FMA and F16C) and AVX-512 (AVX512F and VL),
// generated with avo by _asm/gen.go (run go generate; the generated files
// are gen_gather_dequant_amd64.{s,go}) and chosen once at init from the CPU
// features golang.org/x/sys/cpu reports. They do the columns of a row in
// blocks of 8 (AVX2) or 16 and 8 (AVX-512), fusing the row scale into the
// weight, and prefetch the cache lines of the rows ten indices ahead,
// across bag boundaries; the Go code does the last Dim mod 8 columns. The
// build tags noasm or purego, or another GOARCH, leave only the Go code.
//
// [Impls] lists the implementations this build has on this CPU, [Impl]
// names the one in use, and [DisableAVX512] and [DisableAVX2] force the
// fallbacks, so that tests and fuzzers compare every implementation with
// the reference on the same machine.
//
// # Units
//
// Table sizes are in bytes (Stride, len(Data)) and rows; Dim counts values;
// outputs are float32. Indices are row numbers: mapping ids to rows is the
// embedding table's job.
//
// # Concurrency
//
// GatherDequant only reads the table and the bags, so any number of calls
// may run at once on the same table. Each call splits its bags into
// contiguous ranges holding about equal numbers of indices, one goroutine
// per range (its threads argument, at least 2048 indices each); each output
// row is computed by one goroutine in index order, so results do not depend
// on the number of threads. The Disable hooks are for tests: they switch the
// implementation for every caller.
//
// # Non-goals
//
// No backward pass (gradients of pooled lookups go to the fp32 training
// tables in package embedding), no custom codecs (a codec without a kernel
// is an error: decode it with quant.Table.GatherRows), no output types other
// than float32, and no caching or deduplication of repeated indices.
package kernels
