// Package gemm is the dense linear algebra of embtab's native CPU training
// path: a cache-blocked single-precision matrix product with fused
// epilogues ([Context.Sgemm]), and DLRM's pairwise-dot feature interaction
// with its gradient ([Context.PairDots], [Context.PairDotsGrad]).
//
// # Sgemm
//
// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32
// matrices, op(X) being X or its transpose ([NoTrans], [Trans]): an M×K by
// K×N product into M×N. A stored matrix X with R rows has leading dimension
// ldx ≥ its column count and holds X[i][j] at x[i·ldx+j], so a submatrix
// (a column range of a wider buffer) is passed by slicing and keeping the
// wider ldx. All dimensions are in elements. The three forms a dense layer
// needs are the fast ones:
//
//	forward   Y  = X·W + b      NN  (then ReLU)
//	backward  dX = dY·Wᵀ        NT  (masked by the ReLU of the layer below)
//	          dW = Xᵀ·dY        TN
//
// An optional [Epilogue] is applied to each finished tile of C while it is
// still in registers, in this order: add a bias row (Bias[j]), ReLU,
// zero where a mask matrix is not positive (the ReLU gradient: pass the
// layer's forward output), and sum the columns (ColSum[j] = Σ_i C[i][j],
// the bias gradient). beta = 0 means C is not read (it may hold NaNs).
//
// The loops follow the BLIS/GotoBLAS scheme: the columns are cut into
// blocks of NC (jc), the inner dimension into blocks of KC (pc), the rows
// into blocks of MC (ic), and each block into MR×NR register tiles computed
// by a micro-kernel (jr, ir). Operand panels whose memory layout already
// matches the micro-kernel's access pattern are read in place (a row-major
// A, a transposed A, a row-major B: with these layouts packing would be a
// plain copy); the others are packed per block into per-thread buffers: a
// transposed B (the weights of an NT product) into NR-wide panels, and the
// last, partial MR rows of an A block into a zero-padded panel (as are B
// panels narrower than NR for the AVX2 kernel). Packing the in-place
// operands too (B of NN and TN, A of TN) measured no faster on the
// dlrm-small shapes.
//
// # Implementations
//
// kernel_generic.go holds the portable Go micro-kernel (4×16), which is
// also the specification of the tile semantics. On amd64 there are
// assembly micro-kernels for AVX-512 (14×32: 28 zmm accumulators, FMA with
// broadcast A) and AVX2 (6×16), each in two variants (A read p-major or
// row-major), with the whole epilogue in registers; and AVX-512 kernels
// for the pairwise dots of 16-float vectors. They are generated with avo
// by _asm (go generate writes gen_gemm_amd64.{s,go}) and chosen once at
// init from the CPU features golang.org/x/sys/cpu reports. The build tags
// noasm or purego, or another GOARCH, leave only the Go code.
//
// [Impls] lists the implementations this build has on this CPU, [Impl]
// names the one in use, and [DisableAVX512] and [DisableAVX2] force the
// fallbacks, so that tests compare every implementation with a float64
// reference on the same machine.
//
// # Threading
//
// A [Context] owns Threads-1 worker goroutines plus the caller's, and one
// workspace (packing buffers, partial sums) per thread, reused across
// calls, so that steady-state calls do not allocate. Sgemm splits the
// larger of M and N into equal runs of whole register tiles, one per
// thread (each thread then blocks its part of C as above, so the operand
// that is not split is read by every thread); small products use fewer
// threads (at least about 2^18 multiply-adds each). With the M split the
// column sums are accumulated per thread and added in thread order, so
// results depend on the thread count but not on scheduling. The pairwise
// dots split the batch rows. A Context is not safe for concurrent use:
// give each goroutine its own, or serialise.
//
// # Non-goals
//
// No float64 or complex types, no column-major API (pass the transposed
// problem), no aliasing between C and the operands, no strided vectors.
package gemm
